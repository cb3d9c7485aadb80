"""SLA warnings and breaches with an injected clock (both backends)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from router.deadlines import set_deadlines
from router.sweeper import SweepSla
from storage.db import SessionFactory
from storage.models import SlaEvent, SlaPause, Ticket
from tests.support.clock import Clock, vn


async def new_ticket(sessions: SessionFactory, created: datetime, priority: str) -> int:
    async with sessions() as session, session.begin():
        ticket = Ticket(public_id=uuid.uuid4(), channel="email", thread_key=str(uuid.uuid4()),
                        status="assigned", priority=priority, queue="cskh", created_at=created,
                        updated_at=created)
        set_deadlines(ticket)
        session.add(ticket)
        await session.flush()
        return ticket.id


async def test_warning_then_breach_each_once_and_priority_raised(
        sessions: SessionFactory) -> None:
    # Monday 08:00, normal: first response due 4 business hours later = 13:30 (lunch skipped).
    ticket_id = await new_ticket(sessions, vn(0, 8), "normal")
    clock = Clock(vn(0, 11, 0))  # 3 h used of 4: 75%
    sweep = SweepSla(sessions, clock)
    assert await sweep.run_once() == []
    clock.now = vn(0, 11, 20)  # 3 h 20 of 4 h: 83%
    made = await sweep.run_once()
    assert [(e.clock, e.kind) for e in made] == [("first_response", "warning")]
    assert await sweep.run_once() == []  # recorded once
    clock.now = vn(0, 13, 30)
    made = await sweep.run_once()
    assert [(e.clock, e.kind) for e in made] == [("first_response", "breach")]
    async with sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        events = list(await session.scalars(select(SlaEvent).order_by(SlaEvent.id)))
    assert ticket is not None and ticket.priority == "urgent"  # normal → high → urgent
    assert [e.kind for e in events] == ["warning", "breach"]


async def test_paused_time_does_not_count(sessions: SessionFactory) -> None:
    ticket_id = await new_ticket(sessions, vn(0, 8), "normal")
    async with sessions() as session, session.begin():
        session.add(SlaPause(ticket_id=ticket_id, started_at=vn(0, 8, 30),
                             ended_at=vn(0, 10, 30)))
    made = \
        await SweepSla(sessions, Clock(vn(0, 11, 20))).run_once()
    assert made == []  # 1 h 20 of the 4 h used: the 2 h wait does not count


async def test_resolved_and_waiting_tickets_are_not_watched(sessions: SessionFactory) -> None:
    ticket_id = await new_ticket(sessions, vn(0, 8), "urgent")
    async with sessions() as session, session.begin():
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.status = "resolved"
    assert await SweepSla(sessions, Clock(vn(3, 9))).run_once() == []
