"""The warranty register on both backends: ``cskh warranty import|ls|show``, and a warranty
ticket's register entry in the staff API, matched from a Vietnamese message by its serial or,
failing that, by its account's model."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from desk.maintenance import CreateMaintenanceTasks
from desk.warranty import add_months, serial_candidates, serial_key
from ingest.cli import main
from ingest.web.app import create_app
from router.customers import import_customers
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import Customer, Message, Ticket

REGISTER = (
    "serial,model,account,delivered_on,warranty_months,maintenance_months\n"
    "MX200-2024-0012,Máy lọc nước MX200,0312345678,2025-06-10,24,6\n"
    "mx200 2024 0013,Máy lọc nước MX200,0312345678,2023-01-15,12,\n"
    "KB-77,Bơm tăng áp KB7,Thép Việt,2026-01-05,12,3\n"
    ",Không số,0312345678,2025-01-01,12,\n"
    "X-1,Máy X,0312345678,10/06/2025,12,\n"
    "X-2,Máy X,Công ty Ma,2025-06-10,12,\n"
    "X-3,Máy X,0312345678,2025-06-10,mười hai,\n"
)
NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def test_serials_and_months() -> None:
    assert serial_key(" mx200-2024-0012 ") == "MX200-2024-0012"
    text = "Máy lọc nước số serial MX200-2024-0012 bị rò rỉ nước, còn bảo hành ko ạ?"
    assert "MX200-2024-0012" in serial_candidates([text])
    assert "MX200-2024-0013" not in serial_candidates([text])
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2025, 6, 10), 24) == date(2027, 6, 10)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


@pytest.fixture
async def register(backend: Any, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch,
                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The register loaded through the CLI; returns an officer's API token."""
    async with sessions() as session, session.begin():
        made = await add_staff(session, "Kỹ thuật Hùng", ["technical"])
        await import_customers(session, "name,tax_code,tier\n"
                                        "Công ty TNHH Thép Việt,0312345678,key\n")
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    sheet = tmp_path / "register.csv"
    sheet.write_text(REGISTER, encoding="utf-8")
    code, report, _ = await asyncio.to_thread(_cli, capsys, "warranty", "import", str(sheet),
                                              "--json")
    assert code == 1 and (report["created"], report["updated"]) == (3, 0)
    assert [(e["line"], e["error"].split(" ")[0]) for e in report["errors"]] == [
        (5, "serial"), (6, "delivered_on"), (7, "account:"), (8, "warranty_months")]
    return made.token


async def test_ls_and_show(register: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, _ = await asyncio.to_thread(_cli, capsys, "warranty", "ls", "--account",
                                            "thep viet", "--json")
    assert code == 0
    assert [(r["serial"], r["in_warranty"]) for r in rows] == [
        ("KB-77", True), ("MX200-2024-0012", True), ("MX20020240013", False)]
    code, item, _ = await asyncio.to_thread(_cli, capsys, "warranty", "show",
                                            "mx200-2024-0012", "--json")
    assert code == 0 and item["warranty_ends"] == "2027-06-10"
    assert item["customer"]["tax_code"] == "0312345678" and item["maintenance_months"] == 6
    code, _, err = await asyncio.to_thread(_cli, capsys, "warranty", "show", "ZZ-404")
    assert code == 2 and "no product with serial" in err


async def _ticket(sessions: SessionFactory, category: str, text: str) -> int:
    async with sessions() as session, session.begin():
        customer = await session.scalar(select(Customer).where(
            Customer.tax_code == "0312345678"))
        assert customer is not None
        ticket = Ticket(channel="zalo", thread_key=uuid.uuid4().hex, status="queued",
                        category=category, queue="technical", customer_id=customer.id,
                        subject=None, created_at=NOW, updated_at=NOW)
        session.add(ticket)
        await session.flush()
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel="zalo",
                            external_id=uuid.uuid4().hex, text=text, sent_at=NOW,
                            received_at=NOW))
        return ticket.id


