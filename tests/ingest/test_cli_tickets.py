"""``cskh ticket …``, ``cskh queue show QUEUE`` and ``cskh staff reset-token|rm|rename``
through the ``cskh`` entry point, on both backend pairs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from ingest.bus.topics import OUTBOUND
from ingest.cli import main
from ingest.lifecycle import make_bus
from router.events import OutboundMessage
from router.staff import add_staff, staff_by_token
from storage.db import SessionFactory, create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Contact, Message, Ticket
from tests.support.bus import read_all

AN = "Nguyễn Văn An"
LEAD = "Trần Thị Bình"
TEXT = "Hàng giao thiếu 3 thùng <script>alert(1)</script>, đơn 4471"


class Cli:
    """The ``cskh`` command in a thread of its own (it runs its own event loop)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    async def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    async def json(self, *argv: str) -> Any:
        code, out, err = await self.run(*argv, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
async def world(backend: Any, monkeypatch: pytest.MonkeyPatch
                ) -> AsyncIterator[tuple[SessionFactory, dict[str, str]]]:
    for name, value in backend.env().items():
        monkeypatch.setenv(name, value)
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    tokens: dict[str, str] = {}
    async with sessions() as session, session.begin():
        tokens[AN] = (await add_staff(session, AN, ["warehouse"])).token
        tokens[LEAD] = (await add_staff(session, LEAD, ["warehouse"], role="lead")).token
        tokens["Nguyễn Văn Ân"] = (await add_staff(session, "Nguyễn Văn Ân", ["cskh"])).token
    try:
        yield sessions, tokens
    finally:
        await engine.dispose()


async def _ticket(sessions: SessionFactory, *, queue: str = "warehouse") -> str:
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        contact = Contact(name="Chị Lan", email=f"lan-{uuid.uuid4().hex[:6]}@congty.vn")
        session.add(contact)
        await session.flush()
        ticket = Ticket(public_id=uuid.uuid4(), channel="email", thread_key=uuid.uuid4().hex,
                        status="queued", category="quantity", priority="high", queue=queue,
                        subject="Giao thiếu hàng", contact_id=contact.id)
        session.add(ticket)
        await session.flush()
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel="email",
                            external_id=f"{uuid.uuid4().hex}@congty.vn", sender_name="Chị Lan",
                            sender_email=contact.email, subject="Giao thiếu hàng", text=TEXT,
                            sent_at=now, received_at=now))
        return ticket.number


async def _counts(cli: Cli) -> dict[str, int]:
    """``cskh queue ls`` of the warehouse queue, by the API's ticket statuses."""
    (row,) = [r for r in await cli.json("queue", "ls") if r["name"] == "warehouse"]
    return {k: v for k, v in row.items() if k not in ("name", "staff")}


