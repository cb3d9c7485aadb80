"""``ThreadFinder``: which ticket a customer message continues, for one batch.

The rules, strongest first (mail rules only on mail channels):

1. **A stored Message-ID** in ``In-Reply-To`` or ``References`` (ours on outbound replies, or a
   customer's) names the ticket its message is on. Message-IDs are unguessable, so whoever
   holds one is in the conversation (a colleague in Cc included): no sender check.
2. **Our own Message-ID scheme** (``cskh.{ticket}.{token}@our-domain``) when the row is unknown
   (e.g. after a restore), then **the subject tag** ``[#CSKH-000123]`` (any channel). Both name a
   ticket by its guessable number, so they count only when the ticket exists and the sender
   belongs to it: the ticket's own contact, or a contact of the ticket's customer. A forged id
   or tag naming another customer's ticket is ignored and the next rule applies.
3. **The conversation** (``thread_key``): its open ticket, else its ticket resolved within the
   reopen window.
4. **Same sender, same subject, within a window** (last resort): the sender's own open (or
   reopenable) ticket on the same channel one of whose messages from them has the same
   ``subject_key``, sent within ``thread_window`` of this one. Generic subjects never match.

A ticket resolved longer ago than the reopen window is never continued: the rule that found
it is skipped. Messages earlier in the batch count as if already stored. The finder reads and
never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, and_, false, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.envelope import InboundEnvelope
from normalizer.threads import is_generic, subject_key, tagged_ticket, ticket_of_message_id
from storage.log_events import LogEvent
from storage.models import Contact, Message, Ticket

OPEN_STATUSES = ("new", "queued", "assigned", "open", "waiting")
CLOSED_STATUSES = ("resolved", "closed")
MAIL_CHANNELS = frozenset({"email"})

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class NewTicket:
    """A ticket this batch opens, started (and classified) by ``envelope``."""

    envelope: InboundEnvelope
    contact: Contact
    ticket: Ticket | None = None


Target = Ticket | NewTicket


def references(envelope: InboundEnvelope) -> list[str]:
    """The ids a mail replies to, most specific first: In-Reply-To, then References newest
    first."""
    headers = envelope.raw.get("headers") if isinstance(envelope.raw, dict) else None
    refs = headers.get("references") if isinstance(headers, dict) else None
    out: list[str] = []
    for ident in [envelope.in_reply_to, *reversed(refs if isinstance(refs, list) else [])]:
        if isinstance(ident, str) and ident and ident not in out:
            out.append(ident)
    return out


def belongs(ticket: Target, contact: Contact) -> bool:
    """Whether ``contact`` may add to ``ticket``: its own contact or one of its customer's."""
    mine: int | None
    if isinstance(ticket, NewTicket):
        mine, customer = ticket.contact.id, ticket.contact.customer_id
    else:
        mine, customer = ticket.contact_id, ticket.customer_id
    return contact.id == mine or (customer is not None and contact.customer_id == customer)


@dataclass
class _Seen:
    """Messages earlier in the batch: what rules 1, 3 and 4 must see as if stored."""

    by_message_id: dict[tuple[str, str], Target] = field(default_factory=dict)
    by_thread: dict[tuple[str, str], Target] = field(default_factory=dict)
    by_subject: dict[tuple[str, int, str], list[tuple[datetime, Target]]] = field(
        default_factory=dict)


