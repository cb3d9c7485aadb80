"""Deciding, once per resolved ticket, whether to ask the customer, and sending the ask.

A ticket resolved after at least one reply of ours in its current cycle is asked "how
satisfied are you with how we handled this?" on its own channel, unless no customer wrote it
(auto-replies, bounces, bulk mail), or its contact was asked within ``min_days``. A channel
that cannot carry it (no sender configured, an e-mail ticket without an address, the hotline)
gets a ``manual`` survey: the officer asks by hand. The decision is a row keyed by (ticket,
cycle), so a crash, a second router or a second pass decides nothing twice; the ask is one
``cskh.outbound`` event whose id comes from the survey, so a resend after a crash is sent once
(the senders' ledger) and carries the same link.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from desk.surveys.tokens import new_token, token_hash
from normalizer.threads import DEFAULT_MAIL_DOMAIN
from router.events import OutboundMessage
from router.outbound_mail import bare, reply_headers
from router.outbox import outbound_event
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import Contact, Message, Survey, Ticket

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]
Publish = Callable[[Sequence[OutboundMessage]], Awaitable[None]]

# what the thread shows officers in place of the ask (they never see the link)
SENT_NOTE = "Đã gửi phiếu khảo sát mức độ hài lòng (thang 1–5) cho khách hàng."
ASK = ("Cảm ơn Quý khách đã liên hệ. Yêu cầu {number} của Quý khách đã được xử lý xong.\n"
       "Quý khách hài lòng thế nào với cách chúng tôi hỗ trợ? Xin dành một phút đánh giá "
       "(1–5 sao): {link}\nLiên kết có hiệu lực {days} ngày.")
CHANNELS_WITHOUT_TEXT = frozenset({"hotline"})


@dataclass(frozen=True)
class SurveyPolicy:
    """Where the survey page is, how long a link lives, who may be asked and how."""

    public_url: str
    days: int = 7
    min_days: int = 7
    channels: frozenset[str] = field(default_factory=frozenset)
    mail_domain: str = DEFAULT_MAIL_DOMAIN
    look_back: timedelta = timedelta(days=3)
    batch: int = 200

    def link(self, token: str) -> str:
        """The customer's survey address."""
        return f"{self.public_url.rstrip('/')}/s/{token}"


@dataclass(frozen=True)
class _Decision:
    status: str
    reason: str | None = None
    officer_id: int | None = None


def _staff_id(message: Message) -> int:
    try:
        return int((message.raw or {}).get("staff_id") or 0)
    except (TypeError, ValueError):
        return 0


