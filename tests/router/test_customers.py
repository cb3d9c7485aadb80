"""Loading accounts from CSV and routing a ticket to its account owner first (both backends)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingest.cli import main
from normalizer.events import TicketEvent
from router.assign import AssignTickets
from router.events import AssignmentEvent
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import Contact, Customer, Ticket

FIXTURE = Path(__file__).parents[1] / "fixtures" / "customers" / "accounts.csv"
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 09:00 in Hồ Chí Minh City



async def test_import_creates_accounts_contacts_and_lists_bad_lines(
        backend: Any, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    async with sessions() as session, session.begin():
        await add_staff(session, "Nguyễn Văn An", ["accounting", "cskh"])
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    code = await asyncio.to_thread(main, ["customers", "import", str(FIXTURE), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # some lines were refused
    assert (report["created"], report["updated"], report["contacts"]) == (2, 0, 5)
    assert [e["line"] for e in report["errors"]] == [4, 5, 6, 7]
    assert "free-mail" in report["errors"][3]["error"]
    assert "tax code" in report["errors"][0]["error"]
    assert "tier" in report["errors"][1]["error"]
    assert "Người Không Có" in report["errors"][2]["error"]

    again = await asyncio.to_thread(main, ["customers", "import", str(FIXTURE), "--json"])
    assert again == 1
    assert json.loads(capsys.readouterr().out)["updated"] == 2

    async with sessions() as session:
        thep = await session.scalar(select(Customer).where(Customer.tax_code == "0312345678"))
        assert thep is not None and thep.tier == "key" and thep.name == "Công ty TNHH Thép Việt"
        phone = await session.scalar(select(Contact).where(Contact.phone == "+84912345678"))
        assert phone is not None and phone.customer_id == thep.id
        count = len(list(await session.scalars(select(Customer))))
    assert count == 2


async def test_import_matches_owners_as_the_command_line_does(
        backend: Any, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with sessions() as session, session.begin():
        an = await add_staff(session, "Nguyễn Văn An", ["accounting"])
        await add_staff(session, "Nguyễn Văn Ân", ["accounting"])
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    sheet = tmp_path / "owners.csv"
    sheet.write_text("name,tax_code,tier,owner\n"
                     "Công ty A,0312345601,key,NGUYỄN VĂN AN\n"  # case ignored
                     "Công ty B,0312345602,key,nguyen van an\n", encoding="utf-8")  # two fit
    code = await asyncio.to_thread(main, ["customers", "import", str(sheet), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["created"] == 1
    ((line, error),) = [(e["line"], e["error"]) for e in report["errors"]]
    assert line == 3 and "could be any of" in error and "Nguyễn Văn Ân" in error
    async with sessions() as session:
        a = await session.scalar(select(Customer).where(Customer.tax_code == "0312345601"))
        assert a is not None and a.owner_id == an.id


class Emitted:
    def __init__(self) -> None:
        self.events: list[AssignmentEvent] = []

    async def __call__(self, events: Sequence[AssignmentEvent]) -> None:
        self.events.extend(events)


async def test_the_account_owner_gets_the_ticket_first(sessions: SessionFactory) -> None:
    async with sessions() as session, session.begin():
        idle = await add_staff(session, "Trần Rảnh", ["accounting"])
        owner = await add_staff(session, "Lê Chủ", ["accounting"], capacity=1)
        customer = Customer(name="Công ty Thép", name_key="công ty thép", tier="key",
                            owner_id=owner.id)
        session.add(customer)
        await session.flush()
        tickets = [Ticket(public_id=uuid.uuid4(), channel="email", thread_key=f"t{i}",
                          category="invoice", customer_id=customer.id, created_at=NOW,
                          updated_at=NOW) for i in range(2)]
        session.add_all(tickets)
        await session.flush()
        ids = [t.id for t in tickets]
    emitted = Emitted()
    await AssignTickets(sessions, emitted, lambda: NOW)([
        TicketEvent(event_id=uuid.uuid4(), kind="created", ticket_id=i, message_id=i,
                    envelope_id=uuid.uuid4(), channel="email", thread_key=f"t{i}",
                    category="invoice", priority="normal", sentiment="neutral",
                    customer_id=None, created_at=NOW).model_dump_json().encode()
        for i in ids])
    # The owner takes the first; at capacity, the second goes to the least-loaded officer.
    assert [(e.staff_id, e.reason) for e in emitted.events] == [
        (owner.id, "account_owner"), (idle.id, "least_loaded")]
    async with sessions() as session:
        first = await session.get(Ticket, ids[0])
    assert first is not None and first.priority == "high"  # a key account is raised
