"""Per-queue SLA calendars: the configuration, its errors, and deadlines, sweeps and
assignment on each queue's hours (injected clocks; the database tests on both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.settings import Settings, load_settings
from normalizer.events import TicketEvent
from router.assign import AssignTickets
from router.calendars import QueueCalendars, QueueCalendarSpec
from router.deadlines import set_deadlines
from router.events import AssignmentEvent
from router.staff import add_staff
from router.sweeper import SweepSla
from storage.db import SessionFactory
from storage.models import Ticket

VN = timedelta(hours=7)
SPECS = {
    "warehouse": QueueCalendarSpec(days="mon-sat", hours=["07:00-12:00", "13:00-17:30"]),
    "accounting": QueueCalendarSpec(days="mon-fri"),
}
CALENDARS = QueueCalendars.from_specs(SPECS)


def vn(day: int, hour: int, minute: int = 0) -> datetime:
    """Hồ Chí Minh City time on day ``day`` of November 2026 (the 27th is a Friday), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - VN


FRIDAY_1650 = vn(27, 16, 50)


def ticket(queue: str, created: datetime = FRIDAY_1650, priority: str = "urgent") -> Ticket:
    return Ticket(public_id=uuid.uuid4(), channel="zalo", thread_key=str(uuid.uuid4()),
                  status="assigned", category="other", priority=priority, queue=queue,
                  created_at=created, updated_at=created)


def test_the_short_form_becomes_a_calendar() -> None:
    warehouse, accounting = CALENDARS.queues["warehouse"], CALENDARS.queues["accounting"]
    assert warehouse.weekdays == frozenset(range(6))
    assert [(s.start, s.end) for s in warehouse.shifts] == [
        (time(7), time(12)), (time(13), time(17, 30))]
    assert accounting.weekdays == frozenset(range(5))
    assert accounting.shifts == CALENDARS.default.shifts  # unset: the design's hours
    assert accounting.holiday_country == "VN"
    assert CALENDARS.for_queue("sales") == CALENDARS.default
    assert CALENDARS.for_queue(None) == CALENDARS.default


@pytest.mark.parametrize(("queue", "first_response_due"), [
    ("accounting", vn(30, 7, 50)),  # 10 min on Friday, closed at weekends, 20 min Monday
    ("warehouse", vn(27, 17, 20)),  # open until 17:30 on Fridays
    ("cskh", vn(28, 7, 50)),        # the design's calendar: Saturday morning
])
def test_deadlines_run_on_the_queue_calendar(queue: str, first_response_due: datetime) -> None:
    row = ticket(queue)
    set_deadlines(row, calendar=CALENDARS)
    assert row.first_response_due == first_response_due


@pytest.mark.parametrize(("spec", "message"), [
    ({"days": "mon-xyz"}, "'mon-xyz' is not a day or a range of days like mon-sat"),
    ({"days": "sat-mon"}, "'sat-mon' runs backwards"),
    ({"hours": ["7-12"]}, "'7-12' is not a period like 07:30-11:30"),
    ({"hours": ["25:00-26:00"]}, "'25:00-26:00'"),
    ({"hours": ["12:00-07:00"]}, "'12:00-07:00' must end after it starts"),
    ({"hours": "07:00-12:00,11:00-17:00"}, "shifts overlap"),
    ({"hours": []}, "at least 1 item"),
    ({"timezone": "Asia/Hanoi_City"}, "unknown time zone 'Asia/Hanoi_City'"),
    ({"holidays": "XX"}, "the holidays package has no country 'XX'"),
    ({"day": "mon-fri"}, "Extra inputs are not permitted"),
])
def test_a_bad_calendar_is_refused_with_the_reason(spec: dict[str, object],
                                                   message: str) -> None:
    with pytest.raises(ValidationError, match=r"queue_calendars\.warehouse") as caught:
        Settings(queue_calendars={"warehouse": spec})
    assert message in str(caught.value)


def test_calendars_from_the_environment_and_the_toml_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_QUEUE_CALENDARS",
                       '{"accounting": {"days": "mon-fri", "closed": ["2026-12-31"]}}')
    from_env = Settings().calendars
    assert from_env.for_queue("accounting").weekdays == frozenset(range(5))
    assert from_env.for_queue("accounting").extra_closed_dates == {
        datetime(2026, 12, 31).date()}
    monkeypatch.delenv("CSKH_QUEUE_CALENDARS")
    config = tmp_path / "cskh.toml"
    config.write_text('[queue_calendars.warehouse]\ndays = "mon-sat"\n'
                      'hours = ["07:00-12:00", "13:00-17:30"]\n'
                      '[queue_calendars.technical]\nholidays = "none"\n', encoding="utf-8")
    from_file = load_settings(config).calendars
    assert from_file.for_queue("warehouse") == CALENDARS.queues["warehouse"]
    assert from_file.for_queue("technical").holiday_country is None
    assert Settings().calendars == QueueCalendars()  # nothing configured: the default


async def test_the_sweeper_reads_each_ticket_on_its_queue_calendar(
        sessions: SessionFactory) -> None:
    async with sessions() as session, session.begin():
        rows = {q: ticket(q) for q in ("accounting", "cskh")}
        for row in rows.values():
            set_deadlines(row, calendar=CALENDARS)
            session.add(row)
    saturday_10 = vn(28, 10)
    made = await SweepSla(sessions, lambda: saturday_10, calendar=CALENDARS).run_once()
    # cskh works on Saturdays: its 30 minutes ran out at 07:50; accounting is closed.
    assert {(e.ticket_id, e.clock, e.kind) for e in made} == {
        (rows["cskh"].id, "first_response", "breach")}


class Emitted:
    def __init__(self) -> None:
        self.events: list[AssignmentEvent] = []

    async def __call__(self, events: Sequence[AssignmentEvent]) -> None:
        self.events.extend(events)


async def test_assignment_sets_deadlines_on_the_queue_calendar(
        sessions: SessionFactory) -> None:
    async with sessions() as session, session.begin():
        await add_staff(session, "ke-toan", ["accounting"])
        row = Ticket(public_id=uuid.uuid4(), channel="email", thread_key="hd", status="new",
                     category="invoice", priority="urgent", created_at=FRIDAY_1650,
                     updated_at=FRIDAY_1650)
        session.add(row)
        await session.flush()
        ticket_id = row.id
    emitted = Emitted()
    assign = AssignTickets(sessions, emitted, lambda: FRIDAY_1650, calendar=CALENDARS)
    await assign([TicketEvent(
        event_id=uuid.uuid4(), kind="created", ticket_id=ticket_id, message_id=1,
        envelope_id=uuid.uuid4(), channel="email", thread_key="hd", category="invoice",
        priority="urgent", sentiment="neutral", customer_id=None, created_at=FRIDAY_1650,
    ).model_dump_json().encode()])
    async with sessions() as session:
        stored = await session.get(Ticket, ticket_id)
        assert stored is not None
        assert (stored.queue, stored.first_response_due) == ("accounting", vn(30, 7, 50))
    assert [e.queue for e in emitted.events] == ["accounting"]
