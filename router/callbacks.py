"""Hotline tickets are answered by calling back: the officer records what became of the call.

A callback is stored as the ticket's outbound message (``raw["callback"]``: the outcome, the
number called, who called), never emitted on ``cskh.outbound``: the call already happened.
Its delivery state says whether it reached the customer: ``reached`` and ``resolved`` (the
matter settled on the call, which resolves the ticket) are ``sent``; ``no_answer`` and
``busy`` are ``failed`` with that code. A missed call keeps its ticket open
(``normalizer.events.CALLBACK_NEEDED``) until a callback reached the customer.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from normalizer.events import CALLBACK_NEEDED
from router import actions
from router.calendars import Calendars
from router.deadlines import DEFAULT_CALENDAR
from storage.models import Contact, Message, Staff, Ticket

HOTLINE = "hotline"
REACHED, NO_ANSWER, BUSY, RESOLVED = "reached", "no_answer", "busy", "resolved"
OUTCOMES = (REACHED, NO_ANSWER, BUSY, RESOLVED)
MAX_NOTE = 5000
_DIALABLE = re.compile(r"\+?[0-9]{3,20}")


def callback_number(ticket: Ticket, contact: Contact | None) -> str | None:
    """The number to call back: the caller's (the hotline thread key is the caller's E.164
    number), else the contact's phone; None when neither is dialable (a withheld number)."""
    for candidate in (ticket.thread_key, contact.phone if contact else None):
        number = (candidate or "").replace(" ", "").replace(".", "").replace("-", "")
        if _DIALABLE.fullmatch(number):
            return number
    return None


def needs_callback(ticket: Ticket) -> bool:
    """Whether a missed call on ``ticket`` still waits for a callback that reached them."""
    return bool((ticket.entities or {}).get(CALLBACK_NEEDED))


async def record_callback(session: AsyncSession, staff: Staff, ticket: Ticket, outcome: str,
                          note: str | None, now: datetime, *,
                          calendar: Calendars = DEFAULT_CALENDAR) -> Message:
    """Store the callback ``outcome`` (one of ``OUTCOMES``) with the officer's ``note``.

    ``ActionError``: 409 ``not_a_call`` off the hotline, 409 ``ticket_closed``, 403 for who
    may not act on the ticket, 400 ``invalid_outcome``/``note_too_long``. ``reached`` opens a
    new or queued ticket (a first response); ``resolved`` also resolves it.
    """
    if ticket.channel != HOTLINE:
        raise actions.ActionError(409, "not_a_call", "only hotline tickets are called back; "
                                  "answer this one with a reply")
    if ticket.status in actions.CLOSED:
        raise actions.ActionError(409, "ticket_closed",
                                  f"ticket {ticket.number} is {ticket.status}")
    if not actions.may_act(staff, ticket):
        raise actions.ActionError(403, "not_allowed",
                                  "only the assignee or a lead may record a callback")
    if outcome not in OUTCOMES:
        raise actions.ActionError(400, "invalid_outcome",
                                  f"outcome must be one of {', '.join(OUTCOMES)}")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise actions.ActionError(400, "note_too_long",
                                  f"the note has more than {MAX_NOTE} characters")
    contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    number = callback_number(ticket, contact)
    reached = outcome in (REACHED, RESOLVED)
    public_id = uuid.uuid4()
    message = Message(
        ticket_id=ticket.id, envelope_id=public_id, direction="outbound", channel=HOTLINE,
        external_id=f"cskh-callback-{public_id}", sender_name=staff.name, text=note,
        attachments={"files": []}, sent_at=now, received_at=now,
        delivery_status="sent" if reached else "failed",
        delivery_code=None if reached else outcome,
        delivery_reason=None if reached else f"callback to {number or 'the caller'}: {outcome}",
        delivery_updated_at=now,
        raw={"staff_id": staff.id, "callback": {"outcome": outcome, "number": number}})
    session.add(message)
    ticket.updated_at = now
    if reached:
        ticket.entities = {**(ticket.entities or {}), CALLBACK_NEEDED: False}
        if ticket.first_responded_at is None:
            ticket.first_responded_at = now
        if ticket.status in ("new", "queued", "assigned"):
            ticket.status = "open"
    await session.flush()
    if outcome == RESOLVED:
        await actions.resolve(session, staff, ticket, now, calendar=calendar)
    return message