async def test_claim_show_reply_resolve_from_a_terminal(
        world: tuple[SessionFactory, dict[str, str]], backend: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    sessions, _ = world
    cli = Cli(capsys)
    number = await _ticket(sessions)
    waiting = await cli.json("queue", "show", "warehouse")
    assert [t["number"] for t in waiting] == [number]
    assert await _counts(cli) == {"queued": 1, "assigned": 0, "open": 0, "waiting": 0,
                                  "resolved": 0}

    claimed = await cli.json("ticket", "claim", number, "--as", "nguyễn văn an")  # any case
    assert claimed["assignee"]["name"] == AN and claimed["status"] == "assigned"
    assert await cli.json("queue", "show", "warehouse") == []
    assert (await _counts(cli))["assigned"] == 1  # the API's word for it, "status": "assigned"
    assert [t["number"] for t in await cli.json("queue", "show", "--staff", "NGUYỄN VĂN AN")
            ] == [number]

    code, out, _ = await cli.run("ticket", "show", number)
    assert code == 0
    assert number in out and "assigned" in out and AN in out and "Chị Lan" in out
    assert TEXT in out  # the customer's text as it was, never rendered

    code, out, err = await cli.run("ticket", "reply", number, "Dạ, kho gửi bù 3 thùng hôm nay.",
                                   "--as", AN)
    assert code == 0, err and "reply queued" in out
    shown = await cli.json("ticket", "show", number)
    assert shown["status"] == "open"
    assert (await _counts(cli))["open"] == 1
    assert [m["direction"] for m in shown["messages"]] == ["inbound", "outbound"]
    reply = shown["messages"][-1]
    assert reply["text"] == "Dạ, kho gửi bù 3 thùng hôm nay." and reply["sender"]["name"] == AN

    bus = make_bus(backend.settings())
    await bus.start()
    try:
        records = await read_all(bus, OUTBOUND)
    finally:
        await bus.close()
    (event,) = [OutboundMessage.model_validate_json(r.value) for r in records]
    assert event.ticket_number == number and event.message_id == reply["id"]
    assert event.text == reply["text"] and event.email is not None  # threaded like the API's
    async with sessions() as session:
        stored = await session.get(Message, reply["id"])
        assert stored is not None and stored.raw["emitted"] is True

    resolved = await cli.json("ticket", "resolve", number, "--as", AN)
    assert resolved["status"] == "resolved"
    assert (await _counts(cli))["resolved"] == 1
    code, _, err = await cli.run("ticket", "reply", number, "còn nữa", "--as", AN)
    assert code == 2 and "resolved" in err and "ticket_closed" in err


async def test_the_api_rules_apply_to_the_terminal(
        world: tuple[SessionFactory, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    sessions, _ = world
    cli = Cli(capsys)
    number = await _ticket(sessions)
    code, _, err = await cli.run("ticket", "claim", number, "--as", "Nguyễn Văn Ân")
    assert code == 2 and "not_your_queue" in err  # Ân serves cskh only; exact name wins
    code, _, err = await cli.run("ticket", "resolve", number, "--as", AN)
    assert code == 2 and "not_allowed" in err
    code, _, err = await cli.run("ticket", "assign", number, AN, "--as", AN)
    assert code == 2 and "only a lead" in err
    assigned = await cli.json("ticket", "assign", number, "nguyễn văn an", "--as", "tran thi binh")
    assert assigned["assignee"]["name"] == AN
    code, _, err = await cli.run("ticket", "claim", number, "--as", "nguyen van an")
    assert code == 2 and "could be any of" in err and AN in err and "Nguyễn Văn Ân" in err
    code, _, err = await cli.run("ticket", "show", "CSKH-999999")
    assert code == 2 and "no ticket" in err
    code, _, err = await cli.run("ticket", "show", "nope")
    assert code == 2 and "no ticket number" in err
    code, _, err = await cli.run("queue", "show", "marketing")
    assert code == 2 and "no queue 'marketing'" in err and "warehouse" in err
    code, _, err = await cli.run("queue", "show")
    assert code == 2 and "--staff" in err


async def test_reset_token_rename_and_remove_staff(
        world: tuple[SessionFactory, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    sessions, tokens = world
    cli = Cli(capsys)
    made = await cli.json("staff", "reset-token", "tran thi binh")
    assert made["name"] == LEAD and made["token"] != tokens[LEAD]
    async with sessions() as session:
        assert await staff_by_token(session, tokens[LEAD]) is None  # the old one is dead
        fresh = await staff_by_token(session, made["token"])
        assert fresh is not None and fresh.name == LEAD
    code, listing, _ = await cli.run("staff", "ls", "--json")
    assert made["token"] not in listing

    renamed = await cli.json("staff", "rename", "Trần Thị Bình", "Trần  Thị Bình Minh")
    assert renamed["name"] == "Trần Thị Bình Minh"
    code, _, err = await cli.run("staff", "rename", "Trần Thị Bình Minh", "NGUYEN VAN AN")
    assert code == 2 and "too close" in err

    number = await _ticket(sessions)
    await cli.json("ticket", "claim", number, "--as", AN)
    gone = await cli.json("staff", "rm", AN)
    assert gone["name"] == AN and gone["returned"] == [number]
    assert [s["name"] for s in await cli.json("staff", "ls")] == ["Trần Thị Bình Minh",
                                                                   "Nguyễn Văn Ân"]
    async with sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.id == int(number[5:])))
        assert ticket is not None and ticket.assignee_id is None and ticket.status == "queued"
        assert await staff_by_token(session, tokens[AN]) is None
    assert [t["number"] for t in await cli.json("queue", "show", "warehouse")] == [number]
    code, _, err = await cli.run("staff", "rm", AN)
    assert code == 2 and "no staff member" in err
