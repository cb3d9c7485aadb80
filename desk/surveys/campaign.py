"""The twice-yearly satisfaction campaign: creating, listing, showing and closing one, and who
it asks.

A campaign asks one contact of every active account that matches its tier and segment: the
contact marked as the account's survey contact, else the one who opened the most tickets
(the lowest id on a tie). Closing a campaign stops its sending and reminders and closes its
links: answers given stay, no new one is taken.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports.periods import LOCAL
from storage.models import (
    Campaign,
    CampaignAnswer,
    CampaignInvitation,
    Contact,
    Customer,
    Survey,
    Ticket,
)

TIERS = ("key", "standard", "small")
MAX_NAME = 300
# a bare date sends at the start of the working day, Vietnamese time
SEND_HOUR = time(8, 0)


class CampaignError(ValueError):
    """A campaign cannot be created, found or changed as asked: the message says why."""


def parse_send_at(value: str | None, now: datetime) -> datetime:
    """When to send: ``YYYY-MM-DD`` (08:00 Asia/Ho_Chi_Minh), an ISO date-time (naive is
    Vietnamese time), or ``now`` when unset."""
    if value is None or not value.strip():
        return now
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), SEND_HOUR, LOCAL)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CampaignError(f"--send-at {value!r} is not a date (YYYY-MM-DD) or an ISO "
                            "date-time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=LOCAL)


def clean_name(name: str) -> str:
    """The campaign's name as kept: NFC, trimmed; ``CampaignError`` when empty or too long."""
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        raise CampaignError("the campaign needs a name")
    if len(text) > MAX_NAME:
        raise CampaignError(f"the campaign's name is longer than {MAX_NAME} characters")
    return text


async def create_campaign(session: AsyncSession, *, name: str, tier: str | None,
                          segment: str | None, send_at: datetime, remind_days: int,
                          now: datetime) -> Campaign:
    """A new open campaign; ``CampaignError`` for a taken name or a bad filter."""
    name = clean_name(name)
    if tier is not None and tier not in TIERS:
        raise CampaignError(f"--tier must be one of {', '.join(TIERS)}, not {tier!r}")
    if not 1 <= remind_days <= 60:
        raise CampaignError("--remind-days is from 1 to 60")
    if await session.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
        raise CampaignError(f"a campaign called {name!r} exists already")
    segment = unicodedata.normalize("NFC", segment).strip() or None if segment else None
    campaign = Campaign(name=name, tier=tier, segment=segment, send_at=send_at.astimezone(UTC),
                        remind_days=remind_days, state="open", created_at=now)
    session.add(campaign)
    await session.flush()
    return campaign


async def get_campaign(session: AsyncSession, name: str) -> Campaign:
    """The campaign called ``name``; ``CampaignError`` when there is none."""
    found = await session.scalar(select(Campaign).where(Campaign.name == clean_name(name)))
    if found is None:
        raise CampaignError(f"no campaign called {name!r} (see `cskh survey campaign ls`)")
    return found


async def close_campaign(session: AsyncSession, name: str, now: datetime) -> Campaign:
    """Close ``name``: nothing more is sent, its links close now. Closing twice is a no-op."""
    campaign = await get_campaign(session, name)
    if campaign.state == "closed":
        return campaign
    campaign.state, campaign.closed_at = "closed", now
    survey_ids = select(CampaignInvitation.survey_id).where(
        CampaignInvitation.campaign_id == campaign.id)
    for survey in await session.scalars(select(Survey).where(Survey.id.in_(survey_ids))):
        if survey.expires_at is None or survey.expires_at > now:
            survey.expires_at = now
        if survey.status == "pending":
            survey.status, survey.reason, survey.token_pending = "skipped", "closed", None
    for invitation in await session.scalars(select(CampaignInvitation).where(
            CampaignInvitation.campaign_id == campaign.id,
            CampaignInvitation.reminder_token_pending.is_not(None))):
        invitation.reminder_token_pending = None
    await session.flush()
    return campaign


