"""What officers do to tickets: claim, relabel, reply, note, wait on the customer, resume,
resolve, reopen, reassign.

Each function works inside the caller's transaction and raises ``ActionError`` (with an HTTP
status) when the action is not allowed; none of them commits or talks to the bus.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from normalizer.events import CALLBACK_NEEDED
from normalizer.threads import DEFAULT_MAIL_DOMAIN
from router.calendars import Calendars
from router.deadlines import DEFAULT_CALENDAR, set_deadlines
from router.events import OutboundMessage
from router.outbound_mail import bare, reply_headers
from router.outbox import outbound_event
from router.rules import CATEGORIES, queue_for
from router.shifts import on_shift
from router.staff import ACTIVE_TICKET_STATUSES, STATUSES, StaffError, find_staff, open_loads
from storage.models import (
    Assignment,
    Contact,
    Customer,
    LabelCorrection,
    Message,
    SlaPause,
    Staff,
    Ticket,
)

PRIORITIES = ("urgent", "high", "normal", "low")
CLOSED = ("resolved", "closed")
# A message's ``direction``: from the customer, a reply to them, or an internal note (staff only;
# never an event on ``cskh.outbound``, never a first response, never counted as a reply).
DIRECTIONS = ("inbound", "outbound", "note")
MAX_NOTE = 20_000


class ActionError(Exception):
    """An action refused; ``status`` is the HTTP answer."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


def _serves(staff: Staff, queue: str | None) -> bool:
    return queue is not None and queue in {q.name for q in staff.queues}


def may_act(staff: Staff, ticket: Ticket) -> bool:
    """Whether ``staff`` may change ``ticket``: its assignee, a lead of its queue, an admin."""
    if staff.role == "admin" or ticket.assignee_id == staff.id:
        return True
    return staff.role == "lead" and _serves(staff, ticket.queue)


async def _tier(session: AsyncSession, ticket: Ticket) -> str | None:
    if ticket.customer_id is None:
        return None
    return await session.scalar(select(Customer.tier).where(Customer.id == ticket.customer_id))


def _require_open(ticket: Ticket) -> None:
    if ticket.status in CLOSED:
        raise ActionError(409, "ticket_closed", f"ticket {ticket.number} is {ticket.status}")


async def _assign(session: AsyncSession, ticket: Ticket, staff: Staff, reason: str,
                  now: datetime) -> None:
    ticket.assignee_id = staff.id
    ticket.status = "assigned" if ticket.first_responded_at is None else "open"
    ticket.updated_at = now
    staff.last_assigned_at = now
    session.add(Assignment(event_id=uuid.uuid4(), ticket_id=ticket.id, staff_id=staff.id,
                           queue=ticket.queue or "cskh", reason=reason, assigned_at=now))


async def claim(session: AsyncSession, staff: Staff, ticket: Ticket, now: datetime) -> None:
    """Take an unassigned ticket of one of one's queues (within capacity)."""
    _require_open(ticket)
    if ticket.assignee_id == staff.id:
        return
    if ticket.assignee_id is not None:
        raise ActionError(409, "already_assigned", "the ticket is assigned to someone else")
    if not (_serves(staff, ticket.queue) or staff.role == "admin"):
        raise ActionError(403, "not_your_queue", "the ticket is not in one of your queues")
    load = (await open_loads(session, [staff.id]))[staff.id]
    if load >= staff.capacity:
        raise ActionError(409, "at_capacity", f"you hold {load} of {staff.capacity} tickets")
    await _assign(session, ticket, staff, "claimed", now)


