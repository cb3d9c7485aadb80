"""One JSON style in every HTTP answer: UTF-8, Vietnamese as itself, never ``\\u`` escapes."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]
AN = "Nguyễn Văn An"
ROOT = Path(__file__).parents[2]


async def _raw(resp: Any) -> str:
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    body: str = (await resp.read()).decode("utf-8")
    assert "\\u" not in body, body
    return body


async def test_staff_api_webhooks_and_health_answer_utf8(
        backend: Any, aiohttp_client: AiohttpClient) -> None:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        token = (await add_staff(session, AN, ["accounting"])).token
    await engine.dispose()
    client = await aiohttp_client(create_app(backend.settings()))
    auth = {"Authorization": f"Bearer {token}"}

    queue = await client.get("/api/v1/queue", headers=auth)
    assert queue.status == 200 and AN in await _raw(queue)
    accepted = await client.post("/webhooks/webform", json={
        "name": "Trần Thị Hoa", "email": "hoa@minhphat.vn",
        "message": "Hóa đơn VAT số 0000123 ghi sai mã số thuế, đề nghị xuất lại."})
    assert accepted.status == 202 and json.loads(await _raw(accepted))["status"] == "accepted"
    refused = await client.post("/webhooks/webform", json={"name": "Hoa"})
    assert refused.status == 400 and json.loads(await _raw(refused))["reason"]
    bad_filter = await client.get("/api/v1/queue?status=đã-xong", headers=auth)
    assert bad_filter.status == 400 and "đã-xong" in await _raw(bad_filter)
    missing = await client.get("/api/v1/tickets/999999", headers=auth)
    assert missing.status == 404 and json.loads(await _raw(missing))["error"] == "not_found"
    anonymous = await client.get("/api/v1/queue")
    assert anonymous.status == 401 and json.loads(await _raw(anonymous))["error"] == "unauthorized"
    for path in ("/healthz", "/readyz", "/api/v1/openapi.json"):
        resp = await client.get(path)
        assert resp.status == 200
        await _raw(resp)


def test_no_answer_bypasses_the_shared_json() -> None:
    """Every JSON answer goes through ``desk.json_answers`` (no second style creeps back)."""
    found = []
    for package in ("connectors", "desk", "ingest", "normalizer", "router", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "json_answers.py":
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in re.finditer(
                r"web\.json_response\(|content_type=\"application/json\"", text)]
    assert found == []
