"""``IngestInboundMessages``: envelopes from ``cskh.inbound`` become tickets and messages.

One batch is one transaction and a handful of queries, however many envelopes it holds.
Each envelope is applied once: the processed-event ledger and the unique envelope id on
messages make a redelivered envelope a no-op, except that its ticket event is emitted again
(the crash may have come between our commit and that emit) with the same event id, so the
router ignores it if it had seen it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.envelope import InboundEnvelope
from normalizer.events import TicketEvent, TicketEventKind, ticket_event_id
from normalizer.identity import IdentityResolver, clip
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.metrics import TICKETS_CREATED
from storage.models import Contact, Message, ProcessedEvent, Ticket

CONSUMER = "normalizer"
OPEN_STATUSES = ("new", "queued", "assigned", "open", "waiting")
_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
_TICKET_TAG = re.compile(r"\[#CSKH-0*(\d+)\]", re.IGNORECASE)

Emit = Callable[[Sequence[TicketEvent]], Awaitable[None]]


class Labels(Protocol):
    """What a classifier says about one message (``normalizer.classifier.Classification``)."""

    @property
    def category(self) -> str: ...
    @property
    def category_confidence(self) -> float: ...
    @property
    def priority(self) -> str: ...
    @property
    def priority_confidence(self) -> float: ...
    @property
    def sentiment(self) -> str: ...
    @property
    def sentiment_confidence(self) -> float: ...
    @property
    def needs_review(self) -> bool: ...
    @property
    def entities(self) -> dict[str, Any]: ...


Classify = Callable[[Sequence[tuple[str, str]]], Sequence[Labels]]
Clock = Callable[[], datetime]
Thread = tuple[str, str]

log = structlog.get_logger(__name__)


def classify_one_by_one(classify: Callable[[str, str], Labels]) -> Classify:
    """Adapt a single-message classifier to the batch interface."""
    return lambda items: [classify(text, channel) for text, channel in items]


class IngestInboundMessages:
    """The normalizer's effect for a batch of serialized envelopes."""

    def __init__(self, sessions: SessionFactory, emit: Emit, classify: Classify,
                 clock: Clock, *, reopen_window: timedelta = timedelta(days=7),
                 own_addresses: Sequence[str] = ()) -> None:
        self._sessions = sessions
        self._emit = emit
        self._classify = classify
        self._clock = clock
        self._reopen_window = reopen_window
        self._own = tuple(a.strip().lower() for a in own_addresses if a.strip())

    def _machine(self, envelope: InboundEnvelope) -> bool:
        """Whether no customer wrote this: an auto-reply, bulk mail or bounce (flagged by the
        connector), or mail from one of our addresses (``x@our.vn``) or domains (``@our.vn``)."""
        if envelope.raw.get("auto"):
            return True
        sender = (envelope.sender.email or "").lower()
        return bool(sender) and any(
            sender.endswith(own) if own.startswith("@") else sender == own for own in self._own)

    async def __call__(self, payloads: Sequence[bytes]) -> None:
        """Apply every envelope of the batch, commit, then emit their ticket events in order.

        Raises ``ValueError`` (pydantic's ``ValidationError``) for a payload that is not an
        envelope: the consumer loop then retries one by one and dead-letters that one.
        """
        envelopes = [InboundEnvelope.model_validate_json(p) for p in payloads]
        async with self._sessions() as session, session.begin():
            done = set(await session.scalars(
                select(ProcessedEvent.event_id).where(
                    ProcessedEvent.consumer == CONSUMER,
                    ProcessedEvent.event_id.in_([e.id for e in envelopes]))
            ))
            fresh: list[InboundEnvelope] = []
            for envelope in envelopes:
                if envelope.id not in done:
                    done.add(envelope.id)
                    fresh.append(envelope)
            made = await self._apply(session, fresh) if fresh else {}
            replayed = await self._replay(session, [e for e in envelopes if e.id not in made])
        events = [made.get(e.id) or replayed.get(e.id) for e in envelopes]
        await self._emit([e for e in events if e is not None])

    async def _replay(self, session: AsyncSession,
                      envelopes: Sequence[InboundEnvelope]) -> dict[uuid.UUID, TicketEvent]:
        if not envelopes:
            return {}
        by_id = {e.id: e for e in envelopes}
        rows = (await session.execute(
            select(Message, Ticket).join(Ticket, Ticket.id == Message.ticket_id)
            .where(Message.envelope_id.in_(by_id))
        )).all()
        firsts = dict((await session.execute(
            select(Message.ticket_id, func.min(Message.id))
            .where(Message.ticket_id.in_({t.id for _, t in rows})).group_by(Message.ticket_id)
        )).all())
        out: dict[uuid.UUID, TicketEvent] = {}
        for message, ticket in rows:
            envelope = by_id[message.envelope_id]
            if self._machine(envelope):
                continue  # recorded without an event the first time too
            log.info(LogEvent.TICKET_DUPLICATE, channel=envelope.channel, ticket_id=ticket.id,
                     message_id=str(envelope.id))
            kind: TicketEventKind = ("created" if firsts.get(ticket.id) == message.id
                                     else "message_added")
            out[envelope.id] = _event(envelope, ticket, message, kind)
        return out

    async def _thread_tickets(self, session: AsyncSession, said: Sequence[InboundEnvelope],
                              now: datetime) -> tuple[dict[Thread, Ticket], set[Thread]]:
        """The ticket each thread continues, and the threads whose ticket is reopened.

        A ``[#CSKH-000123]`` tag in the subject wins; then the thread's open ticket; then its
        ticket resolved within the reopen window, which is reopened rather than replaced.
        """
        found: dict[Thread, Ticket] = {}
        tagged = {(e.channel, e.thread_key): int(m.group(1)) for e in said
                  if e.subject and (m := _TICKET_TAG.search(e.subject))}
        if tagged:
            by_id = {t.id: t for t in await session.scalars(
                select(Ticket).where(Ticket.id.in_(set(tagged.values()))))}
            found.update({thread: by_id[i] for thread, i in tagged.items() if i in by_id})
        threads = {(e.channel, e.thread_key) for e in said} - set(found)
        if threads:
            for ticket in await session.scalars(
                    select(Ticket).where(tuple_(Ticket.channel, Ticket.thread_key).in_(threads),
                                         Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.id)):
                found[(ticket.channel, ticket.thread_key)] = ticket  # the newest open one wins
        threads -= set(found)
        if threads and self._reopen_window:
            for ticket in await session.scalars(
                    select(Ticket).where(tuple_(Ticket.channel, Ticket.thread_key).in_(threads),
                                         Ticket.status == "resolved",
                                         Ticket.resolved_at >= now - self._reopen_window)
                    .order_by(Ticket.id)):
                found[(ticket.channel, ticket.thread_key)] = ticket
        reopened = set()
        for thread, ticket in found.items():
            if ticket.status in ("resolved", "closed") and (
                    ticket.resolved_at is None or ticket.resolved_at >= now - self._reopen_window):
                reopened.add(thread)
        return found, reopened

    async def _apply(self, session: AsyncSession,
                     envelopes: Sequence[InboundEnvelope]) -> dict[uuid.UUID, TicketEvent]:
        now = self._clock()
        people = IdentityResolver(session)
        await people.load(envelopes)
        contacts = [people.contact_for(e) for e in envelopes]
        for envelope, contact in zip(envelopes, contacts, strict=True):
            if envelope.kind == "contact":
                _record_status(contact, envelope)
                session.add(ProcessedEvent(consumer=CONSUMER, event_id=envelope.id,
                                           processed_at=now))
        await session.flush()
        said = [(e, c) for e, c in zip(envelopes, contacts, strict=True) if e.kind == "message"]
        if not said:
            return {}

        tickets, reopening = await self._thread_tickets(session, [e for e, _ in said], now)
        # The first message of each new thread starts its ticket and is the one classified.
        starting: dict[Thread, InboundEnvelope] = {}
        for envelope, _ in said:
            if (envelope.channel, envelope.thread_key) not in tickets and not self._machine(
                    envelope):
                starting.setdefault((envelope.channel, envelope.thread_key), envelope)
        verdicts = dict(zip((e.id for e in starting.values()), self._classify([
            ("\n".join(p for p in (e.subject, e.text) if p), e.channel)
            for e in starting.values()]), strict=True))
        placed: list[tuple[InboundEnvelope, Ticket, TicketEventKind, Message]] = []
        machine: list[tuple[InboundEnvelope, Ticket, Message]] = []
        for envelope, contact in said:
            thread = (envelope.channel, envelope.thread_key)
            kind: TicketEventKind = "message_added"
            ticket = tickets.get(thread)
            if self._machine(envelope):
                # Out-of-office, bulk mail, bounces, our own mail coming back: never a ticket,
                # never an event that would look like the customer answering; kept on an open
                # ticket of the thread, else dropped.
                if ticket is not None:
                    machine.append((envelope, ticket, _message(envelope)))
                else:
                    session.add(ProcessedEvent(consumer=CONSUMER, event_id=envelope.id,
                                               processed_at=now))
                    log.info(LogEvent.MESSAGE_DISCARDED, channel=envelope.channel,
                             message_id=str(envelope.id),
                             reason=envelope.raw.get("auto") or "own_address")
                continue
            if ticket is not None and ticket.status in ("resolved", "closed"):
                if thread not in reopening:
                    ticket = None  # resolved too long ago: a new matter, a new ticket
                else:
                    reopening.discard(thread)
                    ticket.status = "open" if ticket.assignee_id else "queued"
                    ticket.resolved_at = ticket.first_responded_at = None
                    kind = "reopened"
            if ticket is None:
                verdict = verdicts.get(envelope.id) or self._classify(
                    [("\n".join(p for p in (envelope.subject, envelope.text) if p),
                      envelope.channel)])[0]
                ticket = self._new_ticket(envelope, contact, verdict, now)
                session.add(ticket)
                tickets[thread] = ticket
                kind = "created"
            else:
                ticket.updated_at = now
            placed.append((envelope, ticket, kind, _message(envelope)))
        await session.flush()  # ticket ids
        for envelope, ticket, message in [(e, t, m) for e, t, _, m in placed] + machine:
            message.ticket_id = ticket.id
            session.add(message)
            session.add(ProcessedEvent(consumer=CONSUMER, event_id=envelope.id,
                                       processed_at=now))
        await session.flush()  # message ids
        out: dict[uuid.UUID, TicketEvent] = {}
        for envelope, ticket, kind, message in placed:
            if kind == "created":
                TICKETS_CREATED.labels(envelope.channel, ticket.category).inc()
            log.info(LogEvent.TICKET_CREATED if kind == "created"
                     else LogEvent.TICKET_MESSAGE_ADDED, channel=envelope.channel,
                     ticket_id=ticket.id, message_id=str(envelope.id),
                     category=ticket.category, priority=ticket.priority)
            out[envelope.id] = _event(envelope, ticket, message, kind)
        return out

    @staticmethod
    def _new_ticket(envelope: InboundEnvelope, contact: Contact, verdict: Labels,
                    now: datetime) -> Ticket:
        subject = envelope.subject or " ".join(envelope.text.split())[:120]
        ticket = Ticket(
            public_id=uuid.uuid4(), status="new", channel=envelope.channel,
            thread_key=envelope.thread_key, category=verdict.category,
            category_confidence=verdict.category_confidence, priority=verdict.priority,
            priority_confidence=verdict.priority_confidence, sentiment=verdict.sentiment,
            sentiment_confidence=verdict.sentiment_confidence, needs_review=verdict.needs_review,
            entities=verdict.entities, customer_id=contact.customer_id, contact_id=contact.id,
            subject=clip(subject, 500) or None, created_at=now, updated_at=now,
            queue_hint=envelope.queue_hint,
        )
        if envelope.category_hint:
            ticket.category, ticket.category_confidence = envelope.category_hint, 1.0
            ticket.needs_review = False
        floor = envelope.priority_floor
        if floor and _RANK[floor] > _RANK.get(verdict.priority, 0):
            ticket.priority = floor
        return ticket