async def relabel(session: AsyncSession, staff: Staff, ticket: Ticket, *,
                  category: str | None, priority: str | None, now: datetime,
                  calendar: Calendars = DEFAULT_CALENDAR) -> None:
    """Correct the category and/or priority; the correction becomes a training example."""
    if category is not None and category not in CATEGORIES:
        raise ActionError(400, "invalid_category", f"category must be one of {CATEGORIES}")
    if priority is not None and priority not in PRIORITIES:
        raise ActionError(400, "invalid_priority", f"priority must be one of {PRIORITIES}")
    if not may_act(staff, ticket):
        raise ActionError(403, "not_allowed", "only the assignee or a lead may relabel")
    previous = {"category": ticket.category, "priority": ticket.priority}
    queue = ticket.queue
    if category is not None:
        ticket.category = category
        ticket.queue = queue_for(category)
        ticket.needs_review = False
    if (priority is not None and priority != ticket.priority) or ticket.queue != queue:
        ticket.priority = priority or ticket.priority
        waits = await _pause_spans(session, ticket, now)  # waits on the customer still count
        set_deadlines(ticket, await _tier(session, ticket), waits, calendar=calendar)
    ticket.updated_at = now
    first = await session.scalar(select(Message).where(
        Message.ticket_id == ticket.id, Message.direction == "inbound").order_by(Message.id))
    text = "\n".join(p for p in (ticket.subject, first.text if first else "") if p)
    session.add(LabelCorrection(
        ticket_id=ticket.id, staff_id=staff.id, channel=ticket.channel, text=text,
        category=ticket.category, priority=ticket.priority, sentiment=ticket.sentiment,
        previous=previous, created_at=now))


async def reply(session: AsyncSession, staff: Staff, ticket: Ticket, text: str,
                now: datetime, *, mail_domain: str = DEFAULT_MAIL_DOMAIN,
                envelope_id: uuid.UUID | None = None) -> OutboundMessage:
    """Store an outbound message; the caller emits the returned event on ``cskh.outbound``.

    ``envelope_id``: the message's public id (a new one when None); a caller that derives it
    from an idempotency key makes a second store of the same reply fail on its unique index.

    On an e-mail ticket the reply gets our own Message-ID (``cskh.{ticket}.{token}@``
    ``mail_domain``), stored as the message's ``external_id`` so the customer's answer threads
    back, plus In-Reply-To/References of the customer's latest message and a subject with the
    ticket tag; all of it travels in the event's ``email``.
    """
    _require_open(ticket)
    if not may_act(staff, ticket):
        raise ActionError(403, "not_allowed", "only the assignee or a lead may reply")
    if ticket.channel == "hotline":  # router.callbacks
        raise ActionError(409, "call_back", "a hotline ticket is answered by calling back: "
                          "call the customer and record the outcome (callback)")
    if not text.strip():
        raise ActionError(400, "empty_reply", "the reply has no text")
    recent_in = list(await session.scalars(select(Message).where(
        Message.ticket_id == ticket.id, Message.direction == "inbound")
        .order_by(Message.id.desc()).limit(10)))
    # the customer's latest own message: not an out-of-office or a bounce
    last_in = next((m for m in recent_in if not (m.raw or {}).get("auto")),
                   recent_in[0] if recent_in else None)
    contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    public_id = envelope_id or uuid.uuid4()
    mail = reply_headers(ticket, last_in, mail_domain) if ticket.channel == "email" else None
    message = Message(
        ticket_id=ticket.id, envelope_id=public_id, direction="outbound", channel=ticket.channel,
        external_id=bare(mail.message_id) if mail else f"cskh-{public_id}",
        sender_name=staff.name, subject=mail.subject if mail else ticket.subject,
        text=text, attachments={"files": []},
        in_reply_to=last_in.external_id if last_in else None, sent_at=now, received_at=now,
        delivery_status="pending", delivery_updated_at=now,
        raw={"staff_id": staff.id, "emitted": False, **({"headers": {
            "message_id": bare(mail.message_id), "in_reply_to": bare(mail.in_reply_to),
            "references": [r.strip("<>") for r in (mail.references or "").split()],
            "subject": mail.subject}} if mail else {})})
    session.add(message)
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
    if ticket.status in ("new", "queued", "assigned"):
        ticket.status = "open"
    ticket.updated_at = now
    await session.flush()
    return outbound_event(ticket, message, contact)


async def note(session: AsyncSession, staff: Staff, ticket: Ticket, text: str,
               now: datetime) -> Message:
    """Store an internal note on ``ticket`` (any officer who sees it, open or closed).

    A note is a message of direction ``note``: shown to staff in the thread, never sent to the
    customer (no outbound event is built for it and the outbox only emits ``outbound``
    replies), and it changes neither the status nor the SLA clocks.
    """
    if not text.strip():
        raise ActionError(400, "empty_note", "the note has no text")
    if len(text) > MAX_NOTE:
        raise ActionError(400, "note_too_long", f"the note is over {MAX_NOTE} characters")
    public_id = uuid.uuid4()
    message = Message(
        ticket_id=ticket.id, envelope_id=public_id, direction="note", channel=ticket.channel,
        external_id=f"cskh-note-{public_id}", sender_name=staff.name, text=text,
        attachments={"files": []}, sent_at=now, received_at=now, raw={"staff_id": staff.id})
    session.add(message)
    await session.flush()
    return message


