"""Every stored reply reaches ``cskh.outbound``, even when the emit after its commit fails.

A reply is committed first (``actions.reply`` marks it ``raw["emitted"] = False``) and emitted
after; the staff API then marks it emitted. If the process dies in between, or the bus is down
at that moment, ``EmitPendingReplies`` (run every few seconds by the ``router`` role) emits the
replies still unmarked after ``grace`` and marks them. The event is rebuilt from the stored row
by ``outbound_event``, the same function the reply action uses, so it is the same event with
the same id: a copy emitted twice is sent once (the sender's ledger).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select

from router.events import OutboundEmail, OutboundMessage, outbound_message_id
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import Contact, Message, Ticket

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]
Publish = Callable[[Sequence[OutboundMessage]], Awaitable[None]]
EMITTED = "emitted"
LOOK_BACK = timedelta(days=7)


def _angle(value: str | None) -> str | None:
    return f"<{value}>" if value else None


def outbound_event(ticket: Ticket, message: Message, contact: Contact | None) -> OutboundMessage:
    """The ``cskh.outbound`` event of the stored reply ``message`` on ``ticket``."""
    raw = message.raw or {}
    headers = raw.get("headers")
    email = None
    if isinstance(headers, dict) and headers.get("message_id"):
        references = " ".join(f"<{r}>" for r in headers.get("references") or [] if r)
        email = OutboundEmail(message_id=f"<{headers['message_id']}>",
                              in_reply_to=_angle(headers.get("in_reply_to")),
                              references=references or None,
                              subject=str(headers.get("subject") or ticket.subject or ""))
    return OutboundMessage(
        event_id=outbound_message_id(message.envelope_id), ticket_id=ticket.id,
        ticket_number=ticket.number, message_id=message.id, channel=ticket.channel,
        thread_key=ticket.thread_key, to_email=contact.email if contact else None,
        to_phone=contact.phone if contact else None, in_reply_to=message.in_reply_to,
        subject=ticket.subject, text=message.text, staff_id=int(raw.get("staff_id") or 0),
        staff_name=message.sender_name or "", created_at=message.sent_at, email=email)


async def mark_emitted(sessions: SessionFactory, message_ids: Sequence[int]) -> None:
    """Record that the replies ``message_ids`` are on the bus."""
    if not message_ids:
        return
    async with sessions() as session, session.begin():
        for message in await session.scalars(select(Message).where(
                Message.id.in_(message_ids))):
            message.raw = {**(message.raw or {}), EMITTED: True}


async def emit_replies(sessions: SessionFactory, publish: Publish,
                       replies: Sequence[OutboundMessage]) -> bool:
    """Emit replies just committed and mark them emitted; ``False`` when the bus refused.

    Never raises for a failed emit: the replies stay committed and unmarked, and
    ``EmitPendingReplies`` emits them once the bus is back (logged as deferred).
    """
    if not replies:
        return True
    try:
        await publish(replies)
        await mark_emitted(sessions, [r.message_id for r in replies])
    except Exception as exc:
        for r in replies:
            log.warning(LogEvent.OUTBOUND_EMIT_DEFERRED, message_id=r.message_id,
                        ticket=r.ticket_number, error=f"{type(exc).__name__}: {exc}"[:300])
        return False
    return True


class EmitPendingReplies:
    """Emit the replies committed at least ``grace`` ago and not yet marked emitted."""

    def __init__(self, sessions: SessionFactory, publish: Publish, clock: Clock, *,
                 grace: timedelta = timedelta(seconds=30)) -> None:
        self._sessions = sessions
        self._publish = publish
        self._clock = clock
        self._grace = grace

    async def run_once(self) -> int:
        """Emit what is pending; return how many replies were emitted."""
        now = self._clock()
        async with self._sessions() as session:
            # ids and marks first (small), the whole rows only of the replies still pending
            marks = (await session.execute(
                select(Message.id, Message.raw)
                .where(Message.direction == "outbound", Message.sent_at >= now - LOOK_BACK,
                       Message.sent_at <= now - self._grace))).all()
            ids = [i for i, raw in marks if (raw or {}).get(EMITTED) is False]
            if not ids:
                return 0
            rows = (await session.execute(
                select(Message, Ticket, Contact)
                .join(Ticket, Ticket.id == Message.ticket_id)
                .outerjoin(Contact, Contact.id == Ticket.contact_id)
                .where(Message.id.in_(ids)).order_by(Message.id))).all()
            pending = [outbound_event(t, m, c) for m, t, c in rows]
        await self._publish(pending)
        await mark_emitted(self._sessions, [e.message_id for e in pending])
        log.warning(LogEvent.OUTBOUND_RE_EMITTED, count=len(pending),
                    message_id=[e.message_id for e in pending][:50])
        return len(pending)
