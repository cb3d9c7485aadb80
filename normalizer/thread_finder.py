"""``ThreadFinder``: which ticket a customer message continues, for one batch.

The rules, strongest first (mail rules only on mail channels). Who may use the rules that name
a ticket by something guessable depends on how far the sender is who they say
(``normalizer.trust``):

0. **A web form** joins an existing ticket only by a **follow-up token** we signed
   (``normalizer.follow_up``); a tag, a company name or a typed address never joins it. Of the
   rules below only 3 applies to it, and its conversation is its own submission id (a
   redelivery of the same submission): without a valid token it is a new ticket.
1. **A stored Message-ID** in ``In-Reply-To`` or ``References`` (ours on outbound replies, or a
   customer's) names the ticket its message is on. Message-IDs are unguessable, so whoever
   holds one is in the conversation (a colleague in Cc included): no sender check.
2. **Our own Message-ID scheme** (``cskh.{ticket}.{token}@our-domain``) when the row is unknown
   (e.g. after a restore), then **the subject tag** ``[#CSKH-000123]``. Both name a ticket by
   its guessable number, so they count only when the ticket exists and the sender may claim
   it: its own contact (a mail whose ``From`` failed DKIM/DMARC never); a colleague — another
   contact of the ticket's customer — only on a mail whose ``From`` is verified and whose
   domain the customer owns (``customer_domains``); on provider-signed channels any contact
   of the ticket's customer. A forged id or tag is ignored and the next rule applies.
3. **The conversation** (``thread_key``): its open ticket, else its ticket resolved within the
   reopen window.
4. **Same sender, same subject, within a window** (last resort, mail only): a mail that
   presents itself as a reply — a ``Re:``/``RE:``/``Trả lời:``/``TL:``/``Fwd:``… prefix, or an
   ``In-Reply-To``/``References`` we do not hold — joins the sender's own open (or
   reopenable) ticket one of whose messages from them has the same ``subject_key``, sent
   within ``thread_window`` of this one. A mail that does not present itself as a reply is a
   new conversation, whatever its subject (as in RFC 5256 REFERENCES threading and the peers:
   django-helpdesk and Zammad thread by headers and the ticket tag, never by a bare subject).
   Generic subjects never match; a sender whose ``From`` failed DKIM/DMARC never uses it.

A ticket an officer merged into another (``merged_into_id``) stands for that one in every
rule. A ticket resolved longer ago than the reopen window is never continued: the rule that
found it is skipped. Messages earlier in the batch count as if already stored. The finder reads and
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
from normalizer import follow_up
from normalizer.threads import (
    has_reply_prefix,
    is_generic,
    subject_key,
    tagged_ticket,
    ticket_of_message_id,
)
from normalizer.trust import MAIL_CHANNELS, Trust, sender_trust
from storage.log_events import LogEvent
from storage.models import Contact, CustomerDomain, Message, Ticket

OPEN_STATUSES = ("new", "queued", "assigned", "open", "waiting")
CLOSED_STATUSES = ("resolved", "closed")

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


def presents_as_reply(envelope: InboundEnvelope) -> bool:
    """Whether a mail says it answers something: a reply or forward prefix on its subject, or
    an ``In-Reply-To``/``References`` header."""
    return has_reply_prefix(envelope.subject) or bool(references(envelope))


def belongs(ticket: Target, contact: Contact, trust: Trust = "provider",
            domains: frozenset[str] = frozenset()) -> bool:
    """Whether ``contact`` may add to ``ticket`` by naming its number (rule 2 above).

    Its own contact may, unless the mail's ``From`` failed DKIM/DMARC. Another contact of its
    customer may on a provider-signed channel, or on a verified mail from a domain in
    ``domains`` (the ones the ticket's customer owns). A web form never may.
    """
    if trust in ("self_asserted", "failed"):
        return False
    mine: int | None
    if isinstance(ticket, NewTicket):
        mine, customer = ticket.contact.id, ticket.contact.customer_id
    else:
        mine, customer = ticket.contact_id, ticket.customer_id
    if contact.id == mine:
        return True
    if customer is None or contact.customer_id != customer:
        return False
    if trust == "provider":
        return True
    return trust == "verified" and (contact.email or "").rpartition("@")[2] in domains


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
                 mail_domains: frozenset[str], follow_up_secret: str | None = None) -> None:
        self._now = now
        self._secret = follow_up_secret
        self._customer_domains: dict[int, frozenset[str]] = {}
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
            if (proved := self._proved(envelope)) is not None:
                wanted.add(proved)
        if wanted:
            self._by_id = {t.id: t for t in await session.scalars(
                select(Ticket).where(Ticket.id.in_(wanted)))}
        owners = {t.customer_id for t in self._by_id.values() if t.customer_id is not None}
        if owners and any(sender_trust(e) == "verified" for e, _ in mail):
            owned: dict[int, set[str]] = {}
            for domain, customer_id in await session.execute(
                    select(CustomerDomain.domain, CustomerDomain.customer_id)
                    .where(CustomerDomain.customer_id.in_(owners))):
                owned.setdefault(customer_id, set()).add(domain)
            self._customer_domains = {c: frozenset(d) for c, d in owned.items()}
        self._by_message_id = {key: self._by_id[tid] for key, tid in found.items()
                               if tid in self._by_id}
        await self._load_threads(session, {(e.channel, e.thread_key) for e, _ in said})
        await self._load_subjects(session, mail)
        await self._follow_merges(session)

    async def _follow_merges(self, session: AsyncSession) -> None:
        """A ticket an officer merged into another stands for that one, in every rule (its
        Message-IDs moved there with its messages; its number, token and conversation are
        followed here), through a chain of merges."""
        loaded = [*self._by_id.values(), *self._by_thread.values(),
                  *(t for entries in self._by_subject.values() for _, t in entries)]
        target: dict[int, Ticket] = {}
        pending = {t.merged_into_id for t in loaded if t.merged_into_id is not None}
        for _ in range(8):  # hops: a merge of a merge
            pending -= set(target)
            if not pending:
                break
            for t in await session.scalars(select(Ticket).where(Ticket.id.in_(pending))):
                target[t.id] = t
            pending = {t.merged_into_id for t in target.values()
                       if t.merged_into_id is not None}

        def final(ticket: Ticket) -> Ticket:
            for _ in range(8):
                if ticket.merged_into_id is None or ticket.merged_into_id not in target:
                    break
                ticket = target[ticket.merged_into_id]
            return ticket

        if not target:
            return
        self._by_id = {k: final(t) for k, t in self._by_id.items()}
        self._by_thread = {k: final(t) for k, t in self._by_thread.items()}
        self._by_message_id = {k: final(t) for k, t in self._by_message_id.items()}
        self._by_subject = {k: [(at, final(t)) for at, t in v]
                            for k, v in self._by_subject.items()}

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

    def _proved(self, envelope: InboundEnvelope) -> int | None:
        """The ticket a web form's follow-up token proves (``None`` for other channels)."""
        if sender_trust(envelope) != "self_asserted" or not isinstance(envelope.raw, dict):
            return None
        return follow_up.ticket_of(self._secret, envelope.raw.get(follow_up.FIELD), self._now)

    def _domains_of(self, ticket: Target) -> frozenset[str]:
        customer = (ticket.contact.customer_id if isinstance(ticket, NewTicket)
                    else ticket.customer_id)
        return self._customer_domains.get(customer, frozenset()) if customer else frozenset()

    def find(self, envelope: InboundEnvelope, contact: Contact) -> Target | None:
        """The ticket ``envelope`` continues by the rules above, or ``None`` (a new matter)."""
        channel = envelope.channel
        trust = sender_trust(envelope)
        if trust == "self_asserted":  # 0. a web form: a signed follow-up token
            proved = self._proved(envelope)
            ticket = self._by_id.get(proved) if proved is not None else None
            if ticket is not None and self.usable(ticket):
                return ticket
            if envelope.raw.get(follow_up.FIELD) or tagged_ticket(envelope.subject):
                log.warning(LogEvent.THREAD_CLAIM_REFUSED, channel=channel,
                            ticket_id=proved or tagged_ticket(envelope.subject),
                            message_id=str(envelope.id), contact_id=contact.id)
            return self._conversation(envelope)  # its own submission id: never another's
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
            if belongs(ticket, contact, trust, self._domains_of(ticket)):
                return ticket
            log.warning(LogEvent.THREAD_CLAIM_REFUSED, channel=channel, ticket_id=ticket_id,
                        message_id=str(envelope.id), contact_id=contact.id)
        target = self._conversation(envelope)  # 3. the conversation
        if target is not None:
            return target
        if not mail or trust == "failed" or not presents_as_reply(envelope):
            return None
        return self._by_same_subject(envelope, contact)  # 4.

    def _conversation(self, envelope: InboundEnvelope) -> Target | None:
        thread = (envelope.channel, envelope.thread_key)
        target = self._seen.by_thread.get(thread) or self._by_thread.get(thread)
        return target if target is not None and self.usable(target) else None

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