class ThreadFinder:
    """Loads what a batch's threading needs in a few queries, then answers per message."""

    def __init__(self, now: datetime, *, reopen_window: timedelta, thread_window: timedelta,
                 mail_domains: frozenset[str]) -> None:
        self._now = now
        self._reopen_window = reopen_window
        self._thread_window = thread_window
        self._domains = mail_domains
        self._by_message_id: dict[tuple[str, str], Ticket] = {}
        self._by_id: dict[int, Ticket] = {}
        self._by_thread: dict[tuple[str, str], Ticket] = {}
        self._by_subject: dict[tuple[str, int, str], list[tuple[datetime, Ticket]]] = {}
        self._seen = _Seen()

    def usable(self, ticket: Target) -> bool:
        """Open, or resolved recently enough to be reopened."""
        if isinstance(ticket, NewTicket) or ticket.status not in CLOSED_STATUSES:
            return True
        return ticket.resolved_at is None or (
            bool(self._reopen_window) and ticket.resolved_at >= self._now - self._reopen_window)

    async def load(self, session: AsyncSession,
                   said: Sequence[tuple[InboundEnvelope, Contact]]) -> None:
        """Fetch the stored messages, tickets and subjects the batch refers to."""
        mail = [(e, c) for e, c in said if e.channel in MAIL_CHANNELS]
        refs = {(e.channel, ref) for e, _ in mail for ref in references(e)}
        if refs:
            rows = (await session.execute(
                select(Message.channel, Message.external_id, Message.ticket_id).where(
                    Message.channel.in_({c for c, _ in refs}),
                    Message.external_id.in_({r for _, r in refs}))))
            found = {(ch, ext): tid for ch, ext, tid in rows if (ch, ext) in refs}
        else:
            found = {}
        wanted = set(found.values())
        for envelope, _ in said:
            if envelope.channel in MAIL_CHANNELS:
                wanted.update(t for ref in references(envelope)
                              if (t := ticket_of_message_id(ref, self._domains)) is not None)
            if (tag := tagged_ticket(envelope.subject)) is not None:
                wanted.add(tag)
        if wanted:
            self._by_id = {t.id: t for t in await session.scalars(
                select(Ticket).where(Ticket.id.in_(wanted)))}
        self._by_message_id = {key: self._by_id[tid] for key, tid in found.items()
                               if tid in self._by_id}
        await self._load_threads(session, {(e.channel, e.thread_key) for e, _ in said})
        await self._load_subjects(session, mail)

    def _reopenable(self) -> ColumnElement[bool]:
        cutoff = self._now - self._reopen_window
        return or_(Ticket.status.in_(OPEN_STATUSES),
                   and_(Ticket.status.in_(CLOSED_STATUSES), Ticket.resolved_at >= cutoff)
                   if self._reopen_window else false())

    async def _load_threads(self, session: AsyncSession, threads: set[tuple[str, str]]) -> None:
        if not threads:
            return
        for ticket in await session.scalars(
                select(Ticket).where(tuple_(Ticket.channel, Ticket.thread_key).in_(threads),
                                     self._reopenable()).order_by(Ticket.id)):
            key = (ticket.channel, ticket.thread_key)
            known = self._by_thread.get(key)
            # the newest open one wins; a resolved one only when none is open
            if known is None or ticket.status in OPEN_STATUSES or (
                    known.status in CLOSED_STATUSES):
                self._by_thread[key] = ticket

    async def _load_subjects(self, session: AsyncSession,
                             mail: Sequence[tuple[InboundEnvelope, Contact]]) -> None:
        keyed = [(e, c) for e, c in mail if not is_generic(subject_key(e.subject))]
        if not keyed or not self._thread_window:
            return
        earliest = min(e.sent_at for e, _ in keyed) - self._thread_window
        latest = max(e.sent_at for e, _ in keyed) + self._thread_window
        rows = (await session.execute(
            select(Message.subject, Message.sent_at, Ticket)
            .join(Ticket, Ticket.id == Message.ticket_id)
            .where(Ticket.channel.in_({e.channel for e, _ in keyed}),
                   Ticket.contact_id.in_({c.id for _, c in keyed}),
                   Message.direction == "inbound",
                   Message.sent_at >= earliest, Message.sent_at <= latest,
                   self._reopenable())))
        for subject, sent_at, ticket in rows:
            if ticket.contact_id is not None:
                key = (ticket.channel, ticket.contact_id, subject_key(subject))
                self._by_subject.setdefault(key, []).append((sent_at, ticket))

    def find(self, envelope: InboundEnvelope, contact: Contact) -> Target | None:
        """The ticket ``envelope`` continues by the rules above, or ``None`` (a new matter)."""
        channel = envelope.channel
        mail = channel in MAIL_CHANNELS
        refs = references(envelope) if mail else []
        for ref in refs:  # 1. a stored Message-ID
            target = self._seen.by_message_id.get((channel, ref)) or self._by_message_id.get(
                (channel, ref))
            if target is not None and self.usable(target):
                return target
        claimed = [t for ref in refs if (t := ticket_of_message_id(ref, self._domains))]
        if (tag := tagged_ticket(envelope.subject)) is not None:
            claimed.append(tag)
        for ticket_id in claimed:  # 2. our id scheme, then the subject tag
            ticket = self._by_id.get(ticket_id)
            if ticket is None or not self.usable(ticket):
                continue
            if belongs(ticket, contact):
                return ticket
            log.warning(LogEvent.THREAD_CLAIM_REFUSED, channel=channel, ticket_id=ticket_id,
                        message_id=str(envelope.id), contact_id=contact.id)
        thread = (channel, envelope.thread_key)  # 3. the conversation
        target = self._seen.by_thread.get(thread) or self._by_thread.get(thread)
        if target is not None and self.usable(target):
            return target
        return self._by_same_subject(envelope, contact) if mail else None  # 4.

    def _by_same_subject(self, envelope: InboundEnvelope, contact: Contact) -> Target | None:
        key = subject_key(envelope.subject)
        if is_generic(key) or not self._thread_window:
            return None
        slot = (envelope.channel, contact.id, key)
        best: tuple[datetime, Target] | None = None
        candidates: list[tuple[datetime, Target]] = [
            *self._by_subject.get(slot, []), *self._seen.by_subject.get(slot, [])]
        for sent_at, ticket in candidates:
            if abs(envelope.sent_at - sent_at) <= self._thread_window and self.usable(ticket) \
                    and (best is None or sent_at > best[0]):
                best = (sent_at, ticket)
        return best[1] if best else None

    def remember(self, envelope: InboundEnvelope, contact: Contact, target: Target) -> None:
        """``envelope`` is on ``target``: later messages of the batch may thread to it."""
        self._seen.by_message_id[(envelope.channel, envelope.external_id)] = target
        self._seen.by_thread.setdefault((envelope.channel, envelope.thread_key), target)
        if envelope.channel in MAIL_CHANNELS:
            key = subject_key(envelope.subject)
            if not is_generic(key):
                self._seen.by_subject.setdefault((envelope.channel, contact.id, key), []).append(
                    (envelope.sent_at, target))