class OfferSurveys:
    """One pass: decide for the tickets resolved since the last pass, send what is pending."""

    def __init__(self, sessions: SessionFactory, publish: Publish, clock: Clock,
                 policy: SurveyPolicy) -> None:
        self._sessions = sessions
        self._publish = publish
        self._clock = clock
        self._policy = policy

    async def run_once(self) -> int:
        """Decide and send; return how many asks were sent."""
        await self.decide()
        return await self.send()

    async def _undecided(self, now: datetime) -> list[int]:
        decided = exists().where(and_(Survey.ticket_id == Ticket.id,
                                      Survey.cycle == Ticket.reopen_count))
        async with self._sessions() as session:
            return list(await session.scalars(
                select(Ticket.id).where(Ticket.status == "resolved",
                                        Ticket.kind == "customer",  # not care plan tasks
                                        Ticket.resolved_at >= now - self._policy.look_back,
                                        ~decided)
                .order_by(Ticket.id).limit(self._policy.batch)))

    async def decide(self) -> int:
        """Record a decision for every recently resolved ticket that has none yet."""
        now = self._clock()
        made = 0
        for ticket_id in await self._undecided(now):
            try:
                async with self._sessions() as session, session.begin():
                    made += await self._decide_one(session, ticket_id, now)
            except IntegrityError:  # another router decided it first
                continue
        return made

    async def _decide_one(self, session: AsyncSession, ticket_id: int, now: datetime) -> int:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.status != "resolved":
            return 0
        messages = list(await session.scalars(
            select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)))
        contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
        decision = await self._decision(session, ticket, messages, contact, now)
        token = new_token() if decision.status == "pending" else None
        survey = Survey(kind="csat", ticket_id=ticket.id, cycle=ticket.reopen_count,
                        contact_id=ticket.contact_id, customer_id=ticket.customer_id,
                        officer_id=decision.officer_id, channel=ticket.channel,
                        status=decision.status, reason=decision.reason, created_at=now,
                        token_hash=token_hash(token) if token else None, token_pending=token)
        session.add(survey)
        await session.flush()
        if token is not None:
            survey.message_id = await self._note(session, ticket, survey, messages, now)
        log.info(LogEvent.SURVEY_DECIDED, ticket_id=ticket.id, ticket=ticket.number,
                 status=decision.status, reason=decision.reason)
        return 1

    async def _decision(self, session: AsyncSession, ticket: Ticket, messages: list[Message],
                        contact: Contact | None, now: datetime) -> _Decision:
        start = ticket.sla_started_at
        replies = [m for m in messages if m.direction == "outbound" and _staff_id(m)
                   and m.sent_at >= start]
        if not replies:
            return _Decision("skipped", "no_reply")
        officer = _staff_id(replies[-1])
        inbound = [m for m in messages if m.direction == "inbound"]
        if inbound and all((m.raw or {}).get("auto") for m in inbound):
            return _Decision("skipped", "machine", officer)
        if ticket.contact_id is not None:
            recent = await session.scalar(select(Survey.id).where(
                Survey.contact_id == ticket.contact_id, Survey.status.in_(("pending", "sent",
                                                                            "manual")),
                Survey.created_at >= now - timedelta(days=self._policy.min_days)).limit(1))
            if recent is not None:
                return _Decision("skipped", "asked_recently", officer)
        if ticket.channel in CHANNELS_WITHOUT_TEXT or ticket.channel not in self._policy.channels:
            return _Decision("manual", "no_sender", officer)
        if ticket.channel == "email" and not (contact and contact.email):
            return _Decision("manual", "no_address", officer)
        return _Decision("pending", None, officer)

    async def _note(self, session: AsyncSession, ticket: Ticket, survey: Survey,
                    messages: list[Message], now: datetime) -> int:
        """The thread's record of the ask (officers see this, never the link)."""
        last_in = next((m for m in reversed(messages)
                        if m.direction == "inbound" and not (m.raw or {}).get("auto")), None)
        mail = (reply_headers(ticket, last_in, self._policy.mail_domain)
                if ticket.channel == "email" else None)
        public_id = uuid.uuid5(survey.public_id, "survey-ask")
        note = Message(
            ticket_id=ticket.id, envelope_id=public_id, direction="outbound",
            channel=ticket.channel,
            external_id=(bare(mail.message_id) or "") if mail else f"cskh-{public_id}",
            sender_name="CSKH", subject=mail.subject if mail else ticket.subject,
            text=SENT_NOTE, attachments={"files": []},
            in_reply_to=last_in.external_id if last_in else None, sent_at=now, received_at=now,
            # emitted: the survey sender emits it with the link, not the reply outbox
            raw={"survey": str(survey.public_id), "emitted": True, **({"headers": {
                "message_id": bare(mail.message_id), "in_reply_to": bare(mail.in_reply_to),
                "references": [r.strip("<>") for r in (mail.references or "").split()],
                "subject": mail.subject}} if mail else {})})
        session.add(note)
        await session.flush()
        return note.id

    async def send(self) -> int:
        """Send every pending ask; mark each sent once the bus has it."""
        now = self._clock()
        async with self._sessions() as session:
            pending = list(await session.scalars(
                select(Survey).where(Survey.kind == "csat", Survey.status == "pending",
                                     Survey.token_pending.is_not(None))
                .order_by(Survey.id).limit(self._policy.batch)))
            events: list[OutboundMessage] = []
            for survey in pending:
                ticket = await session.get(Ticket, survey.ticket_id)
                note = await session.get(Message, survey.message_id) if survey.message_id else None
                if ticket is None or note is None or survey.token_pending is None:
                    continue
                contact = (await session.get(Contact, ticket.contact_id)
                           if ticket.contact_id else None)
                text = ASK.format(number=ticket.number, link=self._policy.link(
                    survey.token_pending), days=self._policy.days)
                events.append(outbound_event(ticket, note, contact).model_copy(
                    update={"text": text, "event_id": uuid.uuid5(survey.public_id,
                                                                 "cskh.outbound")}))
        if not events:
            return 0
        await self._publish(events)
        sent = {e.message_id for e in events}
        async with self._sessions() as session, session.begin():
            for survey in await session.scalars(select(Survey).where(
                    Survey.message_id.in_(sent), Survey.status == "pending")):
                survey.status, survey.sent_at, survey.token_pending = "sent", now, None
                survey.expires_at = now + timedelta(days=self._policy.days)
        log.info(LogEvent.SURVEY_SENT, count=len(events))
        return len(events)
