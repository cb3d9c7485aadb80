"""Report figures against a fixture whose numbers are worked out by hand.

Working hours Mon-Sat 07:30-11:30 and 13:00-17:00 (Asia/Ho_Chi_Minh, UTC+7), public holidays
closed: Tết 2026 closes Mon 16 - Fri 20 February.

- T1 (An): created Mon 2 Nov 11:00; answered 13:30 (30 + 30 = 60 min across the lunch break,
  due 14:00: within); resolved Tue 3 Nov 08:30 (30 + 240 + 60 = 330, due Mon 16:00: breached,
  and the breach is recorded).
- T2 (An): created Sat 7 Nov 16:00; answered Mon 9 Nov 08:00 (60 + 30 = 90 over the Sunday,
  due 08:30: within); resolved 09:30 (60 + 120 = 180, due 09:00: late).
- T3 (Hoa): created Mon 2 Nov 08:00, answered 08:30, resolved, then reopened Wed 4 Nov 10:00 and
  resolved again 14:00: the current cycle counts, 90 + 60 = 150 (due 15:00: within); its first
  response belongs to the earlier cycle and is not counted.
- T5 (Hoa): created Tue 10 Nov 08:00, waited on the customer 09:00 - Wed 11 Nov 09:00, resolved
  10:00: 60 + 60 = 120 (due 11:00: within).
- T4 (Hoa): created Sat 14 Feb 16:30, answered Sat 21 Feb 07:45 (30 + 15 = 45 across Tết),
  resolved 13:30 (30 + 240 + 30 = 300).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from desk.reports import build_report, parse_window
from desk.reports.base import ReportError
from desk.reports.render import render
from ingest.cli import main
from router.calendars import QueueCalendars
from storage.db import SessionFactory, create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Message, SlaEvent, SlaPause, Staff, Survey, Ticket

ICT = timezone(timedelta(hours=7))
CALENDARS = QueueCalendars()


def at(day: str, hm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hm}:00").replace(tzinfo=ICT)


async def _seed(sessions: SessionFactory) -> None:
    async with sessions() as s, s.begin():
        an = Staff(name="Nguyễn Văn An", token_hash="a" * 64)
        hoa = Staff(name="Trần Thị Hoa", token_hash="b" * 64)
        s.add_all([an, hoa])
        await s.flush()

        def ticket(officer: Staff, channel: str, created: datetime, **kw: Any) -> Ticket:
            return Ticket(channel=channel, thread_key=uuid.uuid4().hex, category="invoice",
                          queue="accounting", priority="normal", assignee_id=officer.id,
                          status="resolved", created_at=created, **kw)

        t1 = ticket(an, "email", at("2026-11-02", "11:00"),
                    first_responded_at=at("2026-11-02", "13:30"),
                    first_response_due=at("2026-11-02", "14:00"),
                    resolved_at=at("2026-11-03", "08:30"),
                    resolution_due=at("2026-11-02", "16:00"))
        t2 = ticket(an, "zalo", at("2026-11-07", "16:00"),
                    first_responded_at=at("2026-11-09", "08:00"),
                    first_response_due=at("2026-11-09", "08:30"),
                    resolved_at=at("2026-11-09", "09:30"),
                    resolution_due=at("2026-11-09", "09:00"))
        t3 = ticket(hoa, "email", at("2026-11-02", "08:00"),
                    first_responded_at=at("2026-11-02", "08:30"),
                    first_response_due=at("2026-11-02", "09:00"),
                    reopened_at=at("2026-11-04", "10:00"), reopen_count=1,
                    resolved_at=at("2026-11-04", "14:00"),
                    resolution_due=at("2026-11-04", "15:00"))
        t5 = ticket(hoa, "webform", at("2026-11-10", "08:00"),
                    first_response_due=at("2026-11-10", "10:00"),
                    resolved_at=at("2026-11-11", "10:00"),
                    resolution_due=at("2026-11-11", "11:00"))
        t4 = ticket(hoa, "webform", at("2026-02-14", "16:30"),
                    first_responded_at=at("2026-02-21", "07:45"),
                    first_response_due=at("2026-02-21", "09:00"),
                    resolved_at=at("2026-02-21", "13:30"),
                    resolution_due=at("2026-02-21", "15:00"))
        s.add_all([t1, t2, t3, t5, t4])
        await s.flush()
        s.add(SlaPause(ticket_id=t5.id, started_at=at("2026-11-10", "09:00"),
                       ended_at=at("2026-11-11", "09:00")))
        s.add(SlaEvent(ticket_id=t1.id, queue="accounting", assignee_id=an.id,
                       clock="resolution", kind="breach", fraction=1.0,
                       at=at("2026-11-02", "16:00")))
        # CSAT: An 5 and 2, Hoa 4 (after first answering 1) and one unanswered
        for ticket_, officer, sent, answered, rating, count in (
                (t1, an, "2026-11-03", "2026-11-03", 5, 1),
                (t2, an, "2026-11-09", "2026-11-10", 2, 1),
                (t3, hoa, "2026-11-04", "2026-11-05", 4, 2),
                (t5, hoa, "2026-11-11", None, None, 0)):
            s.add(Survey(ticket_id=ticket_.id, channel=ticket_.channel, officer_id=officer.id,
                         status="sent", sent_at=at(sent, "09:00"),
                         answered_at=at(answered, "10:00") if answered else None,
                         rating=rating, answer_count=count,
                         comment="Giao hàng chậm" if rating == 2 else None))
        for direction, when, raw in (("inbound", at("2026-11-02", "11:00"), {}),
                                     ("outbound", at("2026-11-02", "13:30"),
                                      {"staff_id": an.id})):
            s.add(Message(ticket_id=t1.id, envelope_id=uuid.uuid4(), direction=direction,
                          channel="email", external_id=uuid.uuid4().hex, text="Hóa đơn",
                          sent_at=when, received_at=when, raw=raw))


@pytest.fixture
async def seeded(sessions: SessionFactory) -> SessionFactory:
    await _seed(sessions)
    return sessions


async def _report(sessions: SessionFactory, name: str, kind: str, first: str,
                  last: str | None = None, by: str | None = None) -> list[dict[str, Any]]:
    window = parse_window(kind, first, last, date(2026, 12, 2))
    async with sessions() as session:
        return (await build_report(session, name, window, by, CALENDARS)).rows


async def test_sla_across_lunch_weekend_reopening_and_pause(seeded: SessionFactory) -> None:
    [nov] = await _report(seeded, "sla", "month", "2026-11-01")
    assert nov["period"] == "2026-11"
    assert nov["first_response_count"] == 2  # T1, T2; T3's belongs to its earlier cycle
    assert nov["first_response_median_min"] == 75.0
    assert nov["first_response_p90_min"] == 87.0
    assert nov["first_response_within_sla_pct"] == 100.0
    assert nov["resolution_count"] == 4  # 330, 180, 150, 120
    assert nov["resolution_median_min"] == 165.0
    assert nov["resolution_p90_min"] == 285.0
    assert nov["resolution_within_sla_pct"] == 50.0
    assert nov["breaches"] == 1


async def test_sla_across_tet(seeded: SessionFactory) -> None:
    [feb] = await _report(seeded, "sla", "month", "2026-02-01")
    assert (feb["first_response_median_min"], feb["resolution_median_min"]) == (45.0, 300.0)


async def test_volume_by_iso_week(seeded: SessionFactory) -> None:
    w45, w46 = await _report(seeded, "volume", "week", "2026-11-02", "2026-11-09")
    assert w45 == {"period": "2026-W45", "opened": 3, "resolved": 2, "reopened": 1,
                   "backlog": 1, "messages_in": 1, "messages_out": 1}
    assert w46 == {"period": "2026-W46", "opened": 1, "resolved": 2, "reopened": 0,
                   "backlog": 0, "messages_in": 0, "messages_out": 0}


async def test_volume_by_channel(seeded: SessionFactory) -> None:
    rows = await _report(seeded, "volume", "month", "2026-11-01", by="channel")
    opened = {r["channel"]: r["opened"] for r in rows}
    assert opened == {"email": 2, "webform": 1, "zalo": 1}


async def test_officers_sheet(seeded: SessionFactory) -> None:
    rows = {r["officer"]: r for r in await _report(seeded, "officers", "month", "2026-11-01")}
    an, hoa = rows["Nguyễn Văn An"], rows["Trần Thị Hoa"]
    assert (an["tickets_handled"], an["answers"]) == (2, 1)
    assert (an["first_response_median_min"], an["resolution_median_min"]) == (75.0, 255.0)
    assert (an["first_response_within_sla_pct"], an["resolution_within_sla_pct"],
            an["sla_pct"]) == (100.0, 0.0, 0.0)
    assert (hoa["tickets_handled"], hoa["first_response_median_min"],
            hoa["resolution_median_min"], hoa["sla_pct"]) == (2, None, 135.0, 100.0)


async def test_satisfaction(seeded: SessionFactory) -> None:
    [nov] = await _report(seeded, "satisfaction", "month", "2026-11-01")
    assert nov == {"period": "2026-11", "sent": 4, "answered": 3, "response_rate_pct": 75.0,
                   "csat_pct": 66.7, "mean": 3.67, "rated_1": 0, "rated_2": 1, "rated_3": 0,
                   "rated_4": 1, "rated_5": 1}
    by_officer = {r["officer"]: r["csat_pct"] for r in await _report(
        seeded, "satisfaction", "month", "2026-11-01", by="officer")}
    assert by_officer == {"Nguyễn Văn An": 50.0, "Trần Thị Hoa": 100.0}
    # every split the other reports take (the tickets' priority, their customers' tier: none)
    by_priority = {r["priority"]: r["sent"] for r in await _report(
        seeded, "satisfaction", "month", "2026-11-01", by="priority")}
    assert by_priority == {"normal": 4}
    rows = {r["officer"]: r for r in await _report(seeded, "officers", "month", "2026-11-01")}
    assert (rows["Nguyễn Văn An"]["csat_pct"], rows["Nguyễn Văn An"]["low_ratings"]) == (50.0, 1)
    [low] = await _report(seeded, "low-ratings", "month", "2026-11-01")
    assert (low["category"], low["rating"], low["comment"], low["officer"]) == (
        "invoice", 2, "Giao hàng chậm", "Nguyễn Văn An")


def test_windows() -> None:
    today = date(2026, 12, 2)
    assert [p[0] for p in parse_window("month", None, None, today).periods()] == ["2026-12"]
    assert [p[0] for p in parse_window("week", "2026-12-28", "2027-01-04", today).periods()] \
        == ["2026-W53", "2027-W01"]
    day = parse_window("day", "2026-11-02", None, today)
    assert day.starts_at == at("2026-11-02", "00:00") and day.ends_at == at("2026-11-03", "00:00")
    with pytest.raises(ReportError, match="before"):
        parse_window("day", "2026-11-02", "2026-11-01", today)
    with pytest.raises(ReportError, match="period"):
        parse_window("year", None, None, today)


async def test_formats_keep_vietnamese(seeded: SessionFactory) -> None:
    window = parse_window("month", "2026-11-01", None, date(2026, 12, 2))
    async with seeded() as session:
        report = await build_report(session, "officers", window, None, CALENDARS)
    data = render(report, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert {r["officer"] for r in rows} == {"Nguyễn Văn An", "Trần Thị Hoa"}
    book = openpyxl.load_workbook(io.BytesIO(render(report, "xlsx")))
    sheet = book["officers"]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][:3] == ["period", "officer", "tickets_handled"]
    assert ["2026-11", "Nguyễn Văn An", 2] in [r[:3] for r in cells]
    assert "Nguyễn Văn An" in render(report, "json").decode()
    assert "Trần Thị Hoa" in render(report, "table").decode()


def test_cli_report(backend: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    async def seed() -> None:
        engine = create_engine(backend.database_url)
        try:
            await upgrade(engine)
            await _seed(session_factory(engine))
        finally:
            await engine.dispose()

    asyncio.run(seed())
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    assert main(["report", "sla", "--period", "month", "--from", "2026-11-01",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"][0]["resolution_median_min"] == 165.0
    out = tmp_path / "officers.xlsx"
    assert main(["report", "officers", "--from", "2026-11-01", "--format", "xlsx",
                 "--out", str(out)]) == 0
    assert openpyxl.load_workbook(out)["officers"]["B2"].value in {"Nguyễn Văn An",
                                                                  "Trần Thị Hoa"}
    assert main(["report", "volume", "--period", "day", "--from", "2026-11-05",
                 "--to", "2026-11-01"]) == 2
    assert "before" in capsys.readouterr().err