async def wait_on_customer(session: AsyncSession, staff: Staff, ticket: Ticket,
                           now: datetime) -> None:
    """Pause the SLA clocks until the customer answers (or an officer resumes)."""
    _require_open(ticket)
    if not may_act(staff, ticket):
        raise ActionError(403, "not_allowed", "only the assignee or a lead may do that")
    if ticket.status != "waiting":
        ticket.status = "waiting"
        ticket.updated_at = now
        session.add(SlaPause(ticket_id=ticket.id, started_at=now))


async def _pause_spans(session: AsyncSession, ticket: Ticket,
                       now: datetime) -> list[tuple[datetime, datetime]]:
    """The ticket's waits on the customer; one still going counts until ``now``."""
    pauses = await session.scalars(select(SlaPause).where(SlaPause.ticket_id == ticket.id))
    return [(p.started_at, p.ended_at or now) for p in pauses]


async def resume(session: AsyncSession, ticket: Ticket, now: datetime, *,
                 calendar: Calendars = DEFAULT_CALENDAR) -> None:
    """End a wait: the clocks run again and the deadlines move by the paused business time."""
    if ticket.status != "waiting":
        return
    for pause in await session.scalars(select(SlaPause).where(
            SlaPause.ticket_id == ticket.id, SlaPause.ended_at.is_(None))):
        pause.ended_at = now
    set_deadlines(ticket, await _tier(session, ticket), await _pause_spans(session, ticket, now),
                  calendar=calendar)
    ticket.status = "open" if ticket.assignee_id else "queued"
    ticket.updated_at = now


async def resolve(session: AsyncSession, staff: Staff, ticket: Ticket, now: datetime, *,
                  calendar: Calendars = DEFAULT_CALENDAR) -> None:
    """Mark the ticket resolved; a later customer message opens a new ticket or reopens it."""
    _require_open(ticket)
    if not may_act(staff, ticket):
        raise ActionError(403, "not_allowed", "only the assignee or a lead may resolve")
    if (ticket.entities or {}).get(CALLBACK_NEEDED):
        raise ActionError(409, "callback_needed", "a missed call: record a callback that "
                          "reached the customer first")
    await resume(session, ticket, now, calendar=calendar)
    ticket.status = "resolved"
    ticket.resolved_at = now
    ticket.updated_at = now
    await session.flush()
    assignee = await session.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
    if assignee is not None:
        await take_backlog(session, assignee, now)  # the freed place goes to a queued ticket


async def reopen(session: AsyncSession, staff: Staff, ticket: Ticket, now: datetime, *,
                 calendar: Calendars = DEFAULT_CALENDAR) -> None:
    """Open a resolved ticket again (its assignee, a lead, an admin): a new SLA cycle starts
    now, as when the customer writes again (``normalizer.ingest``)."""
    if ticket.status not in CLOSED:
        raise ActionError(409, "not_closed", f"ticket {ticket.number} is {ticket.status}")
    if not may_act(staff, ticket):
        raise ActionError(403, "not_allowed", "only the assignee or a lead may reopen")
    ticket.status = "open" if ticket.assignee_id else "queued"
    ticket.resolved_at = ticket.first_responded_at = None
    ticket.reopened_at = now
    ticket.reopen_count = (ticket.reopen_count or 0) + 1
    ticket.updated_at = now
    set_deadlines(ticket, await _tier(session, ticket), calendar=calendar, start=now)


async def resume_waiting(session: AsyncSession, staff: Staff, ticket: Ticket, now: datetime, *,
                         calendar: Calendars = DEFAULT_CALENDAR) -> None:
    """An officer ends a wait on the customer (the assignee, a lead, an admin)."""
    _require_open(ticket)
    if not may_act(staff, ticket):
        raise ActionError(403, "not_allowed", "only the assignee or a lead may do that")
    if ticket.status != "waiting":
        raise ActionError(409, "not_waiting", f"ticket {ticket.number} is {ticket.status}")
    await resume(session, ticket, now, calendar=calendar)


