"""``Rebalance``: hand back what absent officers have not started, and place queued tickets.

An officer who has been ``away`` or ``off``, or off shift (``router.shifts``), for longer than
the grace period gives back their tickets that have no first response yet; those, and every
other ``queued`` ticket, go to the account owner or the least-loaded officer of their queue who
is online and on shift, oldest due first, so a shift that starts takes the backlog at the next
pass. Driven one step at a time with ``run_once`` and an injected clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select

from router.assign import Roster, accounts_of
from router.shifts import off_shift_since
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.metrics import ASSIGNMENTS
from storage.models import Assignment, Staff, Ticket

log = structlog.get_logger(__name__)


class Rebalance:
    """One pass of releasing and placing."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime], *,
                 grace: timedelta = timedelta(minutes=15), limit: int = 500) -> None:
        self._sessions = sessions
        self._clock = clock
        self._grace = grace
        self._limit = limit

    async def run_once(self) -> tuple[int, int]:
        """(tickets released, tickets assigned) by this pass."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            absent = and_(Staff.status.in_(("away", "off")),
                          Staff.status_changed_at <= now - self._grace)
            off_shift = {staff_id for staff_id, spec in (await session.execute(
                select(Staff.id, Staff.shift).where(Staff.shift.is_not(None)))).all()
                if off_shift_since(spec, now, self._grace)}
            released = list(await session.scalars(
                select(Ticket).join(Staff, Staff.id == Ticket.assignee_id).where(
                    Ticket.status == "assigned", Ticket.first_responded_at.is_(None),
                    or_(absent, Staff.id.in_(off_shift)) if off_shift else absent)
                .order_by(Ticket.id)
                .limit(self._limit).with_for_update(of=Ticket, skip_locked=True)))
            for ticket in released:
                reason = "released_off_shift" if ticket.assignee_id in off_shift \
                    else "released_absent"
                log.info(LogEvent.TICKET_RELEASED, ticket_id=ticket.id,
                         staff_id=ticket.assignee_id, queue=ticket.queue, reason=reason)
                session.add(Assignment(event_id=uuid.uuid4(), ticket_id=ticket.id,
                                       staff_id=None, queue=ticket.queue or "cskh",
                                       reason=reason, assigned_at=now))
                ticket.assignee_id, ticket.status, ticket.updated_at = None, "queued", now
            await session.flush()
            waiting = list(await session.scalars(
                select(Ticket).where(Ticket.status == "queued", Ticket.assignee_id.is_(None))
                .order_by(Ticket.first_response_due.is_(None), Ticket.first_response_due,
                          Ticket.id)
                .limit(self._limit).with_for_update(skip_locked=True)))
            if not waiting:
                return len(released), 0
            roster = await Roster.load(session, now)
            owners = await accounts_of(session, {t.customer_id for t in waiting})
            placed = 0
            for ticket in waiting:
                owner = owners.get(ticket.customer_id or 0, (None, None, {}))[1]
                picked = roster.pick(ticket.queue or "cskh", owner)
                if picked is None:
                    continue
                staff, reason = picked
                roster.loads[staff.id] += 1
                staff.last_assigned_at = now
                ticket.assignee_id, ticket.status, ticket.updated_at = staff.id, "assigned", now
                session.add(Assignment(event_id=uuid.uuid4(), ticket_id=ticket.id,
                                       staff_id=staff.id, queue=ticket.queue or "cskh",
                                       reason=f"backlog_{reason}", assigned_at=now))
                ASSIGNMENTS.labels(ticket.queue or "cskh").inc()
                placed += 1
            return len(released), placed
