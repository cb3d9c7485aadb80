"""The rows of ``/inbox``: which tickets a tab shows, and what each row says.

A tab is the staff API's queue query (``desk.queue_filters``, the same visibility rule, the
same filters) with a scope: ``mine`` (my active tickets), ``unassigned`` (waiting in my
queues) or ``all`` (everything I may see; leads and admins). The SLA time left is the
resolution clock's remaining business time (``router.sla.sla_state`` on the queue's calendar,
paused spans excluded): ``warning`` from 80 % used, ``breached`` past the deadline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth import visible
from desk.pages import LOCAL_TZ
from desk.queue_filters import FilterError, QueueQuery
from router.calendars import Calendars, calendar_for
from router.sla import sla_state
from router.staff import ACTIVE_TICKET_STATUSES
from storage.models import Customer, Message, SlaEvent, SlaPause, Staff, Ticket, ticket_number

TABS = ("mine", "unassigned", "all")
WAITING_STATUSES = ("new", "queued")
OPEN_STATUSES = (*WAITING_STATUSES, *ACTIVE_TICKET_STATUSES)
EXCERPT_CHARS = 140
# the inbox's own parameters; every other one goes to the queue query
OWN = ("tab", "page")


def tabs_for(staff: Staff) -> tuple[str, ...]:
    """The tabs ``staff`` has: everyone mine and unassigned; leads and admins all."""
    return TABS if staff.role in ("lead", "admin") else TABS[:2]


def _local_instant(value: str) -> str:
    """A ``datetime-local`` form value (no offset) read as Hồ Chí Minh City time."""
    text = value.strip()
    if text and "T" in text and not any(c in text[10:] for c in "+-Z"):
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            return value
        return naive.replace(tzinfo=LOCAL_TZ).isoformat()
    return value


@dataclass(frozen=True, slots=True)
class InboxQuery:
    """A tab, its filters (the API's) and a page."""

    tab: str
    query: QueueQuery
    params: dict[str, str]  # the non-empty form values, to keep in links and the form

    @classmethod
    def parse(cls, raw: Mapping[str, list[str]], staff: Staff) -> InboxQuery:
        """From the page's query string: empty form fields are ignored; a tab ``staff`` lacks
        or a bad filter is a ``FilterError``."""
        given = {name: [v for v in values if v.strip()] for name, values in raw.items()}
        given = {name: values for name, values in given.items() if values}
        tab = (given.get("tab") or ["mine"])[0]
        if tab not in tabs_for(staff):
            raise FilterError(f"tab {tab!r} is not one of {', '.join(tabs_for(staff))}")
        page = (given.get("page") or ["1"])[0]
        if not page.isascii() or not page.isdigit() or not 1 <= int(page[:7]) <= 100_000:
            raise FilterError("page must be a whole number from 1")
        api = {name: values for name, values in given.items()
               if name not in OWN and name not in ("scope", "offset")}
        if "due_before" in api:
            api["due_before"] = [_local_instant(v) for v in api["due_before"]]
        query = QueueQuery.parse({**api, "scope": ["mine" if tab == "mine" else "visible"]})
        query = dataclasses.replace(query, offset=(int(page) - 1) * query.limit)
        if tab != "mine" and not query.status:
            statuses = WAITING_STATUSES if tab == "unassigned" else OPEN_STATUSES
            query = dataclasses.replace(query, status=statuses)
        params = {name: ",".join(values) for name, values in given.items() if name != "page"}
        return cls(tab=tab, query=query, params=params)

    @property
    def page(self) -> int:
        return self.query.offset // self.query.limit + 1

    def where(self, staff: Staff, now: datetime) -> Any:
        """The tickets of this tab for ``staff`` (always within what they may see)."""
        clause = self.query.where(staff, now)
        if self.tab == "unassigned":
            clause = and_(clause, Ticket.assignee_id.is_(None),
                          Ticket.queue.in_([q.name for q in staff.queues]))
        return clause


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the inbox."""

    number: str
    company: str
    channel: str
    category: str
    priority: str
    status: str
    sla_state: str  # ok, warning, breached or none (no deadline)
    sla_left: timedelta | None
    excerpt: str
    assignee: str
    due: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    """The rows of one page of a tab, and how many there are in all."""

    rows: list[Row]
    total: int
    page: int
    pages: int


def _excerpt(text: str | None) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS - 1] + "…"


_ROW_COLUMNS = (Ticket.id, Ticket.customer_id, Ticket.assignee_id, Ticket.channel,
                Ticket.category, Ticket.priority, Ticket.status, Ticket.queue, Ticket.subject,
                Ticket.created_at, Ticket.reopened_at, Ticket.resolution_due)


async def inbox_page(session: AsyncSession, staff: Staff, inbox: InboxQuery, now: datetime,
                     calendars: Calendars) -> Page:
    """One page of ``inbox`` for ``staff``: earliest resolution due first."""
    where = inbox.where(staff, now)
    total = int(await session.scalar(select(func.count(Ticket.id)).where(where)) or 0)
    # Core rows of just the columns a row shows (not ORM entities: no identity map, no JSON)
    tickets = (await session.execute(
        select(*_ROW_COLUMNS).where(where)
        .order_by(Ticket.resolution_due.is_(None), Ticket.resolution_due, Ticket.id)
        .limit(inbox.query.limit).offset(inbox.query.offset))).all()
    ids = [t.id for t in tickets]
    last: dict[int, str | None] = {}
    pauses: dict[int, list[tuple[datetime, datetime]]] = {}
    names: dict[int, str] = {}
    companies: dict[int, str] = {}
    if ids:
        newest = select(func.max(Message.id)).where(Message.ticket_id.in_(ids)) \
            .group_by(Message.ticket_id)
        last = {tid: text for tid, text in (await session.execute(
            select(Message.ticket_id, Message.text).where(Message.id.in_(newest)))).all()}
        for tid, started, ended in (await session.execute(
                select(SlaPause.ticket_id, SlaPause.started_at, SlaPause.ended_at)
                .where(SlaPause.ticket_id.in_(ids)))).all():
            pauses.setdefault(tid, []).append((started, ended or now))
        staff_ids = {t.assignee_id for t in tickets if t.assignee_id is not None}
        if staff_ids:
            names = {i: n for i, n in (await session.execute(
                select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids)))).all()}
        customer_ids = {t.customer_id for t in tickets if t.customer_id is not None}
        if customer_ids:
            companies = {i: n for i, n in (await session.execute(
                select(Customer.id, Customer.name).where(Customer.id.in_(customer_ids))))
                .all()}
    rows = []
    for t in tickets:
        state, left = "none", None
        if t.resolution_due is not None and t.status in OPEN_STATUSES:
            status = sla_state(now, t.reopened_at or t.created_at, t.resolution_due,
                               calendar_for(calendars, t.queue), pauses.get(t.id, ()))
            state, left = status.state, status.remaining
        text = last.get(t.id) if t.id in last else t.subject
        rows.append(Row(
            number=ticket_number(t.id), company=companies.get(t.customer_id or 0, ""),
            channel=t.channel, category=t.category, priority=t.priority, status=t.status,
            sla_state=state, sla_left=left, excerpt=_excerpt(text),
            assignee=names.get(t.assignee_id or 0, ""), due=t.resolution_due))
    pages = max(1, -(-total // inbox.query.limit))
    return Page(rows=rows, total=total, page=inbox.page, pages=pages)


async def fingerprint(session: AsyncSession, staff: Staff) -> tuple[Any, ...]:
    """What changes when the inbox should be redrawn: the newest message, assignment-or-update
    and SLA event among the tickets ``staff`` may see."""
    seen = visible(staff)
    newest_message = await session.scalar(
        select(func.max(Message.id)).join(Ticket, Ticket.id == Message.ticket_id).where(seen))
    touched = (await session.execute(
        select(func.max(Ticket.updated_at), func.max(Ticket.id), func.count(Ticket.id))
        .where(seen, Ticket.status.in_(OPEN_STATUSES)))).one()
    newest_sla = await session.scalar(
        select(func.max(SlaEvent.id)).join(Ticket, Ticket.id == SlaEvent.ticket_id).where(seen))
    return (newest_message, *touched, newest_sla)
