"""``IngestInboundMessages``: envelopes from ``cskh.inbound`` become tickets and messages.

One batch is one transaction. Each envelope is applied once: the processed-event ledger and
the unique envelope id on messages make a redelivered envelope a no-op, except that its ticket
event is emitted again (the crash may have come between our commit and that emit), with the
same event id, so the router ignores it if it had seen it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.envelope import InboundEnvelope
from normalizer.events import TicketEvent, TicketEventKind, ticket_event_id
from normalizer.identity import resolve_contact
from normalizer.keywords import Verdict
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.metrics import TICKETS_CREATED
from storage.models import Message, ProcessedEvent, Ticket

CONSUMER = "normalizer"
OPEN_STATUSES = ("new", "queued", "assigned", "open", "waiting")

Emit = Callable[[Sequence[TicketEvent]], Awaitable[None]]
Classify = Callable[[str, str], Verdict]
Clock = Callable[[], datetime]

log = structlog.get_logger(__name__)


class IngestInboundMessages:
    """The normalizer's effect for a batch of serialized envelopes."""

    def __init__(self, sessions: SessionFactory, emit: Emit, classify: Classify,
                 clock: Clock) -> None:
        self._sessions = sessions
        self._emit = emit
        self._classify = classify
        self._clock = clock

    async def __call__(self, payloads: Sequence[bytes]) -> None:
        """Apply every envelope of the batch, commit, then emit their ticket events.

        Raises ``ValueError`` (pydantic's ``ValidationError``) for a payload that is not an
        envelope: the consumer loop sends that one to the dead-letter topic.
        """
        envelopes = [InboundEnvelope.model_validate_json(p) for p in payloads]
        events: list[TicketEvent] = []
        async with self._sessions() as session, session.begin():
            ids = [e.id for e in envelopes]
            done = set(await session.scalars(
                select(ProcessedEvent.event_id).where(
                    ProcessedEvent.consumer == CONSUMER, ProcessedEvent.event_id.in_(ids))
            ))
            for envelope in envelopes:
                if envelope.id in done:
                    replay = await self._replay(session, envelope)
                    if replay is not None:
                        events.append(replay)
                    continue
                done.add(envelope.id)
                events.append(await self._apply(session, envelope))
                session.add(ProcessedEvent(consumer=CONSUMER, event_id=envelope.id,
                                           processed_at=self._clock()))
        await self._emit(events)

    async def _replay(self, session: AsyncSession, envelope: InboundEnvelope) -> TicketEvent | None:
        row = (await session.execute(
            select(Message, Ticket).join(Ticket, Ticket.id == Message.ticket_id)
            .where(Message.envelope_id == envelope.id)
        )).first()
        if row is None:
            return None
        message, ticket = row
        first = await session.scalar(
            select(Message.id).where(Message.ticket_id == ticket.id).order_by(Message.id).limit(1)
        )
        log.info(LogEvent.TICKET_DUPLICATE, channel=envelope.channel, ticket_id=ticket.id,
                 message_id=str(envelope.id))
        return _event(envelope, ticket, message, "created" if first == message.id
                      else "message_added")

    async def _apply(self, session: AsyncSession, envelope: InboundEnvelope) -> TicketEvent:
        now = self._clock()
        contact = await resolve_contact(session, envelope.sender, envelope.channel)
        ticket = await session.scalar(
            select(Ticket).where(
                Ticket.channel == envelope.channel, Ticket.thread_key == envelope.thread_key,
                Ticket.status.in_(OPEN_STATUSES),
            ).order_by(Ticket.id.desc()).limit(1)
        )
        kind: TicketEventKind = "message_added"
        if ticket is None:
            verdict = self._classify(
                "\n".join(p for p in (envelope.subject, envelope.text) if p), envelope.channel
            )
            ticket = Ticket(
                public_id=uuid.uuid4(), status="new", channel=envelope.channel,
                thread_key=envelope.thread_key, category=verdict.category,
                category_confidence=verdict.category_confidence, priority=verdict.priority,
                sentiment=verdict.sentiment, needs_review=verdict.needs_review,
                entities=verdict.entities, customer_id=contact.customer_id,
                contact_id=contact.id, subject=(envelope.subject or envelope.text[:120]) or None,
                created_at=now, updated_at=now,
            )
            session.add(ticket)
            await session.flush()
            kind = "created"
            TICKETS_CREATED.labels(envelope.channel, verdict.category).inc()
        else:
            ticket.updated_at = now
        message = Message(
            ticket_id=ticket.id, envelope_id=envelope.id, direction="inbound",
            channel=envelope.channel, external_id=envelope.external_id,
            sender_name=envelope.sender.name, sender_email=envelope.sender.email,
            sender_phone=envelope.sender.phone, subject=envelope.subject, text=envelope.text,
            html=envelope.html,
            attachments={"files": [a.model_dump() for a in envelope.attachments]},
            in_reply_to=envelope.in_reply_to, sent_at=envelope.sent_at,
            received_at=envelope.received_at, raw=envelope.raw,
        )
        session.add(message)
        await session.flush()
        log.info(LogEvent.TICKET_CREATED if kind == "created" else LogEvent.TICKET_MESSAGE_ADDED,
                 channel=envelope.channel, ticket_id=ticket.id, message_id=str(envelope.id),
                 category=ticket.category, priority=ticket.priority)
        return _event(envelope, ticket, message, kind)


def _event(envelope: InboundEnvelope, ticket: Ticket, message: Message,
           kind: TicketEventKind) -> TicketEvent:
    return TicketEvent(
        event_id=ticket_event_id(envelope.id), kind=kind, ticket_id=ticket.id,
        message_id=message.id, envelope_id=envelope.id, channel=envelope.channel,
        thread_key=envelope.thread_key, category=ticket.category, priority=ticket.priority,
        sentiment=ticket.sentiment, customer_id=ticket.customer_id, created_at=ticket.created_at,
    )
