"""A reopened ticket's SLA clocks start a fresh cycle: due again from the reopening, and warned
and breached again by the sweeper (injected clocks, both backends)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from connectors.envelope import InboundEnvelope, Sender
from normalizer.classifier import Classification
from normalizer.events import TicketEvent
from normalizer.ingest import IngestInboundMessages, classify_one_by_one
from router.assign import AssignTickets
from router.events import AssignmentEvent
from router.sweeper import SweepSla
from storage.db import SessionFactory
from storage.models import SlaEvent, Ticket
from tests.support.clock import Clock, vn


def classify(text: str, channel: str) -> Classification:
    return Classification(category="invoice", category_confidence=0.9, priority="normal",
                          priority_confidence=0.8, sentiment="neutral",
                          sentiment_confidence=0.7, needs_review=False, entities={})


def customer_mail(external_id: str, at: datetime) -> InboundEnvelope:
    return InboundEnvelope.create(
        channel="email", external_id=external_id, thread_key="root@thepviet.vn",
        received_at=at, sender=Sender(email="hong@thepviet.vn", company="Thép Việt"),
        subject="Hóa đơn tháng 10 sai MST", text="Nhờ xuất lại hóa đơn.")


class Flow:
    """Normalizer then router, each on its own injected clock."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.clock = Clock(vn(0, 8))
        self.router_clock = Clock(vn(0, 8))
        self.events: list[TicketEvent] = []

        async def emit(events: Sequence[TicketEvent]) -> None:
            self.events.extend(events)

        async def assigned(_events: Sequence[AssignmentEvent]) -> None:
            return None

        self.ingest = IngestInboundMessages(sessions, emit, classify_one_by_one(classify),
                                            self.clock)
        self.route = AssignTickets(sessions, assigned, self.router_clock)

    async def mail(self, envelope: InboundEnvelope) -> TicketEvent:
        await self.ingest([envelope.model_dump_json().encode()])
        event = self.events[-1]
        await self.route([event.model_dump_json().encode()])
        return event


async def events(sessions: SessionFactory) -> list[tuple[str, str, int]]:
    async with sessions() as session:
        return [(e.clock, e.kind, e.cycle) for e in await session.scalars(
            select(SlaEvent).order_by(SlaEvent.id))]


async def test_a_reopened_ticket_warns_and_breaches_again_in_its_new_cycle(
        sessions: SessionFactory) -> None:
    flow = Flow(sessions)
    created = await flow.mail(customer_mail("m1@thepviet.vn", vn(0, 8)))
    sweep_clock = Clock(vn(0, 11, 20))  # normal: 4 h to first response, due 13:30 (lunch)
    sweep = SweepSla(sessions, sweep_clock)
    assert [(e.clock, e.kind) for e in await sweep.run_once()] == [("first_response", "warning")]
    sweep_clock.now = vn(0, 13, 30)
    assert [(e.clock, e.kind) for e in await sweep.run_once()] == [("first_response", "breach")]
    async with sessions() as session, session.begin():  # resolved without a reply
        ticket = await session.get(Ticket, created.ticket_id)
        assert ticket is not None and ticket.priority == "urgent"  # raised twice
        ticket.status, ticket.resolved_at = "resolved", vn(0, 14)

    # Tuesday 09:00 the customer writes again; the router sees it five minutes later.
    flow.clock.now, flow.router_clock.now = vn(1, 9), vn(1, 9, 5)
    reopened = await flow.mail(customer_mail("m2@thepviet.vn", vn(1, 9)))
    assert reopened.kind == "reopened" and reopened.ticket_id == created.ticket_id
    async with sessions() as session:
        ticket = await session.get(Ticket, created.ticket_id)
    assert ticket is not None and ticket.reopen_count == 1 and ticket.reopened_at == vn(1, 9)
    # urgent: 30 business minutes to the first response, from the reopening (not the router)
    assert ticket.first_response_due == vn(1, 9, 30)
    assert ticket.resolution_due == vn(1, 14, 30)  # 4 h: 09:00–11:30, then 13:00–14:30
    sweep_clock.now = vn(1, 9, 10)  # 10 of 30 minutes: the old cycle's breach is not carried
    assert await sweep.run_once() == []
    sweep_clock.now = vn(1, 9, 25)  # 25 of 30: 83 %
    assert [(e.clock, e.kind, e.cycle) for e in await sweep.run_once()] == [
        ("first_response", "warning", 1)]
    sweep_clock.now = vn(1, 9, 31)
    assert [(e.clock, e.kind, e.cycle) for e in await sweep.run_once()] == [
        ("first_response", "breach", 1)]
    assert await sweep.run_once() == []  # once per cycle
    assert await events(sessions) == [
        ("first_response", "warning", 0), ("first_response", "breach", 0),
        ("first_response", "warning", 1), ("first_response", "breach", 1)]


async def test_a_wait_in_the_new_cycle_counts_from_the_reopening(
        sessions: SessionFactory) -> None:
    """Resuming after a wait recomputes the deadlines from the cycle's start, not creation."""
    from router.actions import resume
    from storage.models import SlaPause

    flow = Flow(sessions)
    created = await flow.mail(customer_mail("w1@thepviet.vn", vn(0, 8)))
    async with sessions() as session, session.begin():
        ticket = await session.get(Ticket, created.ticket_id)
        assert ticket is not None
        ticket.status, ticket.resolved_at = "resolved", vn(0, 9)
    flow.clock.now = flow.router_clock.now = vn(1, 8)
    await flow.mail(customer_mail("w2@thepviet.vn", vn(1, 8)))
    async with sessions() as session, session.begin():
        ticket = await session.get(Ticket, created.ticket_id)
        assert ticket is not None
        assert ticket.first_response_due == vn(1, 13, 30)  # normal, 4 h from Tuesday 08:00
        ticket.status = "waiting"
        session.add(SlaPause(ticket_id=ticket.id, started_at=vn(1, 9), ended_at=None))
        await session.flush()
        await resume(session, ticket, vn(1, 10))  # an hour of waiting
        assert ticket.first_response_due == vn(1, 14, 30)  # pushed by that hour


async def test_a_relabel_after_a_wait_keeps_the_waited_time_off_the_clock(
        sessions: SessionFactory) -> None:
    """A new priority recomputes the deadlines; the hour spent waiting on the customer is
    still not counted (it used to be, as if the customer had never been asked)."""
    from router.actions import relabel, resume
    from storage.models import SlaPause, Staff

    flow = Flow(sessions)
    created = await flow.mail(customer_mail("p1@thepviet.vn", vn(0, 8)))
    async with sessions() as session, session.begin():
        ticket = await session.get(Ticket, created.ticket_id)
        assert ticket is not None
        lead = Staff(name="Hà", role="admin", token_hash="y" * 64)
        session.add(lead)
        ticket.status = "waiting"
        session.add(SlaPause(ticket_id=ticket.id, started_at=vn(0, 9), ended_at=None))
        await session.flush()
        await resume(session, ticket, vn(0, 10))  # an hour of waiting
        assert ticket.first_response_due == vn(0, 14, 30)  # normal: 4 h + the hour waited
        await relabel(session, lead, ticket, category=None, priority="high", now=vn(0, 10, 5))
        assert ticket.first_response_due == vn(0, 11)  # high: 2 h from 08:00 + the hour waited
