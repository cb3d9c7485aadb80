"""Sending a campaign: one invitation per account once ``send_at`` has passed, one reminder.

``SendCampaigns.run_once`` (the ``router`` role runs it with the survey offer) first records
an invitation for every matching account that has none (unique per campaign and contact, so
a second router or a second pass invites nobody twice), then sends what is pending through
``cskh.outbound``, then, ``remind_days`` after the ask, reminds once whoever has not
answered. Each ask and each reminder is one outbound event whose id comes from the
invitation, so a resend after a crash is sent once (the senders' ledger) with the same link.

The channel: e-mail when the contact has an address and e-mail is configured (a campaign is
not an answer in a conversation: Messenger only carries it inside its messaging window), else
the chat thread (Messenger, Zalo) of the contact's latest ticket when that channel has a
sender, else ``manual``: staff ask by hand (``cskh survey campaign show`` lists them).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports.periods import LOCAL
from desk.surveys.campaign import audience
from desk.surveys.offer import SurveyPolicy
from desk.surveys.tokens import new_token, token_hash
from router.events import NO_STORED_MESSAGE, OutboundEmail, OutboundMessage
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import (
    Campaign,
    CampaignAnswer,
    CampaignInvitation,
    Contact,
    Customer,
    Survey,
    Ticket,
)

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]
Publish = Callable[[Sequence[OutboundMessage]], Awaitable[None]]
CHAT = ("zalo", "facebook")
ASK = ("Kính gửi Quý khách,\nĐể phục vụ Quý khách tốt hơn, chúng tôi trân trọng mời Quý khách "
       "tham gia khảo sát \"{name}\" (khoảng 3 phút): {link}\n"
       "Liên kết có hiệu lực đến ngày {until}. Xin cảm ơn Quý khách.")
REMIND = ("Kính gửi Quý khách,\nChúng tôi chưa nhận được ý kiến của Quý khách cho khảo sát "
          "\"{name}\". Xin Quý khách dành 3 phút trả lời: {link}\n"
          "Liên kết có hiệu lực đến ngày {until}. Xin cảm ơn Quý khách.")


def link_life(campaign: Campaign, policy: SurveyPolicy) -> timedelta:
    """How long a campaign link lives from the ask: until the reminder, then a survey's life."""
    return timedelta(days=campaign.remind_days + policy.days)