async def reassign(session: AsyncSession, lead: Staff, ticket: Ticket, to_name: str,
                   now: datetime) -> Staff:
    """A lead (or admin) hands the ticket to another officer of its queue."""
    _require_open(ticket)
    if lead.role not in ("lead", "admin") or not (lead.role == "admin"
                                                  or _serves(lead, ticket.queue)):
        raise ActionError(403, "not_allowed", "only a lead of the ticket's queue may reassign")
    try:
        target = await find_staff(session, to_name)
    except StaffError as exc:
        raise ActionError(400, "unknown_staff", str(exc)) from exc
    if not _serves(target, ticket.queue):
        raise ActionError(409, "not_in_queue", f"{target.name} does not serve {ticket.queue}")
    await _assign(session, ticket, target, "reassigned", now)
    return target


async def merge(session: AsyncSession, staff: Staff, ticket: Ticket, into: Ticket,
                now: datetime) -> None:
    """Merge ``ticket`` into ``into``: the same customer's matter opened twice (a web form
    that could not prove it continues a ticket, a second mail thread). Its messages move to
    ``into`` (so a reply to any of their Message-IDs threads there), it is closed with
    ``merged_into_id``, and its conversation continues on ``into`` (``normalizer.
    thread_finder``); each gets a note saying so. Its SLA events stay its own. The officer
    must be allowed to act on both (assignee, lead of the queue, admin)."""
    if ticket.id == into.id:
        raise ActionError(400, "same_ticket", "a ticket cannot be merged into itself")
    _require_open(ticket)
    if into.status in CLOSED or into.merged_into_id is not None:
        raise ActionError(409, "target_closed", f"ticket {into.number} is {into.status}: "
                          "reopen it first, or merge the other way")
    if not (may_act(staff, ticket) and may_act(staff, into)):
        raise ActionError(403, "not_allowed", "only who may act on both tickets (their "
                          "assignee, a lead of their queues, an admin) may merge them")
    moved = list(await session.scalars(select(Message).where(Message.ticket_id == ticket.id)))
    for message in moved:
        message.ticket_id = into.id
    ticket.status, ticket.merged_into_id = "closed", into.id
    ticket.resolved_at = ticket.resolved_at or now
    ticket.updated_at = into.updated_at = now
    for on, text in ((ticket, f"Đã gộp vào {into.number} bởi {staff.name}."),
                     (into, f"Đã gộp {ticket.number} vào phiếu này bởi {staff.name} "
                            f"({len(moved)} tin nhắn).")):
        public_id = uuid.uuid4()
        session.add(Message(
            ticket_id=on.id, envelope_id=public_id, direction="note", channel=on.channel,
            external_id=f"cskh-note-{public_id}", sender_name=staff.name, text=text,
            attachments={"files": []}, sent_at=now, received_at=now,
            raw={"staff_id": staff.id, "merge": {"from": ticket.id, "into": into.id}}))
    await session.flush()


async def take_backlog(session: AsyncSession, staff: Staff, now: datetime) -> list[Ticket]:
    """Give an officer who is online and on shift at ``now`` queued tickets of their queues,
    oldest due first, up to capacity; nothing otherwise."""
    if staff.status != "online" or not on_shift(staff.shift, now):
        return []
    room = staff.capacity - (await open_loads(session, [staff.id]))[staff.id]
    if room <= 0:
        return []
    backlog = list(await session.scalars(
        select(Ticket).where(Ticket.status == "queued", Ticket.assignee_id.is_(None),
                             Ticket.queue.in_([q.name for q in staff.queues]))
        .order_by(Ticket.first_response_due.is_(None), Ticket.first_response_due, Ticket.id)
        .limit(room).with_for_update(skip_locked=True)))
    for ticket in backlog:
        await _assign(session, ticket, staff, "backlog", now)
    return backlog


async def set_my_status(session: AsyncSession, staff: Staff, status: str,
                        now: datetime) -> list[Ticket]:
    """Change one's availability; coming online on shift takes queued tickets, oldest due
    first (off shift, they come when the shift starts)."""
    if status not in STATUSES:
        raise ActionError(400, "invalid_status", f"status must be one of {STATUSES}")
    if staff.status != status:
        staff.status, staff.status_changed_at = status, now
    return await take_backlog(session, staff, now)


__all__ = ["ACTIVE_TICKET_STATUSES", "ActionError"]
