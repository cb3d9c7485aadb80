"""``/inbox`` over HTTP on both backend pairs: tabs, filters, SLA colours, paging, the status
form, the live events, and who sees which rows."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from desk.inbox import time_left
from ingest.web.app import create_app
from storage.db import SessionFactory
from storage.models import Message, Staff, Ticket
from tests.support.pages import Client, add_officer, sign_in

AiohttpClient = Callable[..., Awaitable[Client]]
NOW = datetime(2026, 5, 6, 3, 0, tzinfo=UTC)  # Wednesday 10:00 in Hà Nội
H = timedelta(hours=1)
ROW = re.compile(r'<tr class="ticket sla-(\w+)" data-href="[^"]+" data-number="([^"]+)">')


def rows(html: str) -> dict[str, str]:
    """Ticket number -> SLA state of each row, in order."""
    return {number: state for state, number in ROW.findall(html)}


async def _seed(sessions: SessionFactory) -> dict[str, str]:
    """Tickets of the warehouse queue; their numbers by name."""
    kho = await add_officer(sessions, "Kho", ["warehouse"])
    other = await add_officer(sessions, "Khác", ["warehouse"])
    await add_officer(sessions, "Trưởng kho", ["warehouse"], role="lead")
    await add_officer(sessions, "Kế toán", ["accounting"])
    created = NOW - 30 * H
    # name: (assignee, status, category, text, resolution due)
    seed = {
        "late": (kho, "assigned", "delivery", "Đơn 123 chưa giao hàng tới kho.", NOW - H),
        "close": (kho, "open", "invoice", "Hóa đơn VAT ghi sai mã số thuế", NOW + H / 2),
        "easy": (kho, "open", "price", "Báo giá sp mới giúp em", NOW + 100 * H),
        "theirs": (other, "open", "delivery", "Giao hàng của người khác", NOW + 2 * H),
        "waiting": (None, "queued", "quantity", "giao hang thieu 2 thung", NOW + 3 * H),
    }
    numbers: dict[str, str] = {}
    async with sessions() as session, session.begin():
        for name, (assignee, status, category, text, due) in seed.items():
            ticket = Ticket(public_id=uuid.uuid4(), channel="zalo", thread_key=name,
                            status=status, category=category, priority="normal",
                            queue="warehouse", subject=name, assignee_id=assignee,
                            created_at=created, updated_at=created,
                            first_response_due=created + H, first_responded_at=created,
                            resolution_due=due)
            session.add(ticket)
            await session.flush()
            session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel="zalo",
                                external_id=f"m-{name}", text=text, sent_at=created,
                                received_at=created))
            numbers[name] = ticket.number
    return numbers


@pytest.fixture
async def desk(backend: Any, sessions: SessionFactory,
               aiohttp_client: AiohttpClient) -> tuple[Client, dict[str, str], Any]:
    numbers = await _seed(sessions)
    app = create_app(backend.settings(), ("webhooks",), clock=lambda: NOW)
    return await aiohttp_client(app), numbers, aiohttp_client


def test_time_left_reads_in_vietnamese() -> None:
    assert time_left(timedelta(hours=2, minutes=5)) == "còn 2 giờ 05 phút"
    assert time_left(timedelta(minutes=-10)) == "quá hạn 10 phút"
    assert time_left(None) == ""


async def test_my_tab_sorted_by_due_with_sla_colours(
        desk: tuple[Client, dict[str, str], Any]) -> None:
    client, n, _ = desk
    await sign_in(client, "kho")
    html = await (await client.get("/inbox")).text()
    assert rows(html) == {n["late"]: "breached", n["close"]: "warning", n["easy"]: "ok"}
    assert list(rows(html)) == [n["late"], n["close"], n["easy"]]  # earliest due first
    assert "quá hạn" in html and "Hóa đơn VAT ghi sai mã số thuế" in html
    assert f'href="/inbox/tickets/{n["late"]}"' in html


async def test_filters_are_the_apis_and_bad_ones_say_why(
        desk: tuple[Client, dict[str, str], Any]) -> None:
    client, n, _ = desk
    await sign_in(client, "kho")

    async def shown(query: str) -> list[str]:
        resp = await client.get(f"/inbox/rows?{query}")
        assert resp.status == 200, await resp.text()
        return list(rows(await resp.text()))

    # empty form fields are no filter
    assert await shown("q=&status=&category=invoice&priority=") == [n["close"]]
    assert await shown("q=hoa+don") == [n["close"]]  # without diacritics
    assert await shown("q=h%C3%B3a+%C4%91%C6%A1n") == [n["close"]]  # with them
    assert await shown("breached=true") == [n["late"]]
    assert await shown("due_before=2026-05-06T10:31") == [n["late"], n["close"]]  # VN time
    assert await shown("tab=unassigned") == [n["waiting"]]
    resp = await client.get("/inbox?status=bogus")
    assert resp.status == 400 and "status &#39;bogus&#39; is not one of" in await resp.text()
    assert (await client.get("/inbox?page=0")).status == 400
    assert (await client.get("/inbox?tab=all")).status == 400  # an agent has no such tab

    first = await (await client.get("/inbox?limit=2")).text()
    assert list(rows(first)) == [n["late"], n["close"]] and "Trang 1/2" in first
    second = await (await client.get("/inbox?limit=2&page=2")).text()
    assert list(rows(second)) == [n["easy"]] and 'rel="prev"' in second


async def test_who_sees_which_rows(desk: tuple[Client, dict[str, str], Any]) -> None:
    client, n, _ = desk
    await sign_in(client, "trưởng kho")
    every = rows(await (await client.get("/inbox?tab=all")).text())
    assert set(every) == set(n.values())
    assert rows(await (await client.get("/inbox")).text()) == {}  # none assigned to the lead

    client.session.cookie_jar.clear()  # the next officer, in a browser of their own
    await sign_in(client, "Kế toán")
    for tab in ("mine", "unassigned"):
        assert rows(await (await client.get(f"/inbox?tab={tab}")).text()) == {}
    client.session.cookie_jar.clear()
    await sign_in(client, "khác")
    assert list(rows(await (await client.get("/inbox")).text())) == [n["theirs"]]
    assert rows(await (await client.get("/inbox?tab=unassigned")).text()) == {
        n["waiting"]: "warning"}


async def test_status_form_needs_the_token_and_sets_my_status(
        desk: tuple[Client, dict[str, str], Any], sessions: SessionFactory) -> None:
    client, _, _ = desk
    csrf = await sign_in(client, "kho")
    refused = await client.post("/inbox/status", data={"status": "away"},
                                allow_redirects=False)
    assert refused.status == 403
    bad = await client.post("/inbox/status", data={"status": "asleep", "csrf_token": csrf},
                            allow_redirects=False)
    assert bad.status == 400
    resp = await client.post("/inbox/status", data={"status": "away", "csrf_token": csrf},
                             headers={"Referer": str(client.make_url("/inbox?tab=unassigned"))},
                             allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/inbox?tab=unassigned")
    async with sessions() as session:
        assert await session.scalar(select(Staff.status).where(Staff.name == "Kho")) == "away"
    page = await (await client.get("/inbox")).text()
    assert '<option value="away" selected>' in page


async def test_events_say_changed_when_a_customer_writes_again(
        desk: tuple[Client, dict[str, str], Any], sessions: SessionFactory) -> None:
    client, n, _ = desk
    await sign_in(client, "kho")
    resp = await client.get("/inbox/events")
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    assert await resp.content.readline() == b": connected\n"
    async with sessions() as session, session.begin():
        ticket = await session.scalar(select(Ticket).where(Ticket.thread_key == "close"))
        assert ticket is not None
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel="zalo",
                            external_id="m-again", text="Anh ơi, xuất lại giúp em",
                            sent_at=NOW, received_at=NOW))

    async def changed() -> None:
        while (line := await resp.content.readline()) != b"event: changed\n":
            assert line, "the stream ended"

    await asyncio.wait_for(changed(), 30)
    resp.close()
    html = await (await client.get("/inbox/rows")).text()
    assert "Anh ơi, xuất lại giúp em" in html  # the last message is the new one
    assert n["close"] in html


async def test_a_browser_that_leaves_the_events_ends_quietly(
        desk: tuple[Client, dict[str, str], Any], backend: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A closed tab is one ``stream.client_left`` info event, no traceback in the logs."""
    import logging

    from structlog.testing import capture_logs

    from desk import inbox

    monkeypatch.setattr(inbox, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(inbox, "HEARTBEAT_EVERY", 0.1)  # a keep-alive every other poll
    from tests.support.served import ServedLikeProduction

    _, _, aiohttp_client = desk
    app = create_app(backend.settings(), ("webhooks",), clock=lambda: NOW)
    client = await aiohttp_client(ServedLikeProduction(app))
    await sign_in(client, "kho")
    caplog.set_level(logging.INFO, logger="aiohttp")
    with capture_logs() as logs:
        resp = await client.get("/inbox/events")
        assert await resp.content.readline() == b": connected\n"
        assert resp.connection is not None and resp.connection.transport is not None
        resp.connection.transport.close()  # the tab is closed mid-stream
        resp.close()

        async def left() -> None:
            while not any(e["event"] == "stream.client_left" for e in logs):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(left(), 30)
    (event,) = [e for e in logs if e["event"] == "stream.client_left"]
    assert event["log_level"] == "info" and event["path"] == "/inbox/events"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text and "ClientConnectionResetError" not in caplog.text