class SendCampaigns:
    """One pass over the open campaigns whose time has come: invite, send, remind."""

    def __init__(self, sessions: SessionFactory, publish: Publish, clock: Clock,
                 policy: SurveyPolicy) -> None:
        self._sessions = sessions
        self._publish = publish
        self._clock = clock
        self._policy = policy

    async def run_once(self) -> int:
        """Invite, send and remind; return how many asks and reminders were sent."""
        await self.invite()
        sent = await self.send()
        await self.decide_reminders()
        return sent + await self.send_reminders()

    async def _due(self, now: datetime) -> list[Campaign]:
        async with self._sessions() as session:
            return list(await session.scalars(select(Campaign).where(
                Campaign.state == "open", Campaign.send_at <= now).order_by(Campaign.id)))

    async def invite(self) -> int:
        """Record an invitation for every matching account of a due campaign without one."""
        now = self._clock()
        made = 0
        for campaign in await self._due(now):
            after = 0
            while True:
                async with self._sessions() as session:
                    pairs = await audience(session, campaign, after, self._policy.batch)
                    invited = set(await session.scalars(
                        select(CampaignInvitation.customer_id).where(
                            CampaignInvitation.campaign_id == campaign.id,
                            CampaignInvitation.customer_id.in_([c for c, _ in pairs]))))
                if not pairs:
                    break
                after = pairs[-1][0]
                for customer_id, contact_id in pairs:
                    if customer_id in invited:
                        continue
                    try:
                        async with self._sessions() as session, session.begin():
                            made += await self._invite_one(session, campaign, customer_id,
                                                           contact_id, now)
                    except IntegrityError:  # another router invited them first
                        continue
        return made

    async def _channel(self, session: AsyncSession, contact: Contact
                       ) -> tuple[str, int | None, str, str | None]:
        """(channel, ticket whose thread carries it, status, reason)."""
        channels = self._policy.channels
        if contact.email and "email" in channels:
            return "email", None, "pending", None
        latest = await session.scalar(
            select(Ticket).where(Ticket.contact_id == contact.id, Ticket.channel.in_(CHAT))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(1))
        if latest is not None and latest.channel in channels:
            return latest.channel, latest.id, "pending", None
        if contact.email:
            return "email", None, "manual", "no_sender"
        if latest is not None:
            return latest.channel, latest.id, "manual", "no_sender"
        return "hotline" if contact.phone else "email", None, "manual", "no_address"

    async def _invite_one(self, session: AsyncSession, campaign: Campaign, customer_id: int,
                          contact_id: int, now: datetime) -> int:
        contact = await session.get(Contact, contact_id)
        customer = await session.get(Customer, customer_id)
        if contact is None or customer is None:
            return 0
        channel, ticket_id, status, reason = await self._channel(session, contact)
        token = new_token() if status == "pending" else None
        survey = Survey(kind="campaign", ticket_id=None, cycle=0, contact_id=contact.id,
                        customer_id=customer.id, officer_id=customer.owner_id, channel=channel,
                        status=status, reason=reason, created_at=now,
                        token_hash=token_hash(token) if token else None, token_pending=token)
        session.add(survey)
        await session.flush()
        session.add(CampaignInvitation(
            campaign_id=campaign.id, contact_id=contact.id, customer_id=customer.id,
            survey_id=survey.id, ticket_id=ticket_id, channel=channel, status=status,
            reason=reason, created_at=now))
        await session.flush()
        log.info(LogEvent.CAMPAIGN_INVITED, campaign_id=campaign.id, customer_id=customer.id,
                 channel=channel, status=status, reason=reason)
        return 1

    async def _event(self, session: AsyncSession, campaign: Campaign,
                     invitation: CampaignInvitation, token: str, kind: str,
                     until: datetime) -> OutboundMessage | None:
        contact = await session.get(Contact, invitation.contact_id)
        if contact is None:
            return None
        template = ASK if kind == "ask" else REMIND
        text = template.format(name=campaign.name, link=self._policy.link(token),
                               until=until.astimezone(LOCAL).strftime("%d/%m/%Y"))
        reference = f"KS-{invitation.id:06d}"
        event_id = uuid.uuid5(invitation.public_id, f"campaign:{kind}")
        if invitation.channel == "email":
            ident = (f"<cskh-campaign.{invitation.public_id.hex}.{kind}@"
                     f"{self._policy.mail_domain.strip().lower()}>")
            subject = (campaign.name if kind == "ask"
                       else f"Nhắc lại: {campaign.name}")
            return OutboundMessage(
                event_id=event_id, ticket_id=0, ticket_number=reference,
                message_id=NO_STORED_MESSAGE, channel="email",
                thread_key=f"campaign:{invitation.public_id}",
                to_email=contact.email, to_phone=contact.phone, in_reply_to=None,
                subject=subject, text=text, staff_id=0, staff_name="CSKH",
                created_at=self._clock(), campaign_invitation=invitation.public_id,
                email=OutboundEmail(message_id=ident, in_reply_to=None, references=None,
                                    subject=subject))
        ticket = await session.get(Ticket, invitation.ticket_id) if invitation.ticket_id else None
        if ticket is None:
            return None
        return OutboundMessage(
            event_id=event_id, ticket_id=ticket.id, ticket_number=ticket.number,
            message_id=NO_STORED_MESSAGE, channel=ticket.channel, thread_key=ticket.thread_key,
            to_email=contact.email,
            to_phone=contact.phone, in_reply_to=None, subject=campaign.name, text=text,
            staff_id=0, staff_name="CSKH", created_at=self._clock(),
            campaign_invitation=invitation.public_id)

    async def send(self) -> int:
        """Send every pending ask of an open campaign; mark each sent once the bus has it."""
        now = self._clock()
        async with self._sessions() as session:
            rows = (await session.execute(
                select(CampaignInvitation, Survey, Campaign)
                .join(Survey, Survey.id == CampaignInvitation.survey_id)
                .join(Campaign, Campaign.id == CampaignInvitation.campaign_id)
                .where(Campaign.state == "open", Survey.status == "pending",
                       Survey.token_pending.is_not(None))
                .order_by(CampaignInvitation.id).limit(self._policy.batch))).all()
            events: dict[int, OutboundMessage] = {}
            for invitation, survey, campaign in rows:
                assert survey.token_pending is not None
                event = await self._event(session, campaign, invitation, survey.token_pending,
                                          "ask", now + link_life(campaign, self._policy))
                if event is not None:
                    events[invitation.id] = event
        if not events:
            return 0
        await self._publish(list(events.values()))
        async with self._sessions() as session, session.begin():
            for invitation, survey, campaign in (await session.execute(
                    select(CampaignInvitation, Survey, Campaign)
                    .join(Survey, Survey.id == CampaignInvitation.survey_id)
                    .join(Campaign, Campaign.id == CampaignInvitation.campaign_id)
                    .where(CampaignInvitation.id.in_(list(events)),
                           Survey.status == "pending"))):
                survey.status, survey.sent_at, survey.token_pending = "sent", now, None
                survey.expires_at = now + link_life(campaign, self._policy)
                invitation.status, invitation.sent_at = "sent", now
        log.info(LogEvent.CAMPAIGN_SENT, count=len(events))
        return len(events)

    async def decide_reminders(self) -> int:
        """Give a reminder token to each sent, unanswered, unreminded invitation due one."""
        now = self._clock()
        made = 0
        answered = exists().where(CampaignAnswer.invitation_id == CampaignInvitation.id)
        for campaign in await self._due(now):
            cutoff = now - timedelta(days=campaign.remind_days)
            async with self._sessions() as session, session.begin():
                for invitation in await session.scalars(
                        select(CampaignInvitation).where(
                            CampaignInvitation.campaign_id == campaign.id,
                            CampaignInvitation.status == "sent",
                            CampaignInvitation.reminded_at.is_(None),
                            CampaignInvitation.reminder_token_hash.is_(None),
                            CampaignInvitation.sent_at <= cutoff, ~answered)
                        .order_by(CampaignInvitation.id).limit(self._policy.batch)):
                    token = new_token()
                    invitation.reminder_token_pending = token
                    invitation.reminder_token_hash = token_hash(token)
                    made += 1
        return made

    async def send_reminders(self) -> int:
        """Send every decided reminder of an open campaign; mark each once the bus has it."""
        now = self._clock()
        async with self._sessions() as session:
            rows = (await session.execute(
                select(CampaignInvitation, Campaign)
                .join(Campaign, Campaign.id == CampaignInvitation.campaign_id)
                .where(Campaign.state == "open",
                       CampaignInvitation.reminder_token_pending.is_not(None))
                .order_by(CampaignInvitation.id).limit(self._policy.batch))).all()
            events: dict[int, OutboundMessage] = {}
            for invitation, _campaign in rows:
                assert invitation.reminder_token_pending is not None
                event = await self._event(session, _campaign, invitation,
                                          invitation.reminder_token_pending, "remind",
                                          now + timedelta(days=self._policy.days))
                if event is not None:
                    events[invitation.id] = event
        if not events:
            return 0
        await self._publish(list(events.values()))
        async with self._sessions() as session, session.begin():
            for invitation, survey in (await session.execute(
                    select(CampaignInvitation, Survey)
                    .join(Survey, Survey.id == CampaignInvitation.survey_id)
                    .where(CampaignInvitation.id.in_(list(events)),
                           CampaignInvitation.reminder_token_pending.is_not(None)))):
                invitation.reminded_at, invitation.reminder_token_pending = now, None
                until = now + timedelta(days=self._policy.days)
                if survey.expires_at is None or survey.expires_at < until:
                    survey.expires_at = until
        log.info(LogEvent.CAMPAIGN_REMINDED, count=len(events))
        return len(events)

