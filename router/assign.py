"""``AssignTickets``: ticket events from ``cskh.tickets`` become assignments to officers.

A new ticket goes to its queue (``router.rules.route_queue``: the account's override, then
the channel's queue hint when the category is unsure or ``other``, then the category's
queue): to the account's owner when they are online and on shift (``router.shifts``), serve
that queue and have capacity, else to the least-loaded officer of the queue who is online, on
shift and under capacity; ties go to whoever was assigned least recently (round robin). When
nobody is eligible the ticket waits in the queue (status ``queued``). One batch is one
transaction and a handful of queries. Follow-up messages of an
assigned ticket stay with its assignee. A redelivered event re-emits the same assignment.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from normalizer.events import TicketEvent
from router.actions import resume
from router.calendars import Calendars
from router.deadlines import DEFAULT_CALENDAR, DEFAULT_POLICY, set_deadlines
from router.events import AssignmentEvent, assignment_event_id
from router.rules import route_queue
from router.shifts import on_shift
from router.sla import SlaPolicy
from router.staff import open_loads
from storage.db import SessionFactory
from storage.ledger import processed, record_processed
from storage.log_events import LogEvent
from storage.metrics import ASSIGNMENTS, UNASSIGNED
from storage.models import Assignment, Customer, Staff, Ticket

CONSUMER = "router"
ASSIGNABLE = ("new", "queued")
_NEVER = datetime.min.replace(tzinfo=UTC)

Emit = Callable[[Sequence[AssignmentEvent]], Awaitable[None]]
Clock = Callable[[], datetime]

log = structlog.get_logger(__name__)


class Roster:
    """Officers online and on shift, by queue, and their loads, loaded once and kept current
    within a batch.

    One load table serves every queue, so an officer of two queues is never counted twice.
    """

    def __init__(self, by_queue: dict[str, list[Staff]], loads: dict[int, int]) -> None:
        self.by_queue = by_queue
        self.loads = loads

    @classmethod
    async def load(cls, session: AsyncSession, at: datetime) -> Roster:
        """The officers who may be given tickets at ``at``: online and on shift."""
        by_queue: dict[str, list[Staff]] = {}
        staff = [s for s in await session.scalars(
            select(Staff).where(Staff.status == "online").order_by(Staff.id))
            if on_shift(s.shift, at)]
        for member in staff:
            for queue in member.queues:
                by_queue.setdefault(queue.name, []).append(member)
        return cls(by_queue, await open_loads(session, [s.id for s in staff]))

    def pick(self, queue: str, owner_id: int | None = None) -> tuple[Staff, str] | None:
        """The account owner if on the roster, serving ``queue`` and under capacity; else the
        least-loaded eligible officer (ties: whoever was assigned least recently)."""
        eligible = [s for s in self.by_queue.get(queue, ()) if self.loads[s.id] < s.capacity]
        if not eligible:
            return None
        for member in eligible:
            if member.id == owner_id:
                return member, "account_owner"
        return min(eligible, key=lambda s: (self.loads[s.id], s.last_assigned_at or _NEVER,
                                            s.id)), "least_loaded"


class AssignTickets:
    """The router's effect for a batch of serialized ticket events."""

    def __init__(self, sessions: SessionFactory, emit: Emit, clock: Clock, *,
                 overrides: Mapping[str, str] | None = None,
                 sla: SlaPolicy | None = None,
                 calendar: Calendars | None = None) -> None:
        self._sessions = sessions
        self._emit = emit
        self._clock = clock
        self._overrides = dict(overrides or {})
        self._sla = sla or DEFAULT_POLICY
        self._calendar = calendar or DEFAULT_CALENDAR

    async def __call__(self, payloads: Sequence[bytes]) -> None:
        """Assign every ticket of the batch in one transaction, then emit the assignments.

        Raises ``LookupError`` for an event whose ticket does not exist (a poison event).
        """
        events = [TicketEvent.model_validate_json(p) for p in payloads]
        async with self._sessions() as session, session.begin():
            done = await processed(session, CONSUMER, (e.event_id for e in events))
            fresh: list[TicketEvent] = []
            for event in events:
                if event.event_id not in done:
                    done.add(event.event_id)
                    fresh.append(event)
            made = await self._route(session, fresh) if fresh else {}
            seen = {e.event_id for e in fresh}
            replayed = await self._replay(session, [e for e in events if e.event_id not in seen])
        found = [made.get(e.event_id) or replayed.get(e.event_id) for e in events]
        await self._emit([a for a in found if a is not None])

    async def _replay(self, session: AsyncSession,
                      events: Sequence[TicketEvent]) -> dict[uuid.UUID, AssignmentEvent]:
        if not events:
            return {}
        wanted = {assignment_event_id(e.event_id): e.event_id for e in events}
        rows = (await session.execute(
            select(Assignment, Staff, Ticket)
            .join(Staff, Staff.id == Assignment.staff_id)
            .join(Ticket, Ticket.id == Assignment.ticket_id)
            .where(Assignment.event_id.in_(wanted))
        )).all()
        return {wanted[a.event_id]: _assignment_event(a, s, t) for a, s, t in rows}

    async def _route(self, session: AsyncSession,
                     events: Sequence[TicketEvent]) -> dict[uuid.UUID, AssignmentEvent]:
        tickets = {t.id: t for t in await session.scalars(
            select(Ticket).where(Ticket.id.in_({e.ticket_id for e in events})))}
        missing = [e for e in events if e.ticket_id not in tickets]
        if missing:
            raise LookupError(f"ticket {missing[0].ticket_id} of event {missing[0].event_id} "
                              "does not exist")
        now = self._clock()
        accounts = await accounts_of(session, {t.customer_id for t in tickets.values()})
        roster: Roster | None = None
        out: dict[uuid.UUID, AssignmentEvent] = {}
        await record_processed(session, CONSUMER, (e.event_id for e in events), now)
        for event in events:
            ticket = tickets[event.ticket_id]
            if event.kind != "created" and ticket.status == "waiting":
                await resume(session, ticket, now, calendar=self._calendar)  # clocks run again
            if event.kind == "reopened":  # the customer came back: the clocks start again
                set_deadlines(ticket, accounts.get(ticket.customer_id or 0, (None,))[0],
                              policy=self._sla, calendar=self._calendar,
                              start=ticket.reopened_at or now)
            if ticket.status not in ASSIGNABLE or ticket.assignee_id is not None:
                continue  # follow-ups stay with the ticket's assignee
            tier, owner_id, own_queues = accounts.get(ticket.customer_id or 0, (None, None, {}))
            queue = route_queue(ticket.category, configured=self._overrides, account=own_queues,
                                hint=ticket.queue_hint, confident=not ticket.needs_review)
            ticket.queue = queue
            if tier == "key" and ticket.priority in ("normal", "low"):
                ticket.priority = "high"  # key accounts are never left waiting behind others
            if ticket.first_response_due is None:
                set_deadlines(ticket, tier,
                              policy=self._sla, calendar=self._calendar)
            roster = roster or await Roster.load(session, now)
            picked = roster.pick(queue, owner_id)
            if picked is None:
                ticket.status = "queued"
                UNASSIGNED.labels(queue).inc()
                log.info(LogEvent.TICKET_QUEUED, ticket_id=ticket.id, queue=queue,
                         channel=ticket.channel)
                continue
            staff, reason = picked
            roster.loads[staff.id] += 1
            staff.last_assigned_at = now
            ticket.assignee_id = staff.id
            ticket.status = "assigned"
            ticket.updated_at = now
            assignment = Assignment(event_id=assignment_event_id(event.event_id),
                                    ticket_id=ticket.id, staff_id=staff.id, queue=queue,
                                    reason=reason, assigned_at=now)
            session.add(assignment)
            ASSIGNMENTS.labels(queue).inc()
            log.info(LogEvent.TICKET_ASSIGNED, ticket_id=ticket.id, queue=queue,
                     staff=staff.name, channel=ticket.channel)
            out[event.event_id] = _assignment_event(assignment, staff, ticket)
        return out


Account = tuple[str | None, int | None, dict[str, str]]


async def accounts_of(session: AsyncSession, ids: set[int | None]) -> dict[int, Account]:
    """(tier, owner id, category → queue overrides) of each customer in ``ids``."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.tier, Customer.owner_id, Customer.queue_overrides)
        .where(Customer.id.in_(wanted)))
    return {cid: (tier, owner, dict(queues or {})) for cid, tier, owner, queues in rows.all()}


def _assignment_event(assignment: Assignment, staff: Staff, ticket: Ticket) -> AssignmentEvent:
    return AssignmentEvent(
        event_id=assignment.event_id, ticket_id=ticket.id, ticket_number=ticket.number,
        staff_id=staff.id, staff_name=staff.name, queue=assignment.queue,
        reason=assignment.reason, assigned_at=assignment.assigned_at,
    )
