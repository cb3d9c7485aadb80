"""Maintenance visits falling due: a task ticket for the technical queue before each one, and
the visit's outcome.

An item with a maintenance interval is due every ``maintenance_months`` after its delivery.
``lead_days`` before a due date, the visit is recorded (one per item and date) with a ticket of
kind ``maintenance`` queued in ``technical``, due when the desk closes on the last working day
on or before the date; once, through the processed-event ledger (consumer
``maintenance-tasks``), as care tasks are.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desk.care.tasks import due_at
from desk.directory import DirectoryError
from desk.warranty import add_months, serial_key
from router.business_time import BusinessCalendar
from router.calendars import Calendars, calendar_for
from storage.db import SessionFactory
from storage.ledger import processed, record_processed
from storage.log_events import LogEvent
from storage.models import Ticket
from storage.models_care import MaintenanceVisit, WarrantyItem

log = structlog.get_logger(__name__)
CONSUMER = "maintenance-tasks"
QUEUE = "technical"
_NAMESPACE = uuid.UUID("0b9d7c1e-52a4-4f6b-8e3d-7a1c9f2e4b60")


def visit_event_id(item_id: int, due: date) -> uuid.UUID:
    """The ledger id of one item's visit due on ``due``."""
    return uuid.uuid5(_NAMESPACE, f"maintenance:{item_id}:{due.isoformat()}")


def due_dates(item: WarrantyItem, first: date, last: date) -> list[date]:
    """The item's maintenance due dates within ``first``..``last``."""
    if not item.maintenance_months:
        return []
    out, k = [], 1
    while (due := add_months(item.delivered_on, k * item.maintenance_months)) <= last:
        if due >= first:
            out.append(due)
        k += 1
    return out


class CreateMaintenanceTasks:
    """One pass: every visit due within ``lead_days`` gets its visit row and ticket, once."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime], *,
                 lead_days: int = 7, calendars: Calendars | None = None) -> None:
        self._sessions, self._clock, self._lead = sessions, clock, lead_days
        self._calendar = (BusinessCalendar() if calendars is None
                          else calendar_for(calendars, QUEUE))

    async def run_once(self) -> int:
        """Create the visits and tickets now due; returns how many."""
        now = self._clock()
        today = now.astimezone(self._calendar.tz).date()
        async with self._sessions() as session:
            items = list(await session.scalars(select(WarrantyItem).where(
                WarrantyItem.maintenance_months.is_not(None)).order_by(WarrantyItem.id)))
        made = 0
        for item in items:
            for due in due_dates(item, today, today + timedelta(days=self._lead)):
                made += await self._create(item, due, now)
        return made

    async def _create(self, item: WarrantyItem, due: date, now: datetime) -> int:
        event_id = visit_event_id(item.id, due)
        try:
            async with self._sessions() as session, session.begin():
                if await processed(session, CONSUMER, [event_id]):
                    return 0
                deadline = due_at(due, self._calendar)
                ticket = Ticket(
                    kind="maintenance", status="queued", channel="care",
                    thread_key=f"maintenance:{item.id}:{due.isoformat()}",
                    category="maintenance", priority="normal", queue=QUEUE,
                    customer_id=item.customer_id,
                    subject=f"Bảo trì định kỳ: {item.model} — số serial {item.serial} — "
                            f"hạn {due.strftime('%d/%m/%Y')}"[:500],
                    created_at=now, updated_at=now, first_response_due=deadline,
                    resolution_due=deadline,
                    entities={"serial": item.serial, "model": item.model,
                              "due_on": due.isoformat()})
                session.add(ticket)
                await session.flush()
                session.add(MaintenanceVisit(item_id=item.id, due_on=due, ticket_id=ticket.id))
                await record_processed(session, CONSUMER, [event_id], now)
        except IntegrityError:
            return 0  # another router recorded this visit first
        log.info(LogEvent.MAINTENANCE_TASK_CREATED, ticket_id=ticket.id, serial=item.serial,
                 due_on=due.isoformat())
        return 1


async def record_visit(sessions: SessionFactory, serial: str, due: date, done: date,
                       outcome: str | None, now: datetime) -> MaintenanceVisit:
    """Record that the visit of ``serial`` due on ``due`` took place on ``done``; resolves its
    ticket. ``DirectoryError`` when there is no such visit."""
    async with sessions() as session, session.begin():
        item = await session.scalar(select(WarrantyItem).where(
            WarrantyItem.serial == serial_key(serial)))
        visit = None if item is None else await session.scalar(select(MaintenanceVisit).where(
            MaintenanceVisit.item_id == item.id, MaintenanceVisit.due_on == due))
        if visit is None:
            raise DirectoryError(f"no maintenance visit of {serial!r} due on {due.isoformat()}")
        visit.done_on = done
        visit.outcome = unicodedata.normalize("NFC", outcome or "").strip()[:4000] or None
        if visit.ticket_id is not None:
            ticket = await session.get(Ticket, visit.ticket_id)
            if ticket is not None and ticket.status not in ("resolved", "closed"):
                ticket.status, ticket.resolved_at, ticket.updated_at = "resolved", now, now
        return visit
