"""A database that stops answering: the staff API and pages answer 503 with Retry-After (the
client sends again; nothing was kept), never a 500, and answer normally once it is back.

PostgreSQL is reached through a Toxiproxy of the test's own; disabling the proxy closes every
connection and refuses new ones, as a restart or a network cut does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ingest.settings import Settings
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from tests.faults.toxiproxy import Toxiproxy, executable

pytestmark = [pytest.mark.postgres]
Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
async def proxied(postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[Toxiproxy, str]]:
    """A Toxiproxy in front of the test database, and the URL through it."""
    async with aiohttp.ClientSession() as http:
        proxy = Toxiproxy(executable(), tmp_path)
        await proxy.start(http)
        try:
            parts = urlsplit(postgres_url)
            port = await proxy.proxy(http, "pg", f"{parts.hostname}:{parts.port}")
            netloc = f"{parts.username}:{parts.password}@127.0.0.1:{port}"
            yield proxy, urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        finally:
            proxy.stop()


async def test_staff_calls_answer_503_while_the_database_is_cut(
        proxied: tuple[Toxiproxy, str], aiohttp_client: AiohttpClient) -> None:
    proxy, url = proxied
    engine = create_engine(url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        token = (await add_staff(session, "an", ["cskh"])).token
    await engine.dispose()
    client = await aiohttp_client(create_app(Settings(database_url=url, bus="sqlite",
                                                      log_format="console")))
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/queue", headers=auth)).status == 200

    async with aiohttp.ClientSession() as http:
        await proxy.enable(http, "pg", False)
        try:
            resp = await client.get("/api/v1/queue", headers=auth)
            assert resp.status == 503, await resp.text()
            assert resp.headers["Retry-After"] == "5"
            body = await resp.json()
            assert body["error"] == "database_unavailable" and "again" in body["reason"]
            resp = await client.post("/api/v1/tickets/1/reply", json={"text": "Dạ"},
                                     headers={**auth, "Idempotency-Key": "k1"})
            assert resp.status == 503 and resp.headers["Retry-After"] == "5"
            page = await client.get("/inbox", headers=auth, allow_redirects=False)
            assert page.status in (302, 303, 503)  # no session cookie: sign-in, or the cut
            ready = await client.get("/readyz")
            assert ready.status == 503 and "database" in (await ready.json())["problems"]
        finally:
            await proxy.enable(http, "pg", True)

    resp = await client.get("/api/v1/queue", headers=auth)
    assert resp.status == 200, await resp.text()
    # A query that is wrong is still a 500 for the operator to see, not a "try again".
    assert (await client.get("/api/v1/tickets/not-a-number", headers=auth)).status in (400, 404)
