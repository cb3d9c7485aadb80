"""Absent officers hand back unstarted tickets after a grace period; waiting tickets are placed
oldest due first; an account's own category → queue overrides win (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from normalizer.events import TicketEvent
from router.assign import AssignTickets
from router.events import AssignmentEvent
from router.rebalance import Rebalance
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import Assignment, Customer, Staff, Ticket
from tests.support.clock import Clock

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


async def officer(sessions: SessionFactory, name: str, status: str = "online",
                  changed: datetime = T0) -> int:
    async with sessions() as session, session.begin():
        made = await add_staff(session, name, ["cskh"])
        row = await session.get(Staff, made.id)
        assert row is not None
        row.status, row.status_changed_at = status, changed
        return made.id


async def ticket(sessions: SessionFactory, *, assignee: int | None = None, due_in: int = 60,
                 responded: bool = False) -> int:
    async with sessions() as session, session.begin():
        row = Ticket(public_id=uuid.uuid4(), channel="zalo", thread_key=str(uuid.uuid4()),
                     status="assigned" if assignee else "queued", queue="cskh",
                     assignee_id=assignee, created_at=T0, updated_at=T0,
                     first_response_due=T0 + timedelta(minutes=due_in),
                     first_responded_at=T0 if responded else None)
        session.add(row)
        await session.flush()
        return row.id


async def assignee_of(sessions: SessionFactory, ticket_id: int) -> int | None:
    async with sessions() as session:
        row = await session.get(Ticket, ticket_id)
        assert row is not None
        return row.assignee_id


async def test_unstarted_tickets_of_an_absent_officer_go_back_after_the_grace(
        sessions: SessionFactory) -> None:
    gone = await officer(sessions, "an", status="off", changed=T0)
    here = await officer(sessions, "binh")
    unstarted = await ticket(sessions, assignee=gone)
    answered = await ticket(sessions, assignee=gone, responded=True)
    clock = Clock(T0 + timedelta(minutes=10))
    rebalance = Rebalance(sessions, clock, grace=timedelta(minutes=15))
    assert await rebalance.run_once() == (0, 0)  # still within the grace period
    clock.now = T0 + timedelta(minutes=16)
    assert await rebalance.run_once() == (1, 1)
    assert await assignee_of(sessions, unstarted) == here
    assert await assignee_of(sessions, answered) == gone  # already started: stays
    async with sessions() as session:
        reasons = list(await session.scalars(select(Assignment.reason).order_by(Assignment.id)))
    assert reasons == ["released_absent", "backlog_least_loaded"]


async def test_waiting_tickets_are_placed_oldest_due_first(sessions: SessionFactory) -> None:
    later = await ticket(sessions, due_in=120)
    sooner = await ticket(sessions, due_in=30)
    rebalance = Rebalance(sessions, Clock(T0))
    assert await rebalance.run_once() == (0, 0)  # nobody online: they wait
    async with sessions() as session, session.begin():
        made = await add_staff(session, "lan", ["cskh"], capacity=1)
    assert await rebalance.run_once() == (0, 1)
    assert await assignee_of(sessions, sooner) == made.id
    assert await assignee_of(sessions, later) is None


class Emitted:
    def __init__(self) -> None:
        self.events: list[AssignmentEvent] = []

    async def __call__(self, events: Sequence[AssignmentEvent]) -> None:
        self.events.extend(events)


async def test_an_accounts_own_queue_override_wins(sessions: SessionFactory) -> None:
    async with sessions() as session, session.begin():
        await add_staff(session, "sale", ["sales"])
        customer = Customer(name="Đại lý Hưng Thịnh", name_key="đại lý hưng thịnh",
                            queue_overrides={"invoice": "sales"})
        session.add(customer)
        await session.flush()
        row = Ticket(public_id=uuid.uuid4(), channel="email", thread_key="t", category="invoice",
                     customer_id=customer.id, created_at=T0, updated_at=T0)
        session.add(row)
        await session.flush()
        ticket_id = row.id
    emitted = Emitted()
    await AssignTickets(sessions, emitted, lambda: T0)([TicketEvent(
        event_id=uuid.uuid4(), kind="created", ticket_id=ticket_id, message_id=1,
        envelope_id=uuid.uuid4(), channel="email", thread_key="t", category="invoice",
        priority="normal", sentiment="neutral", customer_id=None, created_at=T0,
    ).model_dump_json().encode()])
    assert [e.queue for e in emitted.events] == ["sales"]