def _utc(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign with its counts so far."""

    campaign: Campaign
    accounts: int
    without_contact: int
    invited: int
    sent: int
    manual: int
    reminded: int
    answered: int

    def as_json(self) -> dict[str, object]:
        """What ``--json`` prints for it."""
        c = self.campaign
        return {"name": c.name, "state": c.state, "tier": c.tier, "segment": c.segment,
                "send_at": _utc(c.send_at), "remind_days": c.remind_days,
                "created_at": _utc(c.created_at), "closed_at": _utc(c.closed_at),
                "accounts": self.accounts, "without_contact": self.without_contact,
                "invited": self.invited, "sent": self.sent,
                "manual": self.manual, "reminded": self.reminded, "answered": self.answered}


async def summarize(session: AsyncSession, campaign: Campaign) -> CampaignSummary:
    """``campaign``'s counts: matching accounts, invitations by state, reminders, answers."""
    statuses = dict((await session.execute(
        select(CampaignInvitation.status, func.count()).where(
            CampaignInvitation.campaign_id == campaign.id)
        .group_by(CampaignInvitation.status))).all())
    reminded = await session.scalar(select(func.count()).select_from(CampaignInvitation).where(
        CampaignInvitation.campaign_id == campaign.id,
        CampaignInvitation.reminded_at.is_not(None))) or 0
    answered = await session.scalar(select(func.count()).select_from(CampaignAnswer).where(
        CampaignAnswer.campaign_id == campaign.id)) or 0
    accounts = await session.scalar(select(func.count()).select_from(
        audience_accounts(campaign).subquery())) or 0
    reachable = await session.scalar(select(func.count()).select_from(
        audience_accounts(campaign).where(
            exists().where(Contact.customer_id == Customer.id)).subquery())) or 0
    return CampaignSummary(campaign, accounts, accounts - reachable, sum(statuses.values()),
                           statuses.get("sent", 0), statuses.get("manual", 0), reminded,
                           answered)


async def list_campaigns(session: AsyncSession) -> list[CampaignSummary]:
    """Every campaign with its counts, newest first."""
    found = await session.scalars(select(Campaign).order_by(Campaign.send_at.desc(),
                                                            Campaign.id.desc()))
    return [await summarize(session, c) for c in found]


def audience_accounts(campaign: Campaign) -> Select[int]:
    """``SELECT customers.id`` of the active accounts ``campaign``'s filters match."""
    query = select(Customer.id).where(Customer.active.is_(True))
    if campaign.tier:
        query = query.where(Customer.tier == campaign.tier)
    if campaign.segment:
        query = query.where(Customer.segment == campaign.segment)
    return query


async def audience(session: AsyncSession, campaign: Campaign,
                   after_customer: int = 0, limit: int = 500) -> list[tuple[int, int]]:
    """(account id, contact id) of the contact to ask at each matching account, accounts in
    id order from ``after_customer``; accounts without a contact are left out."""
    accounts = list(await session.scalars(
        audience_accounts(campaign).where(Customer.id > after_customer)
        .order_by(Customer.id).limit(limit)))
    if not accounts:
        return []
    tickets = (select(Ticket.contact_id, func.count().label("n"))
               .where(Ticket.customer_id.in_(accounts)).group_by(Ticket.contact_id).subquery())
    rows = (await session.execute(
        select(Contact.customer_id, Contact.id, Contact.survey_contact,
               func.coalesce(tickets.c.n, 0))
        .outerjoin(tickets, tickets.c.contact_id == Contact.id)
        .where(Contact.customer_id.in_(accounts)))).all()
    best: dict[int, tuple[bool, int, int]] = {}
    for customer_id, contact_id, marked, count in rows:
        if customer_id is None:
            continue
        rank = (bool(marked), int(count), -contact_id)
        if customer_id not in best or rank > best[customer_id]:
            best[customer_id] = rank
    return [(c, -best[c][2]) for c in accounts if c in best]
