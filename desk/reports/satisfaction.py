"""The ``satisfaction`` and ``low-ratings`` reports, from the surveys after resolved tickets.

A survey counts as sent in the period of its ``sent_at`` and as answered in the period of its
latest answer (a customer who changes an answer is one answer, the last one). CSAT is the
share of 4 and 5 among the answers; the officer credited is the one who replied, as captured
when the survey was decided.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports.base import Report, rounded, share
from desk.reports.periods import Window
from router.calendars import QueueCalendars
from storage.models import Customer, Staff, Survey, Ticket


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@dataclass(frozen=True)
class SurveyRow:
    """What a report needs of one CSAT survey."""

    ticket_number: str | None
    channel: str
    category: str | None
    queue: str | None
    officer: str | None
    sent_at: datetime | None
    answered_at: datetime | None
    rating: int | None
    comment: str | None
    follow_up: str | None
    follow_up_status: str | None
    tier: str | None = None
    priority: str | None = None

    def group(self, by: str) -> str:
        """This survey's value of the ``--by`` dimension (``-`` when it has none)."""
        return {"channel": self.channel, "category": self.category, "queue": self.queue,
                "officer": self.officer, "tier": self.tier,
                "priority": self.priority}.get(by) or "-"


async def surveys_in(session: AsyncSession, window: Window) -> list[SurveyRow]:
    """CSAT surveys sent or answered inside ``window``."""
    start, end = window.starts_at, window.ends_at
    follow = select(Ticket.id, Ticket.status).subquery()
    query = (
        select(Survey, Ticket.id, Ticket.category, Ticket.queue, Staff.name, follow.c.id,
               follow.c.status, Customer.tier, Ticket.priority)
        .outerjoin(Ticket, Ticket.id == Survey.ticket_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Staff, Staff.id == Survey.officer_id)
        .outerjoin(follow, follow.c.id == Survey.follow_up_ticket_id)
        .where(Survey.kind == "csat",
               ((Survey.sent_at >= start) & (Survey.sent_at < end))
               | ((Survey.answered_at >= start) & (Survey.answered_at < end))))
    rows = []
    for survey, ticket_id, category, queue, officer, follow_id, follow_status, tier, \
            priority in (await session.execute(query)).all():
        rows.append(SurveyRow(
            ticket_number=f"CSKH-{ticket_id:06d}" if ticket_id else None,
            channel=survey.channel, category=category, queue=queue, officer=officer,
            sent_at=_aware(survey.sent_at), answered_at=_aware(survey.answered_at),
            rating=survey.rating, comment=survey.comment,
            follow_up=f"CSKH-{follow_id:06d}" if follow_id else None,
            follow_up_status=follow_status, tier=tier, priority=priority))
    return rows


async def satisfaction(session: AsyncSession, window: Window, by: str | None,
                       _calendars: QueueCalendars) -> Report:
    """Sent, answered, response rate, CSAT %, mean and the 1-5 distribution."""
    sent: Counter[tuple[str, str]] = Counter()
    ratings: dict[tuple[str, str], list[int]] = defaultdict(list)
    groups: set[str] = set()
    for row in await surveys_in(session, window):
        group = row.group(by) if by else "all"
        groups.add(group)
        if row.sent_at and (label := window.label_of(row.sent_at)):
            sent[(label, group)] += 1
        if row.answered_at and row.rating and (label := window.label_of(row.answered_at)):
            ratings[(label, group)].append(row.rating)
    rows = []
    for label, _s, _e in window.periods():
        for group in sorted(groups) if by else ["all"]:
            given = ratings.get((label, group), [])
            count = sent.get((label, group), 0)
            rows.append({
                "period": label, **({by: group} if by else {}), "sent": count,
                "answered": len(given), "response_rate_pct": share(len(given), count),
                "csat_pct": share(sum(r >= 4 for r in given), len(given)),
                "mean": rounded(sum(given) / len(given), 2) if given else None,
                **{f"rated_{n}": given.count(n) for n in range(1, 6)}})
    columns = tuple(rows[0]) if rows else ("period",)
    return Report("satisfaction", "Customer satisfaction (CSAT)", window.kind,
                  window.first.isoformat(), window.last.isoformat(), columns, rows,
                  ("CSAT: share of 4 and 5 among the answers",
                   "response rate: answers in the period over surveys sent in it"))


async def low_ratings(session: AsyncSession, window: Window, _by: str | None,
                      _calendars: QueueCalendars) -> Report:
    """Every rating of 1 or 2 answered in the window, with its comment, grouped by category."""
    found = [r for r in await surveys_in(session, window)
             if r.rating is not None and r.rating <= 2 and r.answered_at
             and window.label_of(r.answered_at)]
    found.sort(key=lambda r: (r.category or "", r.answered_at or datetime.min.replace(tzinfo=UTC)))
    columns = ("category", "period", "ticket", "channel", "officer", "rating", "comment",
               "follow_up", "follow_up_status")
    rows = [{"category": r.category or "-", "period": window.label_of(r.answered_at)
             if r.answered_at else None, "ticket": r.ticket_number, "channel": r.channel,
             "officer": r.officer, "rating": r.rating, "comment": r.comment,
             "follow_up": r.follow_up, "follow_up_status": r.follow_up_status}
            for r in found]
    counts = Counter(r["category"] for r in rows)
    notes = tuple(f"{category}: {n}" for category, n in counts.most_common())
    return Report("low-ratings", "Ratings of 1 and 2, by category", window.kind,
                  window.first.isoformat(), window.last.isoformat(), columns, rows, notes)
