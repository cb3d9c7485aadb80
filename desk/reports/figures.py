"""The ``volume``, ``sla`` and ``officers`` reports.

Times are business time in the ticket's queue calendar (Vietnamese working hours, holidays
off), net of the spans the ticket waited on the customer, in minutes: the same clock the SLA
deadlines run on (``router.sla.sla_state``), so "within SLA" here is what the sweeper called
ok. A reopened ticket's clocks restart at the reopening (its current cycle is reported).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports.base import Report, minutes, percentile, rounded, share
from desk.reports.data import (
    TicketRow,
    breaches_in,
    messages_in,
    staff_names,
    tickets_in,
)
from desk.reports.periods import Window
from desk.reports.satisfaction import surveys_in
from router.calendars import QueueCalendars
from router.sla import sla_state

GROUPINGS = ("channel", "category", "queue", "officer", "tier", "priority")


def _clock(row: TicketRow, until: datetime | None, due: datetime | None,
           calendars: QueueCalendars) -> tuple[float, bool] | None:
    """(business minutes from the cycle's start to ``until``, whether within ``due``).

    None without either instant, or when ``until`` belongs to an earlier cycle (the first
    response before a reopening).
    """
    if until is None or due is None or until < row.sla_started_at:
        return None
    status = sla_state(until, row.sla_started_at, due, calendars.for_queue(row.queue),
                       row.pauses)
    return minutes(status.used), status.state != "breached"


def _stats(prefix: str, clocks: Iterable[tuple[float, bool]]) -> dict[str, object]:
    values = list(clocks)
    spans = [v for v, _ in values]
    return {f"{prefix}_count": len(values),
            f"{prefix}_median_min": rounded(percentile(spans, 0.5)),
            f"{prefix}_p90_min": rounded(percentile(spans, 0.9)),
            f"{prefix}_within_sla_pct": share(sum(ok for _, ok in values), len(values))}


def _key(label: str, group: str, by: str | None) -> tuple[str, str]:
    return (label, group if by else "all")


async def volume(session: AsyncSession, window: Window, by: str | None,
                 _calendars: QueueCalendars) -> Report:
    """Opened, resolved, reopened, backlog at each period's end; messages in and out."""
    tickets = await tickets_in(session, window)
    by_id = {t.id: t for t in tickets}
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    groups = sorted({t.group(by) for t in tickets}) if by else ["all"]
    for ticket in tickets:
        group = ticket.group(by) if by else "all"
        for column, instant in (("opened", ticket.created_at), ("resolved", ticket.resolved_at),
                                ("reopened", ticket.reopened_at)):
            label = window.label_of(instant) if instant else None
            if label:
                counts[(label, group)][column] += 1
    for label, _start, end in window.periods():
        for ticket in tickets:
            resolved_by_end = ticket.resolved_at is not None and ticket.resolved_at < end
            if ticket.created_at < end and not resolved_by_end:
                counts[(label, ticket.group(by) if by else "all")]["backlog"] += 1
    for message in await messages_in(session, window):
        owner = by_id.get(message.ticket_id)
        label = window.label_of(message.at)
        if label:
            group = owner.group(by) if (by and owner) else ("-" if by else "all")
            counts[(label, group)]["messages_in" if message.direction == "inbound"
                                   else "messages_out"] += 1
    columns = ("opened", "resolved", "reopened", "backlog", "messages_in", "messages_out")
    rows = []
    for label, _s, _e in window.periods():
        for group in groups:
            c = counts.get((label, group), Counter())
            rows.append({"period": label, **({by: group} if by else {}),
                         **{name: c[name] for name in columns}})
    return Report("volume", "Tickets and messages", window.kind, window.first.isoformat(),
                  window.last.isoformat(),
                  ("period", *((by,) if by else ()), *columns), rows,
                  ("backlog: tickets not resolved at the end of the period",))


async def sla(session: AsyncSession, window: Window, by: str | None,
              calendars: QueueCalendars) -> Report:
    """First response and resolution times in business minutes, share within SLA, breaches."""
    tickets = await tickets_in(session, window)
    first: dict[tuple[str, str], list[tuple[float, bool]]] = defaultdict(list)
    resolution: dict[tuple[str, str], list[tuple[float, bool]]] = defaultdict(list)
    for t in tickets:
        group = t.group(by) if by else "all"
        label = window.label_of(t.first_responded_at) if t.first_responded_at else None
        clock = _clock(t, t.first_responded_at, t.first_response_due, calendars)
        if label and clock:
            first[(label, group)].append(clock)
        label = window.label_of(t.resolved_at) if t.resolved_at else None
        clock = _clock(t, t.resolved_at, t.resolution_due, calendars)
        if label and clock:
            resolution[(label, group)].append(clock)
    breaches: Counter[tuple[str, str]] = Counter()
    by_id = {t.id: t for t in tickets}
    for ticket_id, at in await breaches_in(session, window):
        label = window.label_of(at)
        ticket = by_id.get(ticket_id)
        if label:
            breaches[(label, ticket.group(by) if (by and ticket) else ("-" if by else "all"))] += 1
    groups = sorted({t.group(by) for t in tickets} | {g for _, g in breaches}) if by else ["all"]
    rows = []
    for label, _s, _e in window.periods():
        for group in groups:
            rows.append({"period": label, **({by: group} if by else {}),
                         **_stats("first_response", first.get((label, group), [])),
                         **_stats("resolution", resolution.get((label, group), [])),
                         "breaches": breaches.get((label, group), 0)})
    columns = tuple(rows[0]) if rows else ("period",)
    return Report("sla", "First response and resolution within SLA", window.kind,
                  window.first.isoformat(), window.last.isoformat(), columns, rows,
                  ("times in business minutes (working hours, holidays and waiting on the "
                   "customer excluded)",))


async def officers(session: AsyncSession, window: Window, _by: str | None,
                   calendars: QueueCalendars) -> Report:
    """The KPI sheet per officer: handled, answers, response and resolution, SLA share."""
    tickets = await tickets_in(session, window)
    names = await staff_names(session)
    handled: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], list[tuple[float, bool]]] = defaultdict(list)
    resolution: dict[tuple[str, str], list[tuple[float, bool]]] = defaultdict(list)
    kept: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for t in tickets:
        if not t.officer or t.resolved_at is None:
            continue
        label = window.label_of(t.resolved_at)
        if not label:
            continue
        key = (label, t.officer)
        handled[key] += 1
        clocks = [_clock(t, t.first_responded_at, t.first_response_due, calendars),
                  _clock(t, t.resolved_at, t.resolution_due, calendars)]
        for clock, into in zip(clocks, (first, resolution), strict=True):
            if clock:
                into[key].append(clock)
        if any(clocks):
            kept[key].append(all(c[1] for c in clocks if c))
    answers: Counter[tuple[str, str]] = Counter()
    for message in await messages_in(session, window):
        label = window.label_of(message.at)
        if label and message.direction == "outbound" and message.staff_id in names:
            answers[(label, names[message.staff_id])] += 1
    ratings: dict[tuple[str, str], list[int]] = defaultdict(list)
    for survey in await surveys_in(session, window):
        label = window.label_of(survey.answered_at) if survey.answered_at else None
        if label and survey.officer and survey.rating:
            ratings[(label, survey.officer)].append(survey.rating)
    people = sorted({o for _, o in handled} | {o for _, o in answers} | {o for _, o in ratings})
    rows = []
    for label, _s, _e in window.periods():
        for officer in people:
            key = (label, officer)
            if not (handled.get(key) or answers.get(key) or ratings.get(key)):
                continue
            given = ratings.get(key, [])
            f, r, both = first.get(key, []), resolution.get(key, []), kept.get(key, [])
            rows.append({
                "period": label, "officer": officer, "tickets_handled": handled.get(key, 0),
                "answers": answers.get(key, 0),
                "first_response_median_min": rounded(percentile([v for v, _ in f], 0.5)),
                "resolution_median_min": rounded(percentile([v for v, _ in r], 0.5)),
                "first_response_within_sla_pct": share(sum(ok for _, ok in f), len(f)),
                "resolution_within_sla_pct": share(sum(ok for _, ok in r), len(r)),
                "sla_pct": share(sum(both), len(both)),
                "csat_pct": share(sum(r >= 4 for r in given), len(given)),
                "low_ratings": sum(r <= 2 for r in given),
            })
    columns = ("period", "officer", "tickets_handled", "answers", "first_response_median_min",
               "resolution_median_min", "first_response_within_sla_pct",
               "resolution_within_sla_pct", "sla_pct", "csat_pct", "low_ratings")
    return Report("officers", "Officers' monthly sheet", window.kind, window.first.isoformat(),
                  window.last.isoformat(), columns, rows,
                  ("tickets_handled: resolved in the period while assigned to the officer",
                   "csat_pct, low_ratings: survey answers in the period credited to the "
                   "officer who replied"))
