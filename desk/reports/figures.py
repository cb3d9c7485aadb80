"""The ``volume``, ``sla`` and ``officers`` reports.

Times are business time in the ticket's queue calendar (Vietnamese working hours, holidays
off), net of the spans the ticket waited on the customer, in minutes: the clock the SLA
deadlines run on, and "within SLA" is "before the ticket's own deadline". A reopened
ticket's clocks restart at the reopening (its current cycle is reported).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

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
from router.business_time import business_time_between
from router.calendars import QueueCalendars
from storage.models import Customer, Message, Staff, Ticket

GROUPINGS = ("channel", "category", "queue", "officer", "tier", "priority")


def _clock(row: TicketRow, until: datetime | None, due: datetime | None,
           calendars: QueueCalendars) -> tuple[float, bool] | None:
    """(business minutes from the cycle's start to ``until``, net of waits; whether before
    ``due``).

    None without either instant, or when ``until`` belongs to an earlier cycle (the first
    response before a reopening). "Within" is ``until < due``: the deadline is the earliest
    instant the budget is used up (``router.sla.due_after``), so this is exactly the clock's
    own breach rule, without recomputing the budget.
    """
    if until is None or due is None or until < row.sla_started_at:
        return None
    cal = calendars.for_queue(row.queue)
    used = business_time_between(row.sla_started_at, until, cal)
    for began, ended in row.pauses:
        low, high = max(began, row.sla_started_at), min(ended, until)
        if high > low:
            used -= business_time_between(low, high, cal)
    return minutes(max(used, timedelta())), until < due


def _stats(prefix: str, clocks: Iterable[tuple[float, bool]]) -> dict[str, object]:
    values = list(clocks)
    spans = [v for v, _ in values]
    return {f"{prefix}_count": len(values),
            f"{prefix}_median_min": rounded(percentile(spans, 0.5)),
            f"{prefix}_p90_min": rounded(percentile(spans, 0.9)),
            f"{prefix}_within_sla_pct": share(sum(ok for _, ok in values), len(values))}


def _grouped(by: str | None) -> tuple[ColumnElement[Any], Select[Any]]:
    """The ``--by`` column and a ``SELECT group, count(*)`` over customers' tickets (not care
    plan tasks) with its joins."""
    columns: dict[str | None, Any] = {
        None: literal("all"), "channel": Ticket.channel, "category": Ticket.category,
        "queue": Ticket.queue, "priority": Ticket.priority, "officer": Staff.name,
        "tier": Customer.tier}
    column: ColumnElement[Any] = columns[by]
    query = select(column, func.count()).select_from(Ticket).where(Ticket.kind == "customer")
    if by == "officer":
        query = query.outerjoin(Staff, Staff.id == Ticket.assignee_id)
    if by == "tier":
        query = query.outerjoin(Customer, Customer.id == Ticket.customer_id)
    return column, query


async def _counts(session: AsyncSession, query: Select[Any], column: ColumnElement[Any],
                  *where: ColumnElement[bool]) -> dict[str, int]:
    found = await session.execute(query.where(*where).group_by(column))
    return {str(group) if group is not None else "-": n for group, n in found.all()}


async def volume(session: AsyncSession, window: Window, by: str | None,
                 _calendars: QueueCalendars) -> Report:
    """Opened, resolved, reopened, backlog at each period's end; messages in and out.

    Counted in the database, one grouped count per figure and period.
    """
    column, query = _grouped(by)
    messages = query.join(Message, Message.ticket_id == Ticket.id)
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for label, start, end in window.periods():
        figures: dict[str, dict[str, int]] = {
            "opened": await _counts(session, query, column, Ticket.created_at >= start,
                                    Ticket.created_at < end),
            "resolved": await _counts(session, query, column, Ticket.resolved_at >= start,
                                      Ticket.resolved_at < end),
            "reopened": await _counts(session, query, column, Ticket.reopened_at >= start,
                                      Ticket.reopened_at < end),
            "backlog": await _counts(session, query, column, Ticket.created_at < end,
                                     or_(Ticket.resolved_at.is_(None),
                                         Ticket.resolved_at >= end)),
        }
        for direction in ("inbound", "outbound"):
            figures["messages_in" if direction == "inbound" else "messages_out"] = \
                await _counts(session, messages, column, Message.direction == direction,
                              Message.received_at >= start, Message.received_at < end)
        for name, counted in figures.items():
            for group, n in counted.items():
                cells[(label, group)][name] = n
    columns = ("opened", "resolved", "reopened", "backlog", "messages_in", "messages_out")
    groups = sorted({g for _, g in cells}) if by else ["all"]
    rows = []
    for label, _s, _e in window.periods():
        for group in groups:
            c = cells.get((label, group), {})
            rows.append({"period": label, **({by: group} if by else {}),
                         **{name: c.get(name, 0) for name in columns}})
    return Report("volume", "Tickets and messages", window.kind, window.first.isoformat(),
                  window.last.isoformat(),
                  ("period", *((by,) if by else ()), *columns), rows,
                  ("backlog: tickets not resolved at the end of the period",))


async def sla(session: AsyncSession, window: Window, by: str | None,
              calendars: QueueCalendars) -> Report:
    """First response and resolution times in business minutes, share within SLA, breaches."""
    tickets = await tickets_in(session, window, (Ticket.first_responded_at, Ticket.resolved_at))
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
    tickets = await tickets_in(session, window, (Ticket.resolved_at,))
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
