"""``GET /api/v1/queue`` filters: each filter, paging, the diacritics-blind search, and 400 for
bad values, on both backends, with an injected clock."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Message, Ticket

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]

NOW = datetime(2026, 5, 6, 3, 0, tzinfo=UTC)  # Wednesday 10:00 in Hà Nội
H = timedelta(hours=1)

# (subject, message text, status, category, priority, channel, queue, resolution due)
SEED: list[tuple[str, str, str, str, str, str, str, datetime]] = [
    ("Giao hàng chậm", "Đơn 123 chưa giao hàng tới kho.", "assigned", "delivery", "high",
     "zalo", "warehouse", NOW - H),
    ("Hoa don sai", "Hóa đơn VAT ghi sai mã số thuế", "open", "invoice", "normal",
     "email", "warehouse", NOW + 2 * H),
    ("Hỏi giá", "Báo giá sp mới giúp em", "waiting", "price", "low",
     "facebook", "warehouse", NOW + 5 * H),
    ("Khiếu nại", "giao hang thieu 2 thung", "open", "quantity", "urgent",
     "zalo", "warehouse", NOW + 3 * H),
    ("Đã xong", "cảm ơn", "resolved", "other", "normal", "email", "warehouse", NOW - 9 * H),
]


async def _desk(backend: Any, aiohttp_client: AiohttpClient) -> tuple[Client, dict[str, str]]:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        kho = await add_staff(session, "kho", ["warehouse"])
        other = await add_staff(session, "other", ["warehouse"])
        lead = await add_staff(session, "lead", ["warehouse"], role="lead")
        for n, (subject, text, status, category, priority, channel, queue, due) in \
                enumerate(SEED):
            created = NOW - 30 * H
            ticket = Ticket(public_id=uuid.uuid4(), channel=channel, thread_key=f"t{n}",
                            status=status, category=category, priority=priority, queue=queue,
                            subject=subject, assignee_id=kho.id, created_at=created,
                            updated_at=created, first_response_due=created + H,
                            first_responded_at=created, resolution_due=due)
            session.add(ticket)
            await session.flush()
            session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(),
                                channel=channel, external_id=f"m{n}", text=text,
                                sent_at=created, received_at=created))
        session.add(Ticket(public_id=uuid.uuid4(), channel="zalo", thread_key="other",
                           status="open", category="delivery", priority="high",
                           queue="warehouse", subject="Giao hàng của người khác",
                           assignee_id=other.id, created_at=NOW, updated_at=NOW,
                           resolution_due=NOW + H))
        session.add(Ticket(public_id=uuid.uuid4(), channel="zalo", thread_key="waiting",
                           status="queued", category="delivery", priority="normal",
                           queue="warehouse", subject="Chưa ai nhận", created_at=NOW,
                           updated_at=NOW, resolution_due=NOW + 4 * H))
    await engine.dispose()
    app = create_app(backend.settings(), roles=["webhooks"], clock=lambda: NOW)
    tokens = {"kho": kho.token, "other": other.token, "lead": lead.token}
    return await aiohttp_client(app), tokens


async def _subjects(client: Client, token: str, query: str) -> list[str]:
    resp = await client.get(f"/api/v1/queue?{query}",
                            headers={"Authorization": f"Bearer {token}"})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["count"] == len(body["tickets"])
    return [t["subject"] for t in body["tickets"]]


async def test_each_filter_narrows_my_queue_oldest_due_first(
        backend: Any, aiohttp_client: AiohttpClient) -> None:
    client, tokens = await _desk(backend, aiohttp_client)
    kho = tokens["kho"]
    active = ["Giao hàng chậm", "Hoa don sai", "Khiếu nại", "Hỏi giá"]
    assert await _subjects(client, kho, "") == active
    assert await _subjects(client, kho, "status=waiting") == ["Hỏi giá"]
    assert await _subjects(client, kho, "status=resolved,open") == [
        "Đã xong", "Hoa don sai", "Khiếu nại"]
    assert await _subjects(client, kho, "category=invoice&category=price") == [
        "Hoa don sai", "Hỏi giá"]
    assert await _subjects(client, kho, "priority=urgent") == ["Khiếu nại"]
    assert await _subjects(client, kho, "channel=zalo") == ["Giao hàng chậm", "Khiếu nại"]
    assert await _subjects(client, kho, "queue=accounting") == []
    assert await _subjects(client, kho, "breached=true") == ["Giao hàng chậm"]
    assert await _subjects(client, kho, "breached=false") == active[1:]
    before = (NOW + 3 * H).isoformat()
    assert await _subjects(client, kho, f"due_before={before.replace('+', '%2B')}") == [
        "Giao hàng chậm", "Hoa don sai"]


async def test_search_matches_with_and_without_diacritics(
        backend: Any, aiohttp_client: AiohttpClient) -> None:
    client, tokens = await _desk(backend, aiohttp_client)
    kho = tokens["kho"]
    # "giao hàng" in one subject, "giao hang" (no marks) in another ticket's message
    assert await _subjects(client, kho, "q=giao hang") == ["Giao hàng chậm", "Khiếu nại"]
    assert await _subjects(client, kho, "q=GIAO HÀNG") == ["Giao hàng chậm", "Khiếu nại"]
    assert await _subjects(client, kho, "q=hoá đơn") == ["Hoa don sai"]  # other tone spot
    assert await _subjects(client, kho, "q=ma so thue") == ["Hoa don sai"]
    assert await _subjects(client, kho, "q=giao kho") == ["Giao hàng chậm"]  # every word
    assert await _subjects(client, kho, "q=100%") == []  # LIKE wildcards are literal
    assert await _subjects(client, kho, "q=  ") == [
        "Giao hàng chậm", "Hoa don sai", "Khiếu nại", "Hỏi giá"]


async def test_paging_and_scope(backend: Any, aiohttp_client: AiohttpClient) -> None:
    client, tokens = await _desk(backend, aiohttp_client)
    headers = {"Authorization": f"Bearer {tokens['kho']}"}
    first = await (await client.get("/api/v1/queue?limit=3", headers=headers)).json()
    assert (first["count"], first["total"], first["next_offset"]) == (3, 4, 3)
    rest = await (await client.get("/api/v1/queue?limit=3&offset=3", headers=headers)).json()
    assert [t["subject"] for t in rest["tickets"]] == ["Hỏi giá"]
    assert rest["next_offset"] is None
    # "visible": an agent also sees tickets waiting unassigned in their queues, a lead the
    # whole queue; neither sees another agent's ticket through an agent's token.
    assert await _subjects(client, tokens["other"], "scope=visible&status=queued,open") == [
        "Giao hàng của người khác", "Chưa ai nhận"]
    lead = await _subjects(client, tokens["lead"], "scope=visible&q=giao hang")
    assert lead == ["Giao hàng chậm", "Giao hàng của người khác", "Khiếu nại"]


BAD_FILTERS = [
    ("status=lost", "status 'lost'"),
    ("category=misc", "category 'misc'"),
    ("priority=p1", "priority 'p1'"),
    ("channel=a%20b", "channel 'a b'"),
    ("breached=yes", "breached must be true or false"),
    ("due_before=tomorrow", "due_before is not an ISO 8601"),
    ("due_before=2026-05-06T10:00:00", "due_before needs a UTC offset"),
    ("limit=0", "limit must be between 1 and 200"),
    ("limit=ten", "limit must be a whole number"),
    ("limit=" + "9" * 5000, "limit must be between 1 and 200, got 5000 digits"),
    ("limit=99999999999999999999999", "limit must be between 1 and 200"),
    ("limit=²", "limit must be a whole number"),
    ("offset=" + "1" * 40, "offset must be between 0 and 1000000000"),
    ("offset=-1", "offset must be a whole number"),
    ("scope=everyone", "scope 'everyone'"),
    ("sort=due", "unknown parameter 'sort'"),
    ("q=a&q=b", "q is given 2 times"),
]


async def test_bad_filters_are_400_with_a_reason(
        backend: Any, aiohttp_client: AiohttpClient) -> None:
    client, tokens = await _desk(backend, aiohttp_client)
    for query, reason in BAD_FILTERS:
        resp = await client.get(f"/api/v1/queue?{query}",
                                headers={"Authorization": f"Bearer {tokens['kho']}"})
        body = await resp.json()
        assert resp.status == 400, (query, body)
        assert body["error"] == "invalid_filter" and reason in body["reason"], (query, body)
