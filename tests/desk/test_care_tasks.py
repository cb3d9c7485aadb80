"""Care tasks on both backends: an approved plan's entries become task tickets once, in the
officer's queue, with the SLA of their date; the outcome counts against the budget; reports
leave care tasks out.

The plan is the one of ``test_care_plan``'s accounts for 2027 (Tết: Saturday 6 February).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from desk.care.plan import build_plan, move_plan
from desk.care.policy import CarePolicy
from desk.care.tasks import CareTaskPolicy, CreateCareTasks
from desk.views import tickets_json
from ingest.cli import main
from router.customers import import_customers
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import Assignment, Staff, Ticket
from storage.models_care import CareEntry

ACCOUNTS = (
    "name,tax_code,tier,segment,owner\n"
    "Công ty TNHH Thép Việt,0312345678,key,xây dựng,Nguyễn Văn An\n"
    "Công ty CP Nhựa Bình Minh,0301112223,standard,xây dựng,\n"
    "Cửa hàng Điện máy Minh Phát,0109876543,small,bán lẻ,\n"
)
# Saturday 30 January 2027, 09:00 in Hồ Chí Minh City: Tết is 7 days away.
NOW = datetime(2027, 1, 30, 2, 0, tzinfo=UTC)


async def _seed(sessions: SessionFactory, *, approve: bool = True) -> None:
    async with sessions() as session, session.begin():
        await add_staff(session, "Nguyễn Văn An", ["cskh", "sales"])
        await add_staff(session, "Lê Văn Trưởng", ["cskh"], role="lead")
        await add_staff(session, "Phạm Giám Đốc", ["cskh"], role="admin")
        assert (await import_customers(session, ACCOUNTS)).errors == []
        await build_plan(session, 2027, CarePolicy(), NOW)
        await move_plan(session, 2027, "submitted", "Lê Văn Trưởng", NOW)
        if approve:
            await move_plan(session, 2027, "approved", "Phạm Giám Đốc", NOW)


async def _care_tickets(sessions: SessionFactory) -> list[Ticket]:
    async with sessions() as session:
        return list(await session.scalars(select(Ticket).where(Ticket.kind == "care")
                                          .order_by(Ticket.id)))


async def test_tasks_are_created_once_across_passes_restarts_and_routers(
        sessions: SessionFactory) -> None:
    await _seed(sessions)
    policy = CareTaskPolicy(lead_days=7)
    # two routers' passes at once, then again, then after a restart (new objects)
    made = await asyncio.gather(CreateCareTasks(sessions, lambda: NOW, policy).run_once(),
                                CreateCareTasks(sessions, lambda: NOW, policy).run_once())
    assert sum(made) == 3  # Tết for the three accounts; nothing else is within 7 days
    assert await CreateCareTasks(sessions, lambda: NOW, policy).run_once() == 0
    assert await CreateCareTasks(sessions, lambda: NOW, policy).run_once() == 0
    tickets = await _care_tickets(sessions)
    assert len(tickets) == 3
    async with sessions() as session:
        an = await session.scalar(select(Staff).where(Staff.name == "Nguyễn Văn An"))
        assert an is not None
        entries = list(await session.scalars(select(CareEntry).where(
            CareEntry.ticket_id.is_not(None))))
        assignments = await session.scalar(select(func.count()).select_from(Assignment))
    assert sorted(e.occasion for e in entries) == ["tet"] * 3
    assert assignments == 1
    mine = [t for t in tickets if t.assignee_id == an.id]
    assert len(mine) == 1 and mine[0].status == "assigned" and mine[0].queue == "cskh"
    assert mine[0].subject == ("Chăm sóc khách hàng: Tặng quà (Giỏ quà Tết) — Tết Nguyên Đán "
                               "— Công ty TNHH Thép Việt")
    # due when the desk closes on the last working day before Tết: 4 and 5 February are
    # public holidays (29 Tết, Giao thừa), so Wednesday 3 February, 17:00 (10:00 UTC)
    assert mine[0].resolution_due == datetime(2027, 2, 3, 10, 0, tzinfo=UTC)
    assert {t.status for t in tickets if t.assignee_id is None} == {"queued"}
    async with sessions() as session:
        (shown,) = await tickets_json(session, mine)
    assert (shown["kind"], shown["channel"], shown["entities"]["occasion"]) == (
        "care", "care", "tet")
    # a day later the window moves on: the 10 February monthly call of the key account
    later = await CreateCareTasks(sessions, lambda: datetime(2027, 2, 3, 2, tzinfo=UTC),
                                  policy).run_once()
    assert later == 1


async def test_a_plan_not_yet_approved_sends_no_task(sessions: SessionFactory) -> None:
    await _seed(sessions, approve=False)
    assert await CreateCareTasks(sessions, lambda: NOW, CareTaskPolicy()).run_once() == 0
    assert await _care_tickets(sessions) == []


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


async def test_the_outcome_counts_against_the_budget_and_reports_leave_tasks_out(
        backend: Any, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    await _seed(sessions)
    assert await CreateCareTasks(sessions, lambda: NOW, CareTaskPolicy()).run_once() == 3
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    async with sessions() as session:
        entry = await session.scalar(select(CareEntry).where(
            CareEntry.occasion == "tet", CareEntry.officer_id.is_not(None)))
        other = await session.scalar(select(CareEntry).where(
            CareEntry.occasion == "tet", CareEntry.officer_id.is_(None)))
        assert entry is not None and other is not None
    words = "Cảm ơn công ty, quà Tết rất ý nghĩa! <script>alert(1)</script>"
    code, _, err = await asyncio.to_thread(
        _cli, capsys, "care", "done", str(other.id), "--as", "Nguyễn Văn An", "--spent", "1")
    assert code == 2 and "not the officer" in err
    code, _, err = await asyncio.to_thread(
        _cli, capsys, "care", "done", str(entry.id), "--as", "Nguyễn Văn An", "--spent",
        "ba triệu")
    assert code == 2 and "not an amount" in err
    code, done, _ = await asyncio.to_thread(
        _cli, capsys, "care", "done", str(entry.id), "--as", "nguyen van an", "--spent",
        "3.200.000", "--gift-sent", "--words", words, "--json")
    assert code == 0
    assert (done["status"], done["spent"], done["gift_sent"], done["customer_words"]) == (
        "done", 3_200_000, True, words)
    code, done, _ = await asyncio.to_thread(
        _cli, capsys, "care", "done", str(other.id), "--as", "Lê Văn Trưởng", "--skipped",
        "--json")
    assert code == 0 and done["status"] == "skipped" and done["spent"] is None
    code, summary, _ = await asyncio.to_thread(_cli, capsys, "care", "budget", "--year",
                                               "2027", "--json")
    lines = {(b["scope"], b["key"]): b for b in summary["budget"]}
    assert (lines["year", ""]["spent"], lines["year", ""]["done"]) == (3_200_000, 2)
    assert lines["tier", "key"]["spent"] == 3_200_000 and lines["tier", "standard"]["spent"] == 0
    async with sessions() as session:
        ticket = await session.get(Ticket, entry.ticket_id)
        assert ticket is not None and ticket.status == "resolved"

    # reports count customers' matters only: the three tasks opened on 30 January are not
    code, report, _ = await asyncio.to_thread(
        _cli, capsys, "report", "volume", "--period", "month", "--from", "2027-01-01",
        "--to", "2027-01-31", "--format", "json")
    assert code == 0
    assert [(row["opened"], row["backlog"]) for row in report["rows"]] == [(0, 0)]
