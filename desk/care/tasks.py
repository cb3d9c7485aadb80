"""Care tasks: the approved plan's entries reach their officer's queue as task tickets, and
their outcome is recorded.

``lead_days`` before its date, each entry of an approved plan becomes one ticket of kind
``care`` (not a customer's matter: reports leave it out) assigned to the entry's officer in
their queue, or waiting in ``cskh`` when the account has no owner, due at the end of the last
working hour on or before the entry's date. Once: the entry's id names an event in the
processed-event ledger (consumer ``care-tasks``), written in the ticket's own transaction, so
a crash, a restart or a second router never makes a second ticket.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from desk.care.occasions import occasions
from desk.care.plan import PlanError, occasion_label
from router.business_time import BusinessCalendar
from router.calendars import Calendars, calendar_for
from router.staff import find_staff
from storage.db import SessionFactory
from storage.ledger import processed, record_processed
from storage.log_events import LogEvent
from storage.models import Assignment, Customer, Staff, Ticket
from storage.models_care import CareEntry, CarePlan

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]
CONSUMER = "care-tasks"
DEFAULT_QUEUE = "cskh"
_NAMESPACE = uuid.UUID("6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b")
ACTIONS_VI = {"call": "Gọi điện", "email": "Gửi e-mail", "visit": "Thăm", "gift": "Tặng quà"}


def task_event_id(entry_id: int) -> uuid.UUID:
    """The ledger id of an entry's task: the same on every pass and every process."""
    return uuid.uuid5(_NAMESPACE, f"care-entry:{entry_id}")


def due_at(day: date, calendar: BusinessCalendar) -> datetime:
    """The end of the last working period on or before ``day`` (an occasion on a Sunday or a
    holiday is prepared the working day before), as an aware instant."""
    for back in range(0, 31):
        shifts = calendar.shifts_on(day - timedelta(days=back))
        if shifts:
            end = max(s.end for s in shifts)
            return datetime.combine(day - timedelta(days=back), end, tzinfo=calendar.tz)
    return datetime.combine(day, time(17), tzinfo=calendar.tz)


def subject(entry: CareEntry, account: str, label: str) -> str:
    """The task's subject officers read in their queue."""
    gift = f" ({entry.gift})" if entry.gift else ""
    return f"Chăm sóc khách hàng: {ACTIONS_VI.get(entry.action, entry.action)}{gift} — {label}" \
           f" — {account}"[:500]


@dataclass
class CareTaskPolicy:
    """How far ahead tasks appear and whose working hours set their deadline."""

    lead_days: int = 7
    calendars: Calendars | None = None
    batch: int = 200


