"""Canned answers and internal notes through the staff API on both backend pairs: leads keep
their queues' answers, officers get them filled in for a ticket; a note stays inside."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from desk.api import CLOCK, SESSIONS
from ingest.bus.topics import OUTBOUND
from ingest.keys import BUS
from ingest.web.app import create_app
from router.outbox import EmitPendingReplies
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from tests.support.bus import poll_until

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]
Wait = Callable[..., Awaitable[Any]]


class Desk:
    def __init__(self, client: Client, tokens: dict[str, str], database_url: str) -> None:
        self.client, self.tokens, self.database_url = client, tokens, database_url

    async def call(self, method: str, path: str, who: str | None, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        resp = await self.client.request(method, path, json=body, headers=headers)
        return resp.status, (await resp.json() if resp.status != 204 else None)


@pytest.fixture
async def desk(backend: Any, aiohttp_client: AiohttpClient) -> AsyncIterator[Desk]:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    tokens: dict[str, str] = {}
    async with session_factory(engine)() as session, session.begin():
        for name, queues, role in (("an", ["cskh", "warehouse", "accounting"], "agent"),
                                   ("lan", ["cskh"], "lead"), ("ke", ["sales"], "lead"),
                                   ("root", ["cskh"], "admin")):
            tokens[name] = (await add_staff(session, name, queues, role=role)).token
    await engine.dispose()
    client = await aiohttp_client(create_app(backend.settings()))
    yield Desk(client, tokens, backend.database_url)


async def test_leads_keep_their_queues_answers(desk: Desk) -> None:
    answer = {"queue": "cskh", "title": "Cảm ơn", "text": "Cảm ơn {khach_hang} ạ."}
    assert (await desk.call("POST", "/api/v1/answers", "an", answer))[0] == 403
    assert (await desk.call("POST", "/api/v1/answers", "ke", answer))[0] == 403
    assert (await desk.call("POST", "/api/v1/answers", None, answer))[0] == 401
    for bad in ({**answer, "queue": "nowhere"}, {**answer, "title": " "},
                {**answer, "text": 5}, {**answer, "text": "a\x00b"}, [1]):
        status, body = await desk.call("POST", "/api/v1/answers", "lan", bad)
        assert status == 400 and body["reason"], bad
    status, created = await desk.call("POST", "/api/v1/answers", "lan", answer)
    assert status == 201 and created["created_by"] and created["title"] == "Cảm ơn"
    status, body = await desk.call("POST", "/api/v1/answers", "root",
                                   {**answer, "title": "Cảm ơn "})
    assert status == 409 and body["error"] == "duplicate_title"

    # the agent of the queue reads it; another queue's lead does not even see it
    status, body = await desk.call("GET", "/api/v1/answers?q=cam+on", "an")
    assert status == 200 and [a["id"] for a in body["answers"]] == [created["id"]]
    status, body = await desk.call("GET", "/api/v1/answers", "ke")
    assert status == 200 and body["answers"] == []
    path = f"/api/v1/answers/{created['id']}"
    assert (await desk.call("PATCH", path, "ke", {"text": "x"}))[0] == 404
    assert (await desk.call("DELETE", path, "ke"))[0] == 404
    assert (await desk.call("PATCH", path, "an", {"text": "x"}))[0] == 403
    assert (await desk.call("PATCH", path, "lan", {}))[0] == 400
    status, body = await desk.call("PATCH", path, "lan", {"text": "Dạ, {nhan_vien} xin chào."})
    assert status == 200 and body["text"] == "Dạ, {nhan_vien} xin chào."
    assert (await desk.call("DELETE", path, "an"))[0] == 403
    assert (await desk.call("DELETE", path, "lan"))[0] == 204
    assert (await desk.call("DELETE", path, "lan"))[0] == 404
    assert (await desk.call("PATCH", "/api/v1/answers/%C2%B2", "lan", {"text": "x"}))[0] == 404


async def assigned_ticket(desk: Desk, wait_for: Wait, text: str) -> dict[str, Any]:
    resp = await desk.client.post("/webhooks/webform", json={
        "name": "Chị Hoa", "email": "hoa@hoabinh.vn", "message": text,
        "submission_id": "note-1"})
    assert resp.status == 202

    async def mine() -> dict[str, Any] | None:
        status, body = await desk.call("GET", "/api/v1/queue", "an")
        return body["tickets"][0] if status == 200 and body["tickets"] else None

    ticket: dict[str, Any] = await wait_for(mine)
    return ticket


async def test_answers_are_filled_in_for_the_ticket(desk: Desk, wait_for: Wait) -> None:
    ticket = await assigned_ticket(desk, wait_for, "Sản phẩm bị lỗi, cần đổi hàng gấp")
    text = "Chào {khach_hang}, phiếu {so_phieu} do {nhan_vien} xử lý. {ma_don} {0}"
    assert (await desk.call("POST", "/api/v1/answers", "lan",
                            {"queue": ticket["queue"], "title": "Đổi hàng", "text": text}))[0] \
        == 201
    path = f"/api/v1/tickets/{ticket['number']}/answers"
    status, body = await desk.call("GET", f"{path}?q=doi", "an")
    assert status == 200 and body["ticket"] == ticket["number"]
    assert body["answers"][0]["rendered"] == (
        f"Chào Chị Hoa, phiếu {ticket['number']} do an xử lý. {{ma_don}} {{0}}")
    assert (await desk.call("GET", f"{path}?q=khong+co", "an"))[1]["answers"] == []
    # the accounting lead may not see the ticket: 404, as everywhere
    assert (await desk.call("GET", path, "ke"))[0] == 404
    assert (await desk.call("GET", f"{path}?limit=0", "an"))[0] == 400


async def test_a_note_is_never_sent_and_changes_no_clock(desk: Desk, wait_for: Wait) -> None:
    ticket = await assigned_ticket(desk, wait_for, "Giao hàng trễ 3 ngày rồi")
    path = f"/api/v1/tickets/{ticket['number']}"
    assert (await desk.call("POST", f"{path}/notes", "ke", {"text": "x"}))[0] == 404
    assert (await desk.call("POST", f"{path}/notes", "an", {"text": "  "}))[0] == 400
    status, body = await desk.call("POST", f"{path}/notes", "an",
                                   {"text": "Nội bộ: khách hay đổi ý, gọi lại sau"})
    assert status == 200
    note = body["messages"][-1]
    assert (note["direction"], note["sender"]["name"]) == ("note", "an")
    assert (body["status"], body["first_response_due"]) == (ticket["status"],
                                                            ticket["first_response_due"])

    # the outbox never picks a note up, however late
    app = desk.client.app
    later = EmitPendingReplies(app[SESSIONS], _no_publish,
                               lambda: app[CLOCK]() + timedelta(hours=1),
                               grace=timedelta(0))
    assert await later.run_once() == 0

    status, body = await desk.call("POST", f"{path}/reply", "an", {"text": "Dạ em kiểm tra ạ"})
    assert status == 200 and body["status"] == "open"
    got = await poll_until(app[BUS], "test-outbound", OUTBOUND, want=2, attempts=4)
    assert len(got) == 1 and b"kh\\u00e1ch hay" not in got[0].value
    assert "khách hay".encode() not in got[0].value


async def test_wait_resume_resolve_reopen(desk: Desk, wait_for: Wait) -> None:
    ticket = await assigned_ticket(desk, wait_for, "Hóa đơn sai mã số thuế")
    path = f"/api/v1/tickets/{ticket['number']}"
    assert (await desk.call("POST", f"{path}/resume", "an"))[0] == 409
    assert (await desk.call("POST", f"{path}/waiting", "an"))[1]["status"] == "waiting"
    status, body = await desk.call("POST", f"{path}/resume", "an")
    assert status == 200 and body["status"] in ("open", "assigned")
    assert (await desk.call("POST", f"{path}/reopen", "an"))[0] == 409
    assert (await desk.call("POST", f"{path}/resolve", "an"))[1]["status"] == "resolved"
    assert (await desk.call("POST", f"{path}/reopen", "ke"))[0] == 404
    status, body = await desk.call("POST", f"{path}/reopen", "an")
    assert status == 200 and body["status"] == "open"
    assert body["resolution_due"] > ticket["resolution_due"]


async def _no_publish(events: Any) -> None:
    raise AssertionError(f"nothing should be emitted: {events}")