async def test_a_warranty_ticket_shows_its_register_entry(
        register: str, backend: Any, sessions: SessionFactory,
        aiohttp_client: Callable[..., Awaitable[Any]]) -> None:
    by_serial = await _ticket(sessions, "warranty",
                              "Chào shop, máy lọc nước số seri mx200-2024-0012 bị rò rỉ nước "
                              "từ hôm qua, còn bảo hành ko ạ? 😟")
    by_model = await _ticket(sessions, "maintenance",
                             "Bom tang ap KB7 keu to, nho ky thuat qua bao tri giup")
    other = await _ticket(sessions, "price", "Báo giá máy lọc nước MX200-2024-0012 mới")
    client = await aiohttp_client(create_app(backend.settings(), ("webhooks",),
                                             clock=lambda: NOW))
    auth = {"Authorization": f"Bearer {register}"}

    async def warranty(ticket_id: int) -> list[dict[str, Any]]:
        resp = await client.get(f"/api/v1/tickets/{ticket_id}", headers=auth)
        assert resp.status == 200, await resp.text()
        body: list[dict[str, Any]] = (await resp.json())["warranty"]
        return body

    (entry,) = await warranty(by_serial)
    assert (entry["serial"], entry["in_warranty"], entry["warranty_ends"]) == (
        "MX200-2024-0012", True, "2027-06-10")
    # no serial written: the account's product whose model the text names (no diacritics)
    assert [e["serial"] for e in await warranty(by_model)] == ["KB-77"]
    assert await warranty(other) == []  # a price question is not matched


async def test_maintenance_falling_due_queues_one_task_for_the_technical_queue(
        register: str, sessions: SessionFactory, capsys: pytest.CaptureFixture[str]) -> None:
    # MX200-2024-0012: delivered 10 June 2025, every 6 months → due Thursday 10 December 2026
    passes = [CreateMaintenanceTasks(sessions, lambda: NOW, lead_days=7) for _ in range(3)]
    assert sum(await asyncio.gather(passes[0].run_once(), passes[1].run_once())) == 1
    assert await passes[2].run_once() == 0
    async with sessions() as session:
        (ticket,) = list(await session.scalars(select(Ticket).where(
            Ticket.kind == "maintenance")))
    assert (ticket.queue, ticket.status, ticket.category) == ("technical", "queued",
                                                              "maintenance")
    assert ticket.resolution_due == datetime(2026, 12, 10, 10, 0, tzinfo=UTC)
    assert ticket.subject is not None and "MX200-2024-0012" in ticket.subject
    code, visit, _ = await asyncio.to_thread(
        _cli, capsys, "warranty", "visit", "mx200-2024-0012", "--due", "2026-12-10", "--done",
        "2026-12-09", "--outcome", "Thay lõi lọc số 1, 2", "--json")
    assert code == 0 and visit["on_time"] is True and visit["ticket_id"] == ticket.id
    code, item, _ = await asyncio.to_thread(_cli, capsys, "warranty", "show", "MX200-2024-0012",
                                            "--json")
    assert item["visits"] == [{"due_on": "2026-12-10", "done_on": "2026-12-09",
                               "outcome": "Thay lõi lọc số 1, 2", "ticket_id": ticket.id}]
    async with sessions() as session:
        again = await session.get(Ticket, ticket.id)
        assert again is not None and again.status == "resolved"
    code, _, err = await asyncio.to_thread(_cli, capsys, "warranty", "visit", "KB-77", "--due",
                                           "2026-12-10")
    assert code == 2 and "no maintenance visit" in err

    # the report: a claim on the MX200 under warranty, opened Thursday 10:00 and repaired at
    # 12:00 (90 business minutes: the desk closes 11:30-13:00), and a question about a
    # product the register does not know
    claim = await _ticket(sessions, "warranty", "May loc nuoc serial MX200-2024-0012 bi hong")
    await _ticket(sessions, "warranty", "Máy của em không có trong danh sách, bảo hành sao ạ")
    async with sessions() as session, session.begin():
        repaired = await session.get(Ticket, claim)
        assert repaired is not None
        repaired.status, repaired.resolved_at = "resolved", NOW + timedelta(hours=2)
    code, report, _ = await asyncio.to_thread(
        _cli, capsys, "report", "warranty", "--period", "month", "--from", "2026-12-01",
        "--to", "2026-12-31", "--format", "json")
    assert code == 0
    rows = {r["model"]: r for r in report["rows"]}
    assert set(rows) == {"-", "Máy lọc nước MX200"}
    mx = rows["Máy lọc nước MX200"]
    assert (mx["claims"], mx["in_warranty_pct"], mx["repair_median_min"], mx["visits_due"],
            mx["visits_on_time_pct"]) == (1, 100.0, 90.0, 1, 100.0)
    assert (rows["-"]["claims"], rows["-"]["in_warranty_pct"]) == (1, 0.0)