def _record_status(contact: Contact, envelope: InboundEnvelope) -> None:
    """Keep the newest status per channel (a late, older event does not overwrite it)."""
    current = dict(contact.channel_status or {})
    known = current.get(envelope.channel)
    at = envelope.sent_at.astimezone(UTC).isoformat()
    if known is None or str(known.get("at", "")) <= at:
        current[envelope.channel] = {"status": envelope.contact_status, "at": at}
        contact.channel_status = current


def _message(envelope: InboundEnvelope) -> Message:
    sender = envelope.sender
    return Message(
        envelope_id=envelope.id, direction="inbound", channel=envelope.channel,
        external_id=envelope.external_id, sender_name=clip(sender.name, 200),
        sender_email=clip(sender.email, 320), sender_phone=clip(sender.phone, 32),
        subject=clip(envelope.subject, 500), text=envelope.text, html=envelope.html,
        attachments={"files": [a.model_dump() for a in envelope.attachments]},
        in_reply_to=clip(envelope.in_reply_to, 512), sent_at=envelope.sent_at,
        received_at=envelope.received_at, raw=envelope.raw,
    )


def _event(envelope: InboundEnvelope, ticket: Ticket, message: Message,
           kind: TicketEventKind) -> TicketEvent:
    return TicketEvent(
        event_id=ticket_event_id(envelope.id), kind=kind, ticket_id=ticket.id,
        message_id=message.id, envelope_id=envelope.id, channel=envelope.channel,
        thread_key=envelope.thread_key, category=ticket.category, priority=ticket.priority,
        sentiment=ticket.sentiment, customer_id=ticket.customer_id, created_at=ticket.created_at,
    )