class CreateCareTasks:
    """One pass: every entry of an approved plan within ``lead_days`` of its date and without
    a task gets one."""

    def __init__(self, sessions: SessionFactory, clock: Clock,
                 policy: CareTaskPolicy | None = None) -> None:
        self._sessions, self._clock = sessions, clock
        self._policy = policy or CareTaskPolicy()

    def _calendar(self, queue: str) -> BusinessCalendar:
        if self._policy.calendars is None:
            return BusinessCalendar()
        return calendar_for(self._policy.calendars, queue)

    async def run_once(self) -> int:
        """Create the tasks now due; returns how many were created."""
        now = self._clock()
        today = now.astimezone(self._calendar(DEFAULT_QUEUE).tz).date()
        horizon = today + timedelta(days=self._policy.lead_days)
        async with self._sessions() as session:
            due = list((await session.execute(
                select(CareEntry.id).join(CarePlan, CarePlan.id == CareEntry.plan_id)
                .where(CarePlan.state == "approved", CareEntry.ticket_id.is_(None),
                       CareEntry.status == "planned", CareEntry.on_date <= horizon,
                       CareEntry.on_date >= today - timedelta(days=self._policy.lead_days))
                .order_by(CareEntry.on_date, CareEntry.id).limit(self._policy.batch)
            )).scalars())
        made = 0
        for entry_id in due:
            made += await self._create(entry_id, now)
        return made

    async def _create(self, entry_id: int, now: datetime) -> int:
        event_id = task_event_id(entry_id)
        try:
            async with self._sessions() as session, session.begin():
                if await processed(session, CONSUMER, [event_id]):
                    return 0
                entry = await session.get(CareEntry, entry_id, with_for_update=True)
                if entry is None or entry.ticket_id is not None:
                    return 0
                ticket = await self._ticket(session, entry, now)
                entry.ticket_id = ticket.id
                await record_processed(session, CONSUMER, [event_id], now)
        except IntegrityError:
            return 0  # another router made it first: its transaction won the ledger row
        log.info(LogEvent.CARE_TASK_CREATED, ticket_id=ticket.id, entry_id=entry_id,
                 queue=ticket.queue)
        return 1

    async def _ticket(self, session: AsyncSession, entry: CareEntry, now: datetime) -> Ticket:
        customer = await session.get(Customer, entry.customer_id)
        officer = await session.get(Staff, entry.officer_id) if entry.officer_id else None
        queues = [q.name for q in officer.queues] if officer is not None else []
        queue = DEFAULT_QUEUE if not queues or DEFAULT_QUEUE in queues else queues[0]
        plan = await session.get(CarePlan, entry.plan_id)
        labels = {o.key: o.label for o in occasions(plan.year)} if plan else {}
        due = due_at(entry.on_date, self._calendar(queue))
        ticket = Ticket(
            kind="care", status="assigned" if officer else "queued", channel="care",
            thread_key=f"care:{entry.id}", category="other", priority="normal",
            queue=queue, assignee_id=officer.id if officer else None,
            customer_id=entry.customer_id,
            subject=subject(entry, customer.name if customer else "?",
                            occasion_label(entry.occasion, labels)),
            created_at=now, updated_at=now, first_response_due=due, resolution_due=due,
            entities={"care_entry": entry.id, "occasion": entry.occasion,
                      "date": entry.on_date.isoformat(), "action": entry.action,
                      "gift": entry.gift, "planned_value": entry.planned_value})
        session.add(ticket)
        await session.flush()
        if officer is not None:
            session.add(Assignment(event_id=task_event_id(entry.id), ticket_id=ticket.id,
                                   staff_id=officer.id, queue=queue, reason="care_plan",
                                   assigned_at=now))
        return ticket


OUTCOMES = ("done", "skipped")


async def record_outcome(session: AsyncSession, entry_id: int, by: str, *, status: str = "done",
                         spent: int | None = None, gift_sent: bool = False,
                         words: str | None = None, now: datetime) -> CareEntry:
    """Record how an entry went (``done`` or ``skipped``), what it really cost (đồng, counted
    against the budget) and the customer's words; resolves its task ticket. Recording again
    replaces the outcome. Only the entry's officer, a lead or an admin records it."""
    if status not in OUTCOMES:
        raise PlanError(f"an outcome is {' or '.join(OUTCOMES)}, not {status!r}")
    if spent is not None and spent < 0:
        raise PlanError("the cost spent cannot be negative")
    entry = await session.get(CareEntry, entry_id)
    if entry is None:
        raise PlanError(f"no care entry {entry_id}")
    staff = await find_staff(session, by)
    if staff.id != entry.officer_id and staff.role not in ("lead", "admin"):
        raise PlanError(f"{staff.name} is not the officer of entry {entry_id} "
                        "(nor a lead or admin)")
    entry.status, entry.spent, entry.gift_sent = status, spent, gift_sent
    said = unicodedata.normalize("NFC", words or "").strip()
    entry.customer_words = said[:4000] or None
    entry.outcome_at, entry.outcome_by = now, staff.id
    if entry.ticket_id is not None:
        ticket = await session.get(Ticket, entry.ticket_id)
        if ticket is not None and ticket.status not in ("resolved", "closed"):
            ticket.status, ticket.resolved_at, ticket.updated_at = "resolved", now, now
            ticket.first_responded_at = ticket.first_responded_at or now
    await session.flush()
    return entry
