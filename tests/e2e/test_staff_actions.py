"""The staff side through HTTP on both backend pairs: claim, relabel, reply, wait, resolve,
reassign, and an officer's own status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from ingest.bus.topics import OUTBOUND
from ingest.keys import BUS
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import LabelCorrection
from tests.support.bus import poll_until

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]
Wait = Callable[..., Awaitable[Any]]


class Desk:
    """The running service plus the officers' tokens."""

    def __init__(self, client: Client, tokens: dict[str, str], database_url: str) -> None:
        self.client = client
        self.tokens = tokens
        self.database_url = database_url

    async def call(self, method: str, path: str, who: str | None, body: Any = None,
                   key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        resp = await self.client.request(method, path, json=body, headers=headers)
        return resp.status, await resp.json()

    async def post_form(self, i: int, message: str) -> None:
        resp = await self.client.post("/webhooks/webform", json={
            "name": f"Khách {i}", "email": f"kh{i}@congty.vn", "message": message,
            "submission_id": f"desk-{i}"})
        assert resp.status == 202

    async def queue(self, who: str) -> list[dict[str, Any]]:
        status, body = await self.call("GET", "/api/v1/queue", who)
        assert status == 200
        tickets: list[dict[str, Any]] = body["tickets"]
        return tickets


@pytest.fixture
async def desk(backend: Any, aiohttp_client: AiohttpClient) -> AsyncIterator[Desk]:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    tokens: dict[str, str] = {}
    async with session_factory(engine)() as session, session.begin():
        for name, queues, role in (("an", ["cskh"], "agent"), ("binh", ["cskh"], "agent"),
                                   ("lan", ["cskh"], "lead"), ("ke", ["accounting"], "agent")):
            tokens[name] = (await add_staff(session, name, queues, role=role)).token
    await engine.dispose()
    client = await aiohttp_client(create_app(backend.settings()))
    yield Desk(client, tokens, backend.database_url)


async def assigned_ticket(desk: Desk, wait_for: Wait) -> tuple[str, dict[str, Any]]:
    async def find() -> tuple[str, dict[str, Any]] | None:
        for who in ("an", "binh"):
            tickets = await desk.queue(who)
            if tickets:
                return who, tickets[0]
        return None

    found = await wait_for(find)
    assert isinstance(found, tuple)
    return found


async def test_reply_reassign_relabel_wait_resolve(desk: Desk, wait_for: Wait) -> None:
    await desk.post_form(1, "Sản phẩm bị lỗi, hỏng ngay khi mở hộp")
    owner, ticket = await assigned_ticket(desk, wait_for)
    other = "binh" if owner == "an" else "an"
    path = f"/api/v1/tickets/{ticket['number']}"

    # Someone else's ticket is invisible to another agent; no token is 401.
    assert (await desk.call("POST", f"{path}/reply", other, {"text": "x"}))[0] == 404
    assert (await desk.call("POST", f"{path}/reply", None, {"text": "x"}))[0] == 401
    assert (await desk.call("POST", f"{path}/reply", owner, {"text": 5}))[0] == 400
    assert (await desk.call("POST", f"{path}/reply", owner, {"text": " "}))[0] == 400

    status, body = await desk.call("POST", f"{path}/reply", owner,
                                   {"text": "Chào anh/chị, bên em đã ghi nhận và sẽ đổi hàng ạ."})
    assert status == 200
    assert body["status"] == "open"
    assert body["messages"][-1]["direction"] == "outbound"
    assert body["messages"][-1]["text"].startswith("Chào anh/chị")

    # Only a lead reassigns.
    assert (await desk.call("POST", f"{path}/reassign", owner, {"staff": other}))[0] == 403
    status, body = await desk.call("POST", f"{path}/reassign", "lan", {"staff": other})
    assert status == 200 and body["assignee"]["name"] == other
    assert (await desk.call("POST", f"{path}/reassign", "lan", {"staff": "ke"}))[0] == 409

    status, body = await desk.call("PATCH", path, other, {"priority": "bogus"})
    assert status == 400
    status, body = await desk.call("PATCH", path, other, {"category": "warranty",
                                                          "priority": "high"})
    assert status == 200
    assert (body["category"], body["priority"], body["queue"]) == ("warranty", "high",
                                                                   "technical")

    status, body = await desk.call("POST", f"{path}/waiting", other)
    assert status == 200 and body["status"] == "waiting"
    status, body = await desk.call("POST", f"{path}/resolve", other)
    assert status == 200 and body["status"] == "resolved"
    assert (await desk.call("POST", f"{path}/reply", other, {"text": "x"}))[0] == 409
    assert await desk.queue(other) == []

    engine = create_engine(desk.database_url)
    async with session_factory(engine)() as session:
        corrections = await session.scalar(select(func.count()).select_from(LabelCorrection))
        row = await session.scalar(select(LabelCorrection))
    await engine.dispose()
    assert corrections == 1 and row is not None
    assert (row.category, row.priority) == ("warranty", "high")
    assert "lỗi" in row.text

    got = await poll_until(desk.client.app[BUS], "test-outbound", OUTBOUND)
    assert len(got) == 1 and b"ghi nh" in got[0].value


async def test_a_reply_posted_again_with_its_key_is_stored_and_sent_once(
        desk: Desk, wait_for: Wait) -> None:
    await desk.post_form(3, "Sản phẩm bị lỗi, vỏ hộp móp méo khi nhận")
    owner, ticket = await assigned_ticket(desk, wait_for)
    other = "binh" if owner == "an" else "an"
    path = f"/api/v1/tickets/{ticket['number']}/reply"
    text = "Dạ em gửi lại hóa đơn ngay ạ."
    # The first post, then the same post again (its answer lost, a second click): one reply.
    for _ in range(3):
        status, body = await desk.call("POST", path, owner, {"text": text}, key="k-1")
        assert status == 200
        assert [m["text"] for m in body["messages"] if m["direction"] == "outbound"] == [text]
    # The key with another text is refused; a bad key is refused; a new key is a new reply.
    status, body = await desk.call("POST", path, owner, {"text": "Khác"}, key="k-1")
    assert (status, body["error"]) == (422, "idempotency_key_reused")
    for bad in ("", "x" * 201, "khóa"):
        status, body = await desk.call("POST", path, owner, {"text": text}, key=bad)
        assert (status, body["error"]) == (400, "invalid_idempotency_key"), bad
    status, body = await desk.call("POST", path, owner, {"text": text}, key="k-2")
    assert status == 200
    assert [m["text"] for m in body["messages"] if m["direction"] == "outbound"] == [text, text]
    # A key is the officer's own: a lead's reply under the same key is a reply of its own.
    status, body = await desk.call("POST", path, "lan", {"text": text}, key="k-1")
    assert status == 200 and len([m for m in body["messages"]
                                  if m["direction"] == "outbound"]) == 3
    assert (await desk.call("POST", path, other, {"text": text}, key="k-1"))[0] == 404

    # three records on cskh.outbound, not a fourth (polled for one more, for 3 s)
    got = await poll_until(desk.client.app[BUS], "test-outbound", OUTBOUND, want=4, attempts=6)
    assert len(got) == 3


async def test_coming_online_takes_the_backlog(desk: Desk, wait_for: Wait) -> None:
    for who in ("an", "binh", "lan"):
        status, _ = await desk.call("PUT", "/api/v1/me/status", who, {"status": "off"})
        assert status == 200
    assert (await desk.call("PUT", "/api/v1/me/status", "an", {"status": "busy"}))[0] == 400
    await desk.post_form(2, "Cho hỏi cách cài đặt phần mềm?")

    async def queued() -> bool:
        status, body = await desk.call("GET", "/api/v1/tickets/1", "lan")
        return bool(status == 200 and body["status"] == "queued")

    await wait_for(queued)
    status, body = await desk.call("PUT", "/api/v1/me/status", "an", {"status": "online"})
    assert status == 200
    assert (body["shift"], body["on_shift"]) == (None, True)  # no shift: always on shift
    numbers = body["assigned"]
    assert len(numbers) == 1
    mine = await desk.queue("an")
    assert [t["number"] for t in mine] == numbers


async def test_claim_an_unassigned_ticket(desk: Desk, wait_for: Wait) -> None:
    for who in ("an", "binh", "lan"):
        await desk.call("PUT", "/api/v1/me/status", who, {"status": "away"})
    await desk.post_form(3, "Hàng bị lỗi")

    async def claimable() -> dict[str, Any] | None:
        status, body = await desk.call("GET", "/api/v1/tickets/1", "an")
        return body if status == 200 and body["status"] == "queued" else None

    ticket = await wait_for(claimable)
    path = f"/api/v1/tickets/{ticket['id']}/claim"
    assert (await desk.call("POST", path, "ke"))[0] == 404  # not ke's queue
    status, body = await desk.call("POST", path, "an")
    assert status == 200 and body["assignee"]["name"] == "an"
    assert (await desk.call("POST", path, "binh"))[0] == 404  # now an's
