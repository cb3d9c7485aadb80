"""``IngestInboundMessages``: envelopes from ``cskh.inbound`` become tickets and messages.

One batch is one transaction and a handful of queries, however many envelopes it holds.
Each envelope is applied once: the processed-event ledger and the unique envelope id on
messages make a redelivered envelope a no-op, except that its ticket event is emitted again
(the crash may have come between our commit and that emit) with the same event id, so the
router ignores it if it had seen it.

The classifier reads each new ticket's first message with its context: the customer's tier,
whether it is a missed call. A customer's later message on an existing ticket is classified
too, with the number of their earlier messages still unanswered (a repeated contact), and
raises the ticket's priority when it says more is at stake; it never lowers it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.envelope import InboundEnvelope
from normalizer.classifier.signals import MessageContext
from normalizer.events import CALLBACK_NEEDED, TicketEvent, TicketEventKind, ticket_event_id
from normalizer.identity import IdentityResolver, clip
from normalizer.submissions import distinct_submissions
from normalizer.text import scanned
from normalizer.thread_finder import (
    CLOSED_STATUSES,
    NewTicket,
    Target,
    ThreadFinder,
)
from normalizer.threads import DEFAULT_MAIL_DOMAIN
from normalizer.trust import sender_trust
from storage.db import SessionFactory
from storage.ledger import processed, record_processed
from storage.log_events import LogEvent
from storage.metrics import TICKETS_CREATED
from storage.models import Contact, Customer, Message, Ticket

CONSUMER = "normalizer"
_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
REPEAT_GAP = timedelta(minutes=15)
"""A customer's earlier message counts as an earlier contact (``repeat``) only if sent at
least this long before: a chat burst of three lines is one contact, not three."""

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


Classify = Callable[[Sequence[tuple[str, str, MessageContext]]], Sequence[Labels]]
"""Classifies ``(text, channel, context)`` items (``Classifier.classify_many``)."""
Clock = Callable[[], datetime]

log = structlog.get_logger(__name__)


def classify_one_by_one(classify: Callable[[str, str], Labels]) -> Classify:
    """Adapt a single-message classifier that reads no context to the batch interface."""
    return lambda items: [classify(text, channel) for text, channel, _ in items]


def is_missed_call(envelope: InboundEnvelope) -> bool:
    """Whether `envelope` is the callback ticket of a missed call: the call connectors
    (``connectors.calls.call_envelope``) mark those, and only those, with the ``other``
    category hint and a priority floor."""
    return (envelope.channel == "hotline" and envelope.category_hint == "other"
            and envelope.priority_floor is not None)


def _text(envelope: InboundEnvelope) -> str:
    """What the classifier reads of a message: its subject and text, bounded by ``scanned``."""
    return scanned("\n".join(p for p in (envelope.subject, envelope.text) if p))


class IngestInboundMessages:
    """The normalizer's effect for a batch of serialized envelopes."""

    def __init__(self, sessions: SessionFactory, emit: Emit, classify: Classify,
                 clock: Clock, *, reopen_window: timedelta = timedelta(days=7),
                 own_addresses: Sequence[str] = (),
                 thread_window: timedelta = timedelta(hours=72),
                 mail_domains: Sequence[str] = (DEFAULT_MAIL_DOMAIN,),
                 follow_up_secret: str | None = None) -> None:
        """``reopen_window``: a reply to a ticket resolved less than this ago reopens it.
        ``thread_window``: how far apart same-sender, same-subject mails may be to thread
        (0: never). ``mail_domains``: the domains of our own outgoing Message-IDs.
        ``follow_up_secret``: the key of the follow-up tokens that let a web form continue a
        ticket (``normalizer.follow_up``; ``None``: every web form is a new ticket)."""
        self._follow_up_secret = follow_up_secret or None
        self._sessions = sessions
        self._emit = emit
        self._classify = classify
        self._clock = clock
        self._reopen_window = reopen_window
        self._own = tuple(a.strip().lower() for a in own_addresses if a.strip())
        self._thread_window = thread_window
        self._domains = frozenset(d.strip().lower() for d in mail_domains if d.strip())

    def _machine(self, envelope: InboundEnvelope) -> bool:
        """Whether no customer wrote this: an auto-reply, bulk mail or bounce (flagged by the
        connector), or mail from one of our addresses (``x@our.vn``) or domains (``@our.vn``)."""
        return self._machine_sent(envelope.raw, envelope.sender.email)

    def _machine_sent(self, raw: dict[str, Any], email: str | None) -> bool:
        """:meth:`_machine` for a stored message's ``raw`` payload and sender address."""
        if raw.get("auto"):
            return True
        sender = (email or "").lower()
        return bool(sender) and any(
            sender.endswith(own) if own.startswith("@") else sender == own for own in self._own)

    async def __call__(self, payloads: Sequence[bytes]) -> None:
        """Apply every envelope of the batch, commit, then emit their ticket events in order.

        Raises ``ValueError`` (pydantic's ``ValidationError``) for a payload that is not an
        envelope: the consumer loop then retries one by one and dead-letters that one.
        """
        envelopes = [InboundEnvelope.model_validate_json(p) for p in payloads]
        async with self._sessions() as session, session.begin():
            envelopes = await distinct_submissions(session, envelopes)
            done = await processed(session, CONSUMER, (e.id for e in envelopes))
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

    async def _apply(self, session: AsyncSession,
                     envelopes: Sequence[InboundEnvelope]) -> dict[uuid.UUID, TicketEvent]:
        now = self._clock()
        people = IdentityResolver(session)
        await people.load(envelopes)
        contacts = [people.contact_for(e) for e in envelopes]
        for envelope, contact in zip(envelopes, contacts, strict=True):
            if envelope.kind == "contact":
                _record_status(contact, envelope)
        await record_processed(session, CONSUMER, (e.id for e in envelopes), now)
        await session.flush()
        said = [(e, c) for e, c in zip(envelopes, contacts, strict=True) if e.kind == "message"]
        if not said:
            return {}

        finder = ThreadFinder(now, reopen_window=self._reopen_window,
                              thread_window=self._thread_window, mail_domains=self._domains,
                              follow_up_secret=self._follow_up_secret)
        await finder.load(session, said)
        # Where each message goes; the first message of each new ticket is the one classified.
        targets: list[Target | None] = []
        for envelope, contact in said:
            target = finder.find(envelope, contact)
            if target is None and not self._machine(envelope):
                target = NewTicket(envelope, contact)
            if target is not None:
                finder.remember(envelope, contact, target)
            targets.append(target)
        starting = list({id(t): t for t in targets if isinstance(t, NewTicket)}.values())
        # Customers' follow-ups on tickets that already exist: classified too (below).
        following = [(e, t) for (e, _), t in zip(said, targets, strict=True)
                     if isinstance(t, Ticket) and not self._machine(e)]
        tiers = await _tiers(session, [c for _, c in said])
        repeats = await _repeats(session, following, self._machine_sent)
        items = [(_text(n.envelope), n.envelope.channel,
                  MessageContext(tier=tiers.get(n.contact.customer_id or 0),
                                 missed_call=is_missed_call(n.envelope))) for n in starting]
        items += [(_text(e), e.channel,
                   MessageContext(tier=tiers.get(t.customer_id or 0), repeat=repeats[e.id],
                                  missed_call=is_missed_call(e))) for e, t in following]
        verdicts = await self._classified(items) if items else []
        for new, verdict in zip(starting, verdicts[:len(starting)], strict=True):
            new.ticket = self._new_ticket(new.envelope, new.contact, verdict, now)
            session.add(new.ticket)
        for (_, existing), verdict in zip(following, verdicts[len(starting):], strict=True):
            if _RANK.get(verdict.priority, 0) > _RANK.get(existing.priority, 0):
                existing.priority = verdict.priority  # never lowered by a follow-up
                existing.priority_confidence = verdict.priority_confidence
        await session.flush()  # ticket ids

        placed: list[tuple[InboundEnvelope, Ticket, TicketEventKind, Message]] = []
        for (envelope, _), target in zip(said, targets, strict=True):
            if target is None:
                # Out-of-office, bulk mail, bounces, our own mail coming back, with no ticket
                # to keep them on: dropped.
                log.info(LogEvent.MESSAGE_DISCARDED, channel=envelope.channel,
                         message_id=str(envelope.id),
                         reason=envelope.raw.get("auto") or "own_address")
                continue
            ticket = target.ticket if isinstance(target, NewTicket) else target
            assert ticket is not None
            message = _message(envelope)
            message.ticket_id = ticket.id
            session.add(message)
            if is_missed_call(envelope):  # open until a callback reaches the customer
                ticket.entities = {**(ticket.entities or {}), CALLBACK_NEEDED: True}
            if self._machine(envelope):
                # Never an event that would look like the customer answering, never a reopening.
                continue
            kind: TicketEventKind = "message_added"
            if isinstance(target, NewTicket) and target.envelope is envelope:
                kind = "created"
            elif ticket.status in CLOSED_STATUSES:
                ticket.status = "open" if ticket.assignee_id else "queued"
                ticket.resolved_at = ticket.first_responded_at = None
                ticket.reopened_at = now  # a new SLA cycle starts (router.sweeper)
                ticket.reopen_count = (ticket.reopen_count or 0) + 1
                ticket.updated_at = now
                kind = "reopened"
            else:
                ticket.updated_at = now
            placed.append((envelope, ticket, kind, message))
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

    async def _classified(self, items: Sequence[tuple[str, str, MessageContext]]
                          ) -> Sequence[Labels]:
        """The classifier's verdicts, computed in a worker thread: classification and entity
        extraction are CPU work (linear in the text, which ``scanned`` bounds), and on the
        event loop they would hold up every webhook, ``/healthz`` and the staff API."""
        return await asyncio.to_thread(self._classify, items)

    @staticmethod
    def _new_ticket(envelope: InboundEnvelope, contact: Contact, verdict: Labels,
                    now: datetime) -> Ticket:
        subject = envelope.subject or " ".join(envelope.text[:1000].split())[:120]
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
        if sender_trust(envelope) == "failed":
            # Our receiving server could not confirm the From: whoever wrote it may not be
            # the contact it names, so an officer looks before answering (flagged for review).
            ticket.needs_review = True
        return ticket


