"""``SweepSla``: find tickets whose SLA clocks reach 80% of their budget or run out.

Each (ticket, clock, kind) is recorded once per SLA cycle as an ``SlaEvent`` — which the staff
stream shows to the assignee and to the queue's leads — and raises the ticket's priority one
step. A ticket's cycle is its ``reopen_count``: a reopened ticket's clocks run afresh from
``reopened_at`` and warn and breach again; the old cycle's events do not suppress them. Paused
time (waiting on the customer) does not count. Driven one step at a time with ``run_once`` and
an injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy import select

from router.calendars import Calendars, calendar_for
from router.deadlines import DEFAULT_CALENDAR
from router.sla import sla_state
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.metrics import SLA_EVENTS
from storage.models import SlaEvent, SlaPause, Ticket

WATCHED = ("new", "queued", "assigned", "open")
RAISED = {"low": "normal", "normal": "high", "high": "urgent", "urgent": "urgent"}

log = structlog.get_logger(__name__)


class SweepSla:
    """One sweep over the open tickets' SLA clocks."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime], *,
                 calendar: Calendars = DEFAULT_CALENDAR,
                 warning_fraction: float = 0.8) -> None:
        self._sessions = sessions
        self._clock = clock
        self._calendar = calendar
        self._warning = warning_fraction

    async def run_once(self) -> list[SlaEvent]:
        """Record the warnings and breaches reached since the last sweep; returns them."""
        now = self._clock()
        made: list[SlaEvent] = []
        async with self._sessions() as session, session.begin():
            tickets = list(await session.scalars(select(Ticket).where(
                Ticket.status.in_(WATCHED), Ticket.resolution_due.is_not(None))))
            if not tickets:
                return []
            ids = [t.id for t in tickets]
            seen = {(t, c, k, n) for t, c, k, n in await session.execute(
                select(SlaEvent.ticket_id, SlaEvent.clock, SlaEvent.kind, SlaEvent.cycle)
                .where(SlaEvent.ticket_id.in_(ids)))}
            pauses: dict[int, list[tuple[datetime, datetime]]] = {}
            for pause in await session.scalars(select(SlaPause).where(
                    SlaPause.ticket_id.in_(ids))):
                pauses.setdefault(pause.ticket_id, []).append(
                    (pause.started_at, pause.ended_at or now))
            for ticket in tickets:
                clocks = [("resolution", ticket.resolution_due)]
                if ticket.first_responded_at is None:
                    clocks.insert(0, ("first_response", ticket.first_response_due))
                for clock, due in clocks:
                    if due is None:
                        continue
                    status = sla_state(now, ticket.sla_started_at, due,
                                       calendar_for(self._calendar, ticket.queue),
                                       pauses.get(ticket.id, ()),
                                       warning_fraction=self._warning)
                    kind = {"warning": "warning", "breached": "breach"}.get(status.state)
                    if kind is None:
                        continue
                    key = (ticket.id, clock, kind, ticket.reopen_count)
                    if key in seen:
                        continue
                    seen.add(key)
                    event = SlaEvent(ticket_id=ticket.id, queue=ticket.queue,
                                     assignee_id=ticket.assignee_id, clock=clock, kind=kind,
                                     fraction=round(status.fraction, 4), at=now,
                                     cycle=ticket.reopen_count)
                    session.add(event)
                    made.append(event)
                    ticket.priority = RAISED.get(ticket.priority, ticket.priority)
                    ticket.updated_at = now
                    SLA_EVENTS.labels(kind, clock).inc()
                    log.warning(LogEvent.SLA_BREACHED if kind == "breach"
                                else LogEvent.SLA_WARNING, ticket_id=ticket.id,
                                queue=ticket.queue, clock=clock,
                                used=round(status.fraction, 2), priority=ticket.priority)
        return made
