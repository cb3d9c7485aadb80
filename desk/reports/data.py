"""The rows reports are computed from, read once per report with Core selects (no ORM objects).

Tickets are read by the instants a report counts (answered, resolved) that fall in the
window, through their indexes. Pauses (waiting on the customer) come with them, since SLA time
excludes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from desk.reports.periods import Window
from storage.models import Customer, Message, SlaEvent, SlaPause, Staff, Ticket


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass
class TicketRow:
    """What a report needs of one ticket."""

    id: int
    status: str
    channel: str
    category: str
    queue: str | None
    priority: str
    officer: str | None
    tier: str | None
    created_at: datetime
    sla_started_at: datetime
    first_responded_at: datetime | None
    resolved_at: datetime | None
    reopened_at: datetime | None
    reopen_count: int
    first_response_due: datetime | None
    resolution_due: datetime | None
    pauses: list[tuple[datetime, datetime]] = field(default_factory=list)

    def group(self, by: str) -> str:
        """This ticket's value of the ``--by`` dimension (``-`` when it has none)."""
        value = {"channel": self.channel, "category": self.category, "queue": self.queue,
                 "officer": self.officer, "tier": self.tier, "priority": self.priority}[by]
        return value or "-"


def _touched(window: Window, columns: Sequence[InstrumentedAttribute[Any]]
             ) -> ColumnElement[bool]:
    """Some of ``columns`` falls inside ``window`` (each an indexed range)."""
    return or_(*(and_(c >= window.starts_at, c < window.ends_at) for c in columns))


async def tickets_in(session: AsyncSession, window: Window,
                     touched: Sequence[InstrumentedAttribute[Any]]) -> list[TicketRow]:
    """Customers' tickets one of whose ``touched`` instants falls in ``window``, with their
    pauses (care plan tasks, kind ``care``, are not a customer's matter: left out)."""
    where = and_(_touched(window, touched), Ticket.kind == "customer")
    query = (
        select(Ticket.id, Ticket.status, Ticket.channel, Ticket.category, Ticket.queue,
               Ticket.priority, Staff.name, Customer.tier, Ticket.created_at,
               Ticket.first_responded_at, Ticket.resolved_at, Ticket.reopened_at,
               Ticket.reopen_count, Ticket.first_response_due, Ticket.resolution_due)
        .outerjoin(Staff, Staff.id == Ticket.assignee_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .where(where))
    rows: dict[int, TicketRow] = {}
    for r in (await session.execute(query)).all():
        created = _aware(r.created_at)
        assert created is not None
        reopened = _aware(r.reopened_at)
        rows[r.id] = TicketRow(
            id=r.id, status=r.status, channel=r.channel, category=r.category, queue=r.queue,
            priority=r.priority, officer=r.name, tier=r.tier, created_at=created,
            sla_started_at=reopened or created,
            first_responded_at=_aware(r.first_responded_at), resolved_at=_aware(r.resolved_at),
            reopened_at=reopened, reopen_count=r.reopen_count or 0,
            first_response_due=_aware(r.first_response_due),
            resolution_due=_aware(r.resolution_due))
    if rows:
        pauses = await session.execute(
            select(SlaPause.ticket_id, SlaPause.started_at, SlaPause.ended_at)
            .join(Ticket, Ticket.id == SlaPause.ticket_id).where(where))
        for ticket_id, began, ended in pauses.all():
            row = rows.get(ticket_id)
            began_at = _aware(began)
            if row is not None and began_at is not None:
                row.pauses.append((began_at, _aware(ended) or window.ends_at))
    return list(rows.values())


@dataclass(frozen=True)
class MessageRow:
    """One message in the window: its ticket, direction, when, and the officer of a reply."""

    ticket_id: int
    direction: str
    at: datetime
    staff_id: int


async def messages_in(session: AsyncSession, window: Window) -> list[MessageRow]:
    """Every message received (inbound) or written (outbound) inside ``window``."""
    found = await session.execute(
        select(Message.ticket_id, Message.direction, Message.received_at, Message.raw)
        .where(Message.received_at >= window.starts_at, Message.received_at < window.ends_at))
    out = []
    for ticket_id, direction, received_at, raw in found.all():
        staff = int((raw or {}).get("staff_id") or 0) if direction == "outbound" else 0
        at = _aware(received_at)
        assert at is not None
        out.append(MessageRow(ticket_id, direction, at, staff))
    return out


async def breaches_in(session: AsyncSession, window: Window) -> list[tuple[int, datetime]]:
    """(ticket id, when) of every SLA breach (either clock, any cycle) inside ``window``."""
    found = await session.execute(
        select(SlaEvent.ticket_id, SlaEvent.at)
        .join(Ticket, Ticket.id == SlaEvent.ticket_id)
        .where(Ticket.kind == "customer", SlaEvent.kind == "breach",
               SlaEvent.at >= window.starts_at, SlaEvent.at < window.ends_at))
    return [(ticket_id, _aware(at) or at) for ticket_id, at in found.all()]


async def staff_names(session: AsyncSession) -> dict[int, str]:
    """Staff id -> name."""
    return {i: n for i, n in (await session.execute(select(Staff.id, Staff.name))).all()}


def by_group(rows: list[TicketRow], by: str | None) -> dict[str, list[TicketRow]]:
    """``rows`` split by the ``--by`` dimension (one group, ``all``, without one)."""
    groups: dict[str, list[TicketRow]] = defaultdict(list)
    for row in rows:
        groups[row.group(by) if by else "all"].append(row)
    return groups