async def _tiers(session: AsyncSession, contacts: Sequence[Contact]) -> dict[int, str]:
    """The tier of each customer account behind `contacts`, by customer id."""
    ids = {c.customer_id for c in contacts if c.customer_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Customer.id, Customer.tier).where(Customer.id.in_(ids)))
    return {cid: tier for cid, tier in rows.all()}


async def _repeats(session: AsyncSession, following: Sequence[tuple[InboundEnvelope, Ticket]],
                   machine: Callable[[dict[str, Any], str | None], bool]
                   ) -> dict[uuid.UUID, int]:
    """For each follow-up, how many of the customer's messages on its ticket came after our
    last reply and at least :data:`REPEAT_GAP` before it (one query for the batch). Stored
    messages no customer wrote (``machine(raw, sender_email)``: auto-replies, our own mail)
    do not count."""
    out = {e.id: 0 for e, _ in following}
    ids = {t.id for _, t in following}
    if not ids:
        return out
    last_reply = (select(Message.ticket_id, func.max(Message.sent_at).label("at"))
                  .where(Message.ticket_id.in_(ids), Message.direction == "outbound")
                  .group_by(Message.ticket_id).subquery())
    rows = await session.execute(
        select(Message.ticket_id, Message.sent_at, Message.raw, Message.sender_email)
        .outerjoin(last_reply, last_reply.c.ticket_id == Message.ticket_id)
        .where(Message.ticket_id.in_(ids), Message.direction == "inbound",
               or_(last_reply.c.at.is_(None), Message.sent_at > last_reply.c.at)))
    unanswered: dict[int, list[datetime]] = {}
    for ticket_id, sent_at, raw, email in rows.all():
        if not machine(raw or {}, email):
            unanswered.setdefault(ticket_id, []).append(sent_at)
    for envelope, ticket in following:
        cutoff = envelope.sent_at - REPEAT_GAP
        out[envelope.id] = sum(at <= cutoff for at in unanswered.get(ticket.id, ()))
    return out


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
