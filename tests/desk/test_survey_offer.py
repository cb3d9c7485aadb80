"""Who is asked, once, and what a crash between the send and its record does (both backends).

The offer is driven one pass at a time with an injected clock and a publish callable that
keeps what it is handed (the ``cskh.outbound`` side is covered end to end in
tests/e2e/test_surveys.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from desk.surveys import OfferSurveys, SurveyPolicy
from desk.surveys.answer import AnswerError, answer
from router.events import OutboundMessage
from storage.db import SessionFactory
from storage.models import Contact, Message, Staff, Survey, Ticket

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
POLICY = SurveyPolicy(public_url="https://cskh.congty.vn/", channels=frozenset({"email",
                                                                               "zalo"}))


class Outbound:
    def __init__(self) -> None:
        self.events: list[OutboundMessage] = []

    async def __call__(self, events: Sequence[OutboundMessage]) -> None:
        self.events.extend(events)


async def _ticket(sessions: SessionFactory, *, channel: str = "email", reply: bool = True,
                  auto: bool = False, email: str | None = "",
                  contact: int | None = None) -> tuple[int, int]:
    async with sessions() as s, s.begin():
        staff = await s.scalar(select(Staff).where(Staff.name == "An"))
        if staff is None:
            staff = Staff(name="An", token_hash=uuid.uuid4().hex * 2)
            s.add(staff)
        if contact is None:
            person = Contact(name="Khách", email=f"{uuid.uuid4().hex[:8]}@thepviet.vn"
                             if email == "" else email)
            s.add(person)
            await s.flush()
            contact = person.id
        await s.flush()
        ticket = Ticket(channel=channel, thread_key=uuid.uuid4().hex, status="resolved",
                        assignee_id=staff.id, contact_id=contact,
                        created_at=NOW - timedelta(hours=3), resolved_at=NOW - timedelta(hours=1))
        s.add(ticket)
        await s.flush()
        rows: list[tuple[str, dict[str, Any]]] = [("inbound", {"auto": "bounce"} if auto else {})]
        if reply:
            rows.append(("outbound", {"staff_id": staff.id, "emitted": True}))
        for direction, raw in rows:
            s.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), direction=direction,
                          channel=channel, external_id=uuid.uuid4().hex, text="Hóa đơn",
                          sent_at=NOW - timedelta(hours=2), received_at=NOW - timedelta(hours=2),
                          raw=raw))
        return ticket.id, contact


async def _surveys(sessions: SessionFactory) -> dict[int | None, Survey]:
    async with sessions() as s:
        return {v.ticket_id: v for v in await s.scalars(select(Survey))}


async def test_who_is_asked(sessions: SessionFactory) -> None:
    asked, _ = await _ticket(sessions)
    silent, _ = await _ticket(sessions, reply=False)
    machine, _ = await _ticket(sessions, auto=True)
    hotline, _ = await _ticket(sessions, channel="hotline")
    facebook, _ = await _ticket(sessions, channel="facebook")
    no_address, _ = await _ticket(sessions, email=None)
    out = Outbound()
    offer = OfferSurveys(sessions, out, lambda: NOW, POLICY)
    assert await offer.run_once() == 1
    found = await _surveys(sessions)
    assert {t: (v.status, v.reason) for t, v in found.items()} == {
        asked: ("sent", None), silent: ("skipped", "no_reply"),
        machine: ("skipped", "machine"), hotline: ("manual", "no_sender"),
        facebook: ("manual", "no_sender"), no_address: ("manual", "no_address")}
    (event,) = out.events
    assert event.ticket_id == asked and event.channel == "email"
    assert "https://cskh.congty.vn/s/" in event.text
    assert found[asked].expires_at == NOW + timedelta(days=7)
    assert found[asked].officer_id is not None
    # a second pass, and a second router, decide and send nothing more
    assert await offer.run_once() == 0
    assert await OfferSurveys(sessions, out, lambda: NOW, POLICY).run_once() == 0
    assert len(out.events) == 1


async def test_a_contact_is_asked_once_a_week(sessions: SessionFactory) -> None:
    _first, contact = await _ticket(sessions)
    out = Outbound()
    await OfferSurveys(sessions, out, lambda: NOW, POLICY).run_once()
    second, _ = await _ticket(sessions, contact=contact)
    await OfferSurveys(sessions, out, lambda: NOW + timedelta(days=2), POLICY).run_once()
    assert (await _surveys(sessions))[second].reason == "asked_recently"
    third, _ = await _ticket(sessions, contact=contact)
    later = NOW + timedelta(days=8)
    async with sessions() as s, s.begin():
        t = await s.get(Ticket, third)
        assert t is not None
        t.resolved_at = later - timedelta(hours=1)
    await OfferSurveys(sessions, out, lambda: later, POLICY).run_once()
    assert (await _surveys(sessions))[third].status == "sent"
    assert len(out.events) == 2


async def test_a_crash_after_the_send_resends_the_same_link(sessions: SessionFactory) -> None:
    await _ticket(sessions)
    out = Outbound()
    offer = OfferSurveys(sessions, out, lambda: NOW, POLICY)
    await offer.decide()

    class Crash(Exception):
        pass

    async def publish_then_die(events: Sequence[OutboundMessage]) -> None:
        await out(events)
        raise Crash  # the process died before recording the send

    with pytest.raises(Crash):
        await OfferSurveys(sessions, publish_then_die, lambda: NOW, POLICY).send()
    assert await offer.send() == 1
    first, second = out.events
    assert first == second  # same event id (the senders' ledger sends it once), same link


async def test_answers_and_their_limits(sessions: SessionFactory) -> None:
    ticket, _ = await _ticket(sessions)
    out = Outbound()
    await OfferSurveys(sessions, out, lambda: NOW, POLICY).run_once()
    token = out.events[0].text.split("/s/")[1].split()[0]
    async with sessions() as s, s.begin():
        with pytest.raises(AnswerError, match="1 to 5"):
            await answer(s, token, 6, None, NOW)
        with pytest.raises(AnswerError, match="not valid"):
            await answer(s, token[:-2] + "xx", 4, None, NOW)
        await answer(s, token, 1, "Giao sai hàng", NOW)
    async with sessions() as s:
        follow_ups = await s.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.thread_key.like("survey:%")))
        assert follow_ups == 1
    async with sessions() as s, s.begin():
        with pytest.raises(AnswerError, match="expired"):
            await answer(s, token, 5, None, NOW + timedelta(days=8))
    assert (await _surveys(sessions))[ticket].rating == 1
