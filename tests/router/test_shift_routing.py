"""Shifts in routing, with an injected clock, on both backends: new tickets only go to
officers online and on shift; a shift that starts takes the backlog oldest due first; an
officer off shift past the grace hands back unstarted tickets; no shift changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from normalizer.events import TicketEvent
from router.actions import set_my_status
from router.assign import AssignTickets
from router.events import AssignmentEvent
from router.rebalance import Rebalance
from router.staff import add_staff, set_shift
from storage.db import SessionFactory
from storage.models import Assignment, Customer, Staff, Ticket
from tests.support.clock import Clock

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 11, 30, tzinfo=VN)
GRACE = timedelta(minutes=15)
AFTERNOONS = "mon-sat 13:00-17:00"
MORNINGS = "mon-sat 07:30-11:30"


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    """Local time on Monday 30 November 2026, or ``days`` later."""
    return MONDAY + timedelta(days=days, hours=hour, minutes=minute)


class Emitted:
    def __init__(self) -> None:
        self.events: list[AssignmentEvent] = []

    async def __call__(self, events: Sequence[AssignmentEvent]) -> None:
        self.events.extend(events)


async def officer(sessions: SessionFactory, name: str, shift: str | None = None, *,
                  capacity: int = 20) -> int:
    async with sessions() as session, session.begin():
        return (await add_staff(session, name, ["cskh"], capacity=capacity, shift=shift)).id


async def customer_owned_by(sessions: SessionFactory, owner: int) -> int:
    async with sessions() as session, session.begin():
        row = Customer(name="Công ty Minh Phát", name_key="cong ty minh phat", owner_id=owner)
        session.add(row)
        await session.flush()
        return row.id


async def new_ticket(sessions: SessionFactory, *, customer: int | None = None) -> int:
    async with sessions() as session, session.begin():
        row = Ticket(public_id=uuid.uuid4(), channel="zalo", thread_key=str(uuid.uuid4()),
                     category="quality", customer_id=customer, created_at=MONDAY,
                     updated_at=MONDAY)
        session.add(row)
        await session.flush()
        return row.id


async def queued_ticket(sessions: SessionFactory, *, due: datetime,
                        assignee: int | None = None, responded: bool = False) -> int:
    async with sessions() as session, session.begin():
        row = Ticket(public_id=uuid.uuid4(), channel="zalo", thread_key=str(uuid.uuid4()),
                     status="assigned" if assignee else "queued", queue="cskh",
                     assignee_id=assignee, created_at=MONDAY, updated_at=MONDAY,
                     first_response_due=due, first_responded_at=MONDAY if responded else None)
        session.add(row)
        await session.flush()
        return row.id


def created(ticket_id: int, customer: int | None = None) -> bytes:
    return TicketEvent(
        event_id=uuid.uuid4(), kind="created", ticket_id=ticket_id, message_id=ticket_id,
        envelope_id=uuid.uuid4(), channel="zalo", thread_key=f"t-{ticket_id}",
        category="quality", priority="normal", sentiment="neutral", customer_id=customer,
        created_at=MONDAY,
    ).model_dump_json().encode()


async def ticket_row(sessions: SessionFactory, ticket_id: int) -> Ticket:
    async with sessions() as session:
        row = await session.get(Ticket, ticket_id)
        assert row is not None
        return row


async def reasons(sessions: SessionFactory) -> list[tuple[int, int | None, str]]:
    async with sessions() as session:
        rows = await session.execute(select(Assignment.ticket_id, Assignment.staff_id,
                                            Assignment.reason).order_by(Assignment.id))
        return [(t, s, r) for t, s, r in rows.all()]


async def test_an_owner_off_shift_does_not_get_their_accounts_ticket(
        sessions: SessionFactory) -> None:
    owner = await officer(sessions, "owner", AFTERNOONS)
    other = await officer(sessions, "other")
    account = await customer_owned_by(sessions, owner)
    clock, emitted = Clock(at(9)), Emitted()
    assign = AssignTickets(sessions, emitted, clock)
    morning = await new_ticket(sessions, customer=account)
    await assign([created(morning, account)])  # 09:00: the owner is online but off shift
    clock.now = at(13)
    afternoon = await new_ticket(sessions, customer=account)
    await assign([created(afternoon, account)])  # 13:00: the owner's shift has started
    assert [(e.ticket_id, e.staff_id, e.reason) for e in emitted.events] == [
        (morning, other, "least_loaded"), (afternoon, owner, "account_owner")]


async def test_officers_off_shift_get_no_new_tickets_and_nobody_on_shift_means_queued(
        sessions: SessionFactory) -> None:
    late = await officer(sessions, "late", AFTERNOONS)
    early = await officer(sessions, "early", MORNINGS)
    clock, emitted = Clock(at(8)), Emitted()
    assign = AssignTickets(sessions, emitted, clock)
    first = [await new_ticket(sessions) for _ in range(3)]
    await assign([created(t) for t in first])
    assert {e.staff_id for e in emitted.events} == {early}  # least loaded, but only on shift
    clock.now = at(12)  # lunch: neither is on shift
    waiting = await new_ticket(sessions)
    await assign([created(waiting)])
    assert len(emitted.events) == 3
    row = await ticket_row(sessions, waiting)
    assert (row.status, row.assignee_id) == ("queued", None)
    assert late not in {e.staff_id for e in emitted.events}


async def test_a_shift_starting_drains_the_backlog_oldest_due_first(
        sessions: SessionFactory) -> None:
    lan = await officer(sessions, "lan", AFTERNOONS, capacity=2)
    later = await queued_ticket(sessions, due=at(16))
    soonest = await queued_ticket(sessions, due=at(13, 30))
    sooner = await queued_ticket(sessions, due=at(14))
    clock = Clock(at(12, 59))
    rebalance = Rebalance(sessions, clock, grace=GRACE)
    assert await rebalance.run_once() == (0, 0)  # online, but the shift has not started
    clock.now = at(13)
    assert await rebalance.run_once() == (0, 2)
    assert (await ticket_row(sessions, soonest)).assignee_id == lan
    assert (await ticket_row(sessions, sooner)).assignee_id == lan
    assert (await ticket_row(sessions, later)).status == "queued"  # at capacity
    assert [r for _, _, r in await reasons(sessions)] == ["backlog_least_loaded"] * 2


async def test_off_shift_past_the_grace_hands_back_unstarted_tickets(
        sessions: SessionFactory) -> None:
    early = await officer(sessions, "early", MORNINGS)
    unstarted = await queued_ticket(sessions, due=at(13, 30), assignee=early)
    answered = await queued_ticket(sessions, due=at(13, 30), assignee=early, responded=True)
    clock = Clock(at(11, 40))
    rebalance = Rebalance(sessions, clock, grace=GRACE)
    assert await rebalance.run_once() == (0, 0)  # off shift for 10 minutes: within the grace
    clock.now = at(11, 45)
    assert await rebalance.run_once() == (1, 0)  # released; nobody on shift to take it
    row = await ticket_row(sessions, unstarted)
    assert (row.status, row.assignee_id) == ("queued", None)
    assert (await ticket_row(sessions, answered)).assignee_id == early  # started: stays
    noon = await officer(sessions, "noon", "mon-sat 11:30-13:30")
    assert await rebalance.run_once() == (0, 1)
    assert (await ticket_row(sessions, unstarted)).assignee_id == noon
    assert await reasons(sessions) == [(unstarted, None, "released_off_shift"),
                                       (unstarted, noon, "backlog_least_loaded")]


async def test_without_a_shift_nothing_changes(sessions: SessionFactory) -> None:
    always = await officer(sessions, "always")
    sunday_night = at(3, days=6)
    clock, emitted = Clock(sunday_night), Emitted()
    ticket = await new_ticket(sessions)
    await AssignTickets(sessions, emitted, clock)([created(ticket)])
    assert [e.staff_id for e in emitted.events] == [always]
    clock.now += timedelta(hours=12)
    assert await Rebalance(sessions, clock, grace=GRACE).run_once() == (0, 0)
    assert (await ticket_row(sessions, ticket)).assignee_id == always


async def test_coming_online_off_shift_takes_nothing_until_the_shift_starts(
        sessions: SessionFactory) -> None:
    lan = await officer(sessions, "lan", AFTERNOONS)
    waiting = await queued_ticket(sessions, due=at(14))
    async with sessions() as session, session.begin():
        member = await session.get(Staff, lan)
        assert member is not None
        assert await set_my_status(session, member, "online", at(10)) == []
    async with sessions() as session, session.begin():
        member = await session.get(Staff, lan)
        assert member is not None
        taken = await set_my_status(session, member, "online", at(13, 5))
        assert [t.id for t in taken] == [waiting]


async def test_set_shift_stores_the_canonical_form_and_none_clears_it(
        sessions: SessionFactory) -> None:
    await officer(sessions, "an")
    async with sessions() as session, session.begin():
        member = await set_shift(session, "an", "Sat 08:00-12:00; mon-fri 8:00-17:00")
        assert member.shift == "mon-fri 08:00-17:00; sat 08:00-12:00"
    async with sessions() as session, session.begin():
        assert (await set_shift(session, "an", "none")).shift is None
