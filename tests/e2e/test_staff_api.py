"""The staff API as a whole: its OpenAPI document matches its routes, every route refuses
callers without a valid token, and the SSE stream announces new assignments."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from desk.openapi import DOCUMENT
from ingest.settings import Settings
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]


def documented() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in DOCUMENT["paths"].items() for method in ops}


def test_the_document_describes_exactly_the_routes(tmp_path: Any) -> None:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    served = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/v1")
              and r.method != "HEAD"}
    assert served == documented()


async def _desk(backend: Any, aiohttp_client: AiohttpClient) -> tuple[Client, dict[str, str]]:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        tokens = {name: (await add_staff(session, name, [queue])).token
                  for name, queue in (("an", "cskh"), ("ke", "accounting"))}
    await engine.dispose()
    return await aiohttp_client(create_app(backend.settings())), tokens


async def test_every_route_refuses_missing_and_wrong_tokens(
        backend: Any, aiohttp_client: AiohttpClient) -> None:
    client, _ = await _desk(backend, aiohttp_client)
    assert (await client.get("/api/v1/openapi.json")).status == 200
    for method, path in sorted(documented()):
        if path.endswith("openapi.json"):
            continue
        url = (path.replace("{ticket_id}", "1").replace("{answer_id}", "1")
               .replace("{message_id}", "1"))
        for headers in ({}, {"Authorization": "Bearer cskh_not-a-token"},
                        {"Authorization": "Basic YTpi"}):
            resp = await client.request(method, url, headers=headers, json={})
            assert resp.status == 401, (method, url, headers)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_stream_announces_my_new_assignment(
        backend: Any, aiohttp_client: AiohttpClient,
        wait_for: Callable[..., Awaitable[Any]]) -> None:
    client, tokens = await _desk(backend, aiohttp_client)
    stream = await client.get("/api/v1/stream", headers={"Authorization": f"Bearer {tokens['ke']}"})
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    resp = await client.post("/webhooks/webform", json={
        "name": "Đỗ Thu", "email": "thu@abc.vn",
        "message": "Hóa đơn VAT số 0000456 ghi sai mã số thuế, xin xuất lại hóa đơn."})
    assert resp.status == 202

    async def next_event() -> dict[str, Any]:
        fields: dict[str, str] = {}
        while True:
            line = (await asyncio.wait_for(stream.content.readline(), 60)).decode().rstrip("\n")
            if not line:
                if fields.get("event") == "assignment":
                    return fields
                fields = {}
                continue
            name, _, value = line.partition(": ")
            fields[name] = value

    event = await next_event()
    data = json.loads(event["data"])
    assert data["queue"] == "accounting" and data["number"].startswith("CSKH-")
    assert event["id"].split(".")[0] != "0"  # the cursor: <assignment id>.<sla event id>
    stream.close()


@pytest.mark.parametrize("route", ["/api/v1/tickets/1", "/api/v1/tickets/CSKH-000001/resolve"])
async def test_another_agents_ticket_is_404(
        backend: Any, aiohttp_client: AiohttpClient, wait_for: Callable[..., Awaitable[Any]],
        route: str) -> None:
    client, tokens = await _desk(backend, aiohttp_client)
    resp = await client.post("/webhooks/webform", json={
        "name": "A", "email": "a@b.vn", "message": "Hóa đơn sai mã số thuế"})
    assert resp.status == 202

    async def assigned() -> bool:
        r = await client.get("/api/v1/queue", headers={"Authorization": f"Bearer {tokens['ke']}"})
        return bool((await r.json())["tickets"])

    await wait_for(assigned)
    method = "GET" if route.endswith("/1") else "POST"
    resp = await client.request(method, route, headers={"Authorization": f"Bearer {tokens['an']}"})
    assert resp.status == 404


async def test_leads_stream_sla_breaches_of_their_queue(
        backend: Any, aiohttp_client: AiohttpClient) -> None:
    import uuid
    from datetime import UTC, datetime, timedelta

    from router.deadlines import set_deadlines
    from storage.models import Ticket

    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        lead = await add_staff(session, "lan", ["warehouse"], role="lead")
        old = datetime.now(UTC) - timedelta(days=10)
        ticket = Ticket(public_id=uuid.uuid4(), channel="zalo", thread_key="late",
                        status="queued", queue="warehouse", category="delivery",
                        priority="normal", created_at=old, updated_at=old)
        set_deadlines(ticket)
        session.add(ticket)
    await engine.dispose()
    client = await aiohttp_client(create_app(backend.settings(sla_sweep_seconds=0.2)))
    # From the start: the sweeper may have recorded the breach before the stream opened.
    stream = await client.get("/api/v1/stream", headers={
        "Authorization": f"Bearer {lead.token}", "Last-Event-ID": "0.0"})
    assert stream.status == 200
    data: dict[str, Any] = {}
    for _ in range(50):
        line = (await asyncio.wait_for(stream.content.readline(), 30)).decode()
        if line.startswith("data: ") and '"breach"' in line:
            data = json.loads(line.removeprefix("data: "))
            break
    assert data["queue"] == "warehouse" and data["kind"] == "breach"
    assert data["clock"] == "first_response"
    stream.close()


BAD_EVENT_IDS = ["x.y", "1", "1.", ".1", "-1.0", "1.2.3", "².1", "١.٢", "1 .2",
                 "9223372036854775808.0", "0.9223372036854775808",
                 "99999999999999999999999.0", "1" * 5000 + ".1"]


async def test_stream_refuses_an_event_id_it_never_sent(
        backend: Any, aiohttp_client: AiohttpClient) -> None:
    """400 before the stream starts, never a 500 or a stream cut once it has begun."""
    client, tokens = await _desk(backend, aiohttp_client)
    auth = {"Authorization": f"Bearer {tokens['ke']}"}
    for value in BAD_EVENT_IDS:
        resp = await client.get("/api/v1/stream", headers={**auth, "Last-Event-ID": value})
        body = await resp.json()
        assert resp.status == 400, value
        assert body["error"] == "invalid_last_event_id" and "Last-Event-ID" in body["reason"]
    # The largest id a BIGINT holds is a cursor: the stream starts and keeps going.
    stream = await client.get("/api/v1/stream", headers={
        **auth, "Last-Event-ID": "9223372036854775807.9223372036854775807"})
    assert stream.status == 200
    assert await asyncio.wait_for(stream.content.readline(), 30) == b": connected\n"
    stream.close()


async def test_a_client_that_leaves_ends_its_stream_quietly(
        backend: Any, aiohttp_client: AiohttpClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, wait_for: Callable[..., Awaitable[Any]]) -> None:
    """The keep-alive write after the client left is no plain-text traceback, but one
    structured ``stream.client_left`` event."""
    import logging

    from structlog.testing import capture_logs

    from desk import stream as sse

    monkeypatch.setattr(sse, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(sse, "HEARTBEAT_EVERY", 0.1)  # a keep-alive every other poll
    from tests.support.served import ServedLikeProduction

    _, tokens = await _desk(backend, aiohttp_client)
    served: Any = ServedLikeProduction(create_app(backend.settings()))
    client = await aiohttp_client(served)
    caplog.set_level(logging.INFO, logger="aiohttp")
    with capture_logs() as logs:
        resp = await client.get("/api/v1/stream",
                                headers={"Authorization": f"Bearer {tokens['ke']}"})
        assert resp.status == 200
        assert await asyncio.wait_for(resp.content.readline(), 30) == b": connected\n"
        assert resp.connection is not None and resp.connection.transport is not None
        resp.connection.transport.close()  # the client goes away mid-stream
        resp.close()

        async def left() -> bool:
            return any(e["event"] == "stream.client_left" for e in logs)

        await wait_for(left)
    (event,) = [e for e in logs if e["event"] == "stream.client_left"]
    assert event["log_level"] == "info" and event["staff_id"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text and "ClientConnectionResetError" not in caplog.text
