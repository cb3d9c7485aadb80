"""The ``campaign NAME`` report: how the twice-yearly survey was answered.

One table, its rows told apart by ``section``:

- ``campaign``, ``tier``, ``segment``, ``owner``: for the whole campaign and for each tier,
  segment and account owner, one row per question: the contacts asked (a link sent; those
  left for an officer to ask by hand are not counted), those who answered, the response rate,
  and the question's answers, mean and distribution (``n_0`` .. ``n_10``; a 1-5 question
  leaves ``n_0`` and ``n_6`` .. ``n_10`` empty).
- ``account``: the lowest-rated accounts, the ``LOWEST`` lowest by overall satisfaction, then
  by the mean of their topic scores, with the overall comment.

An answer changed by the customer counts once, as last given. The report is about the
campaign as a whole: ``--period``/``--from``/``--to`` do not cut it.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports.base import Report, ReportError, rounded, share
from desk.reports.periods import local_date
from storage.models import (
    CAMPAIGN_TOPICS,
    Campaign,
    CampaignAnswer,
    CampaignInvitation,
    Customer,
    Staff,
)

QUESTIONS = ("overall", "recommend", *CAMPAIGN_TOPICS)
GROUPINGS = ("tier", "segment", "owner")
LOWEST = 10
SCALE = range(0, 11)
COLUMNS = ("section", "group", "asked", "answered", "response_rate_pct", "question",
           "answers", "mean", *(f"n_{v}" for v in SCALE), "tier", "segment", "owner",
           "comment")


@dataclass(frozen=True)
class Invited:
    """One contact asked (or to be asked) and what the account answered, if anything."""

    account: str
    tier: str | None
    segment: str | None
    owner: str | None
    sent: bool
    scores: dict[str, int | None] | None  # None: no answer
    comment: str | None

    def group(self, by: str) -> str:
        """This invitation's value of the ``by`` dimension (``-`` for none)."""
        return {"tier": self.tier, "segment": self.segment, "owner": self.owner}.get(by) or "-"


async def _campaign(session: AsyncSession, name: str | None) -> Campaign:
    if not name or not name.strip():
        raise ReportError("report campaign needs the campaign's name: "
                          "cskh report campaign \"NAME\" (see `cskh survey campaign ls`)")
    text = unicodedata.normalize("NFC", name).strip()
    found = await session.scalar(select(Campaign).where(Campaign.name == text))
    if found is None:
        raise ReportError(f"no campaign called {text!r} (see `cskh survey campaign ls`)")
    return found


async def invited(session: AsyncSession, campaign: Campaign) -> list[Invited]:
    """Every invitation of ``campaign`` with its account and answer."""
    query = (
        select(CampaignInvitation.status, Customer.name, Customer.tier, Customer.segment,
               Staff.name, CampaignAnswer)
        .outerjoin(Customer, Customer.id == CampaignInvitation.customer_id)
        .outerjoin(Staff, Staff.id == Customer.owner_id)
        .outerjoin(CampaignAnswer, CampaignAnswer.invitation_id == CampaignInvitation.id)
        .where(CampaignInvitation.campaign_id == campaign.id)
        .order_by(CampaignInvitation.id))
    out = []
    for status, account, tier, segment, owner, answer in (await session.execute(query)).all():
        scores = {q: getattr(answer, q) for q in QUESTIONS} if answer is not None else None
        out.append(Invited(account or "-", tier, segment, owner, status == "sent", scores,
                           answer.overall_comment if answer is not None else None))
    return out


def _rows(section: str, group: str, members: list[Invited]) -> list[dict[str, Any]]:
    asked = sum(m.sent for m in members)
    answers = [m.scores for m in members if m.scores is not None]
    rows = []
    for question in QUESTIONS:
        given = [s[question] for s in answers if s[question] is not None]
        scale = SCALE if question == "recommend" else range(1, 6)
        rows.append({
            "section": section, "group": group, "asked": asked, "answered": len(answers),
            "response_rate_pct": share(len(answers), asked), "question": question,
            "answers": len(given),
            "mean": rounded(sum(v for v in given if v is not None) / len(given), 2)
            if given else None,
            **{f"n_{v}": given.count(v) if v in scale else None for v in SCALE}})
    return rows


def _lowest(members: list[Invited]) -> list[dict[str, Any]]:
    def topics_mean(m: Invited) -> float:
        given = [v for q in CAMPAIGN_TOPICS if (v := (m.scores or {}).get(q)) is not None]
        return sum(given) / len(given) if given else 6.0

    answered = [m for m in members if m.scores is not None]
    answered.sort(key=lambda m: ((m.scores or {}).get("overall") or 0, topics_mean(m),
                                 m.account))
    return [{"section": "account", "group": m.account, "question": "overall",
             "answers": 1, "mean": (m.scores or {}).get("overall"),
             "tier": m.tier, "segment": m.segment, "owner": m.owner, "comment": m.comment}
            for m in answered[:LOWEST]]


async def campaign_report(session: AsyncSession, name: str | None,
                          by: str | None) -> Report:
    """The figures of the campaign ``name``, split by every grouping (or only ``by``)."""
    if by is not None and by not in GROUPINGS:
        raise ReportError(f"report campaign splits by {', '.join(GROUPINGS)}, not {by!r}")
    campaign = await _campaign(session, name)
    members = await invited(session, campaign)
    rows = _rows("campaign", campaign.name, members)
    for grouping in (by,) if by else GROUPINGS:
        groups: dict[str, list[Invited]] = defaultdict(list)
        for member in members:
            groups[member.group(grouping)].append(member)
        for group in sorted(groups):
            rows.extend(_rows(grouping, group, groups[group]))
    rows.extend(_lowest(members))
    first = local_date(campaign.send_at).isoformat()
    last = local_date(campaign.closed_at).isoformat() if campaign.closed_at else first
    return Report("campaign", campaign.name, "campaign", first, last, COLUMNS,
                  [{c: row.get(c) for c in COLUMNS} for row in rows],
                  ("asked: a link sent; answered: one answer per contact, as last given",
                   "recommend is 0-10, every other question 1-5",
                   f"account: the {LOWEST} lowest-rated accounts (overall, then topics)"))
