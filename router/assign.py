"""``AssignTickets``: ticket events from ``cskh.tickets`` become assignments to officers.

A new ticket goes to its category's queue and to the least-loaded online officer of that queue
who is under capacity; ties go to whoever was assigned least recently (round robin). When
nobody is eligible the ticket waits in the queue (status ``queued``). Follow-up messages of an
assigned ticket stay with its assignee. A redelivered event re-emits the same assignment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from normalizer.events import TicketEvent
from router.events import AssignmentEvent, assignment_event_id
from router.rules import queue_for
from router.staff import open_loads
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.metrics import ASSIGNMENTS, UNASSIGNED
from storage.models import Assignment, ProcessedEvent, Queue, Staff, Ticket, staff_queues

CONSUMER = "router"
ASSIGNABLE = ("new", "queued")
_NEVER = datetime.min.replace(tzinfo=UTC)

Emit = Callable[[Sequence[AssignmentEvent]], Awaitable[None]]
Clock = Callable[[], datetime]
DueDates = Callable[[Ticket], tuple[datetime | None, datetime | None]]

log = structlog.get_logger(__name__)


class _QueueRoster:
    """The eligible officers of one queue and their loads, kept current within a batch."""

    def __init__(self, staff: list[Staff], loads: dict[int, int]) -> None:
        self.staff = staff
        self.loads = loads

    def pick(self) -> Staff | None:
        eligible = [s for s in self.staff if self.loads.get(s.id, 0) < s.capacity]
        if not eligible:
            return None
        return min(eligible, key=lambda s: (self.loads.get(s.id, 0),
                                            s.last_assigned_at or _NEVER, s.id))


class AssignTickets:
    """The router's effect for a batch of serialized ticket events."""

    def __init__(self, sessions: SessionFactory, emit: Emit, clock: Clock, *,
                 overrides: Mapping[str, str] | None = None,
                 due_dates: DueDates | None = None) -> None:
        self._sessions = sessions
        self._emit = emit
        self._clock = clock
        self._overrides = dict(overrides or {})
        self._due_dates = due_dates

    async def __call__(self, payloads: Sequence[bytes]) -> None:
        """Assign every ticket of the batch in one transaction, then emit the assignments."""
        events = [TicketEvent.model_validate_json(p) for p in payloads]
        out: list[AssignmentEvent] = []
        async with self._sessions() as session, session.begin():
            done = set(await session.scalars(
                select(ProcessedEvent.event_id).where(
                    ProcessedEvent.consumer == CONSUMER,
                    ProcessedEvent.event_id.in_([e.event_id for e in events]))
            ))
            rosters: dict[str, _QueueRoster] = {}
            for event in events:
                if event.event_id in done:
                    replay = await self._replay(session, event)
                    if replay is not None:
                        out.append(replay)
                    continue
                done.add(event.event_id)
                made = await self._route(session, event, rosters)
                if made is not None:
                    out.append(made)
                session.add(ProcessedEvent(consumer=CONSUMER, event_id=event.event_id,
                                           processed_at=self._clock()))
        await self._emit(out)

    async def _replay(self, session: AsyncSession, event: TicketEvent) -> AssignmentEvent | None:
        row = (await session.execute(
            select(Assignment, Staff, Ticket)
            .join(Staff, Staff.id == Assignment.staff_id)
            .join(Ticket, Ticket.id == Assignment.ticket_id)
            .where(Assignment.event_id == assignment_event_id(event.event_id))
        )).first()
        if row is None:
            return None
        assignment, staff, ticket = row
        return _assignment_event(assignment, staff, ticket)

    async def _roster(self, session: AsyncSession, queue: str,
                      rosters: dict[str, _QueueRoster]) -> _QueueRoster:
        if queue not in rosters:
            staff = list(await session.scalars(
                select(Staff).join(staff_queues, staff_queues.c.staff_id == Staff.id)
                .join(Queue, Queue.id == staff_queues.c.queue_id)
                .where(Queue.name == queue, Staff.status == "online").order_by(Staff.id)
            ))
            rosters[queue] = _QueueRoster(staff, await open_loads(session, [s.id for s in staff]))
        return rosters[queue]

    async def _route(self, session: AsyncSession, event: TicketEvent,
                     rosters: dict[str, _QueueRoster]) -> AssignmentEvent | None:
        ticket = await session.get(Ticket, event.ticket_id)
        if ticket is None:
            raise LookupError(f"ticket {event.ticket_id} of event {event.event_id} does not exist")
        if ticket.status not in ASSIGNABLE or ticket.assignee_id is not None:
            return None
        now = self._clock()
        queue = queue_for(ticket.category, self._overrides)
        ticket.queue = queue
        if self._due_dates is not None and ticket.first_response_due is None:
            ticket.first_response_due, ticket.resolution_due = self._due_dates(ticket)
        roster = await self._roster(session, queue, rosters)
        staff = roster.pick()
        if staff is None:
            ticket.status = "queued"
            UNASSIGNED.labels(queue).inc()
            log.info(LogEvent.TICKET_QUEUED, ticket_id=ticket.id, queue=queue,
                     channel=ticket.channel)
            return None
        roster.loads[staff.id] = roster.loads.get(staff.id, 0) + 1
        staff.last_assigned_at = now
        ticket.assignee_id = staff.id
        ticket.status = "assigned"
        ticket.updated_at = now
        assignment = Assignment(event_id=assignment_event_id(event.event_id), ticket_id=ticket.id,
                                staff_id=staff.id, queue=queue, reason="least_loaded",
                                assigned_at=now)
        session.add(assignment)
        ASSIGNMENTS.labels(queue).inc()
        log.info(LogEvent.TICKET_ASSIGNED, ticket_id=ticket.id, queue=queue, staff=staff.name,
                 channel=ticket.channel)
        return _assignment_event(assignment, staff, ticket)


def _assignment_event(assignment: Assignment, staff: Staff, ticket: Ticket) -> AssignmentEvent:
    return AssignmentEvent(
        event_id=assignment.event_id, ticket_id=ticket.id, ticket_number=ticket.number,
        staff_id=staff.id, staff_name=staff.name, queue=assignment.queue,
        reason=assignment.reason, assigned_at=assignment.assigned_at,
    )
