"""Care and maintenance tasks survive ``kill -9``: ``cskh serve`` (router role) turns the
approved plan's due entries and the register's due maintenance visits into task tickets, is
killed with SIGKILL as soon as the first one appears, restarted, and every entry and every
visit still has exactly one ticket, on both backends."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import create_engine, session_factory
from storage.models import Customer, Ticket
from storage.models_care import CareEntry, CarePlan, MaintenanceVisit
from tests.support.service import Service

pytestmark = pytest.mark.slow


async def _tasks(database_url: str, kind: str,
                 task: type[CareEntry] | type[MaintenanceVisit]) -> tuple[int, int, int]:
    """(task tickets of ``kind``, distinct entries or visits they are for, ``task`` rows with a
    ticket)."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            tickets = await s.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.kind == kind)) or 0
            distinct = await s.scalar(select(func.count(func.distinct(Ticket.thread_key)))
                                      .where(Ticket.kind == kind)) or 0
            linked = await s.scalar(select(func.count()).select_from(task).where(
                task.ticket_id.is_not(None))) or 0
            return tickets, distinct, linked
    finally:
        await engine.dispose()


async def _counts(database_url: str) -> tuple[int, int, int]:
    """(care tickets, distinct entries they are for, entries with a ticket)."""
    return await _tasks(database_url, "care", CareEntry)


async def _visits(database_url: str) -> tuple[int, int, int]:
    """(maintenance tickets, distinct visits they are for, visit rows with a ticket)."""
    return await _tasks(database_url, "maintenance", MaintenanceVisit)


async def _due_entries(database_url: str, today: date) -> int:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            return await s.scalar(select(func.count()).select_from(CareEntry).where(
                CareEntry.on_date >= today - timedelta(days=7),
                CareEntry.on_date <= today + timedelta(days=7))) or 0
    finally:
        await engine.dispose()


async def _add_entry(database_url: str, on: date) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s, s.begin():
            plan = await s.scalar(select(CarePlan))
            customer = await s.scalar(select(Customer).order_by(Customer.id))
            assert plan is not None and customer is not None
            s.add(CareEntry(plan_id=plan.id, customer_id=customer.id, occasion="visit_extra",
                            on_date=on, action="visit", planned_value=0))
    finally:
        await engine.dispose()


async def test_kill_9_makes_no_second_task(backend: Any, tmp_path: Path,
                                           http: aiohttp.ClientSession,
                                           wait_for: Callable[..., Any]) -> None:
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    soon = today + timedelta(days=2)
    if (soon.month, soon.day) == (2, 29):  # founding days in common years would move
        soon += timedelta(days=1)
    service = Service(backend.env() | {"CSKH_CARE_SECONDS": "0.2"}, tmp_path)
    service.run_cli("migrate")
    service.run_cli("staff", "add", "--name", "Nguyễn Văn An", "--queue", "cskh")
    service.run_cli("staff", "add", "--name", "Phạm Giám Đốc", "--queue", "cskh", "--role",
                    "admin")
    sheet = tmp_path / "accounts.csv"
    rows = [f"Công ty số {i},03123456{i:02d},{('key', 'standard', 'small')[i % 3]},,"
            f"{'Nguyễn Văn An' if i % 2 else ''},{soon.replace(year=soon.year - 1 - i)}"
            for i in range(12)]
    sheet.write_text("name,tax_code,tier,segment,owner,founded_on\n" + "\n".join(rows) + "\n",
                     encoding="utf-8")
    service.run_cli("customers", "import", str(sheet))
    # a machine per account, delivered a year before ``soon``, serviced every 12 months: each
    # one's visit falls due within the lead days
    register = tmp_path / "register.csv"
    register.write_text(
        "serial,model,account,delivered_on,warranty_months,maintenance_months\n" + "".join(
            f"MC-{i:04d},Máy cắt thép MC-200,03123456{i:02d},{soon.replace(year=soon.year - 1)},"
            "24,12\n" for i in range(12)), encoding="utf-8")
    service.run_cli("warranty", "import", str(register))
    year = str(soon.year)
    service.run_cli("care", "plan", "--year", year)
    service.run_cli("care", "submit", "--year", year, "--as", "Phạm Giám Đốc")
    service.run_cli("care", "approve", "--year", year, "--as", "Phạm Giám Đốc")
    due = await _due_entries(backend.database_url, today)
    assert due >= 12  # at least each account's founding day

    await service.start(http, "--role", "router")

    async def some() -> bool:
        return (await _counts(backend.database_url))[0] > 0

    await wait_for(some, attempts=600, interval=0.02)
    service.kill()  # SIGKILL, wherever the pass was
    await service.start(http, "--role", "router")
    await _add_entry(backend.database_url, soon)  # proves a whole pass ran after the restart

    async def settled() -> bool:
        return (await _counts(backend.database_url) == (due + 1, due + 1, due + 1)
                and await _visits(backend.database_url) == (12, 12, 12))

    await wait_for(settled, attempts=600, interval=0.1)
    assert service.kill(signal.SIGTERM) == 0
    assert await _counts(backend.database_url) == (due + 1, due + 1, due + 1)
    assert await _visits(backend.database_url) == (12, 12, 12)
