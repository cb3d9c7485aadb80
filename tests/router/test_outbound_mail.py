"""Replies on e-mail tickets carry our own Message-ID, the thread's headers and the ticket tag,
and the customer's answer to them threads back to the ticket (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from connectors.envelope import InboundEnvelope, Sender
from normalizer.classifier import Classification
from normalizer.events import TicketEvent
from normalizer.ingest import IngestInboundMessages, classify_one_by_one
from normalizer.threads import ticket_of_message_id
from router import actions
from router.events import OutboundMessage
from router.outbound_mail import MAX_REFERENCES, reply_headers
from router.outbox import EmitPendingReplies, mark_emitted
from storage.db import SessionFactory
from storage.models import Message, Staff, Ticket

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
DOMAIN = "congty.vn"


def stored(external_id: str, *, subject: str | None = "Re: Hóa đơn tháng 10",
           references: Sequence[str] = (), generated: bool = False) -> Message:
    return Message(ticket_id=7, envelope_id=uuid.uuid4(), direction="inbound", channel="email",
                   external_id=external_id, subject=subject, text="…", sent_at=NOW,
                   received_at=NOW, raw={"headers": {"message_id": external_id,
                                                     "message_id_generated": generated,
                                                     "references": list(references)}})


def ticket(ticket_id: int = 7, subject: str | None = "Hóa đơn tháng 10") -> Ticket:
    return Ticket(id=ticket_id, channel="email", thread_key="root@thepviet.vn", subject=subject)


def test_reply_headers_continue_the_customers_thread() -> None:
    parent = stored("p2@thepviet.vn", references=["root@thepviet.vn", "cskh.7.aa11bb22@x.vn"])
    mail = reply_headers(ticket(), parent, DOMAIN, token="0123456789abcdef")
    assert mail.message_id == "<cskh.7.0123456789abcdef@congty.vn>"
    assert mail.in_reply_to == "<p2@thepviet.vn>"
    assert mail.references == "<root@thepviet.vn> <cskh.7.aa11bb22@x.vn> <p2@thepviet.vn>"
    assert mail.subject == "Re: [#CSKH-000007] Hóa đơn tháng 10"
    assert reply_headers(ticket(), parent, DOMAIN).message_id != reply_headers(
        ticket(), parent, DOMAIN).message_id  # a new id for every reply


def test_a_made_up_message_id_is_never_replied_to() -> None:
    parent = stored("sha256:" + "0" * 64, generated=True, subject=None)
    mail = reply_headers(ticket(subject="Công nợ quý 3"), parent, DOMAIN)
    assert (mail.in_reply_to, mail.references) == (None, None)
    assert mail.subject == "Re: [#CSKH-000007] Công nợ quý 3"


def test_long_references_keep_the_root_and_the_newest() -> None:
    chain = [f"m{i}@thepviet.vn" for i in range(40)]
    mail = reply_headers(ticket(), stored("m40@thepviet.vn", references=chain), DOMAIN)
    refs = (mail.references or "").split()
    assert len(refs) == MAX_REFERENCES
    assert refs[0] == "<m0@thepviet.vn>" and refs[-2:] == ["<m39@thepviet.vn>",
                                                           "<m40@thepviet.vn>"]


def classify(text: str, channel: str) -> Classification:
    return Classification(category="invoice", category_confidence=0.9, priority="normal",
                          priority_confidence=0.8, sentiment="neutral",
                          sentiment_confidence=0.7, needs_review=False, entities={})


class Emitted:
    def __init__(self) -> None:
        self.events: list[TicketEvent] = []

    async def __call__(self, events: Sequence[TicketEvent]) -> None:
        self.events.extend(events)


def customer_mail(message_id: str, *, channel: str = "email", in_reply_to: str | None = None,
                  subject: str = "Hóa đơn tháng 10", at: datetime = NOW,
                  **headers: Any) -> InboundEnvelope:
    return InboundEnvelope.create(
        channel=channel, external_id=message_id, thread_key=in_reply_to or message_id,
        received_at=at, sender=Sender(email="hong@thepviet.vn", company="Thép Việt"),
        subject=subject, text="Nhờ xuất lại hóa đơn.", in_reply_to=in_reply_to,
        raw={"headers": {"message_id": message_id, "references": [], **headers}})


async def _admin(sessions: SessionFactory) -> int:
    async with sessions() as session, session.begin():
        staff = Staff(name="Lan", role="admin", token_hash="x" * 64)
        session.add(staff)
        await session.flush()
        return staff.id


async def _reply(sessions: SessionFactory, staff_id: int, ticket_id: int,
                 ) -> OutboundMessage:
    async with sessions() as session, session.begin():
        staff = await session.get(Staff, staff_id)
        target = await session.get(Ticket, ticket_id)
        assert staff is not None and target is not None
        return await actions.reply(session, staff, target, "Dạ em đã xuất lại ạ.",
                                   NOW + timedelta(hours=1), mail_domain=DOMAIN)


@pytest.fixture
def ingest(sessions: SessionFactory) -> IngestInboundMessages:
    return IngestInboundMessages(sessions, Emitted(), classify_one_by_one(classify),
                                 lambda: NOW + timedelta(days=10), mail_domains=[DOMAIN],
                                 thread_window=timedelta(0))


async def test_a_reply_stores_our_message_id_and_the_answer_to_it_threads_back(
        sessions: SessionFactory, ingest: IngestInboundMessages) -> None:
    await ingest([customer_mail("q1@thepviet.vn").model_dump_json().encode()])
    async with sessions() as session:
        ticket_id = (await session.scalars(select(Ticket.id))).one()
    out = await _reply(sessions, await _admin(sessions), ticket_id)
    assert out.email is not None
    ours = out.email.message_id.strip("<>")
    assert ticket_of_message_id(ours, frozenset({DOMAIN})) == ticket_id
    assert out.email.in_reply_to == out.email.references == "<q1@thepviet.vn>"
    assert out.email.subject == f"Re: [#CSKH-{ticket_id:06d}] Hóa đơn tháng 10"
    async with sessions() as session:
        row = (await session.scalars(select(Message).where(
            Message.direction == "outbound"))).one()
    assert (row.external_id, row.subject) == (ours, out.email.subject)
    assert row.raw["headers"]["references"] == ["q1@thepviet.vn"]

    # The customer answers ten days later from a client that keeps only In-Reply-To and
    # rewrites the subject; the ticket is still open: the answer is on it.
    await ingest([customer_mail("q2@thepviet.vn", in_reply_to=ours, subject="Cảm ơn",
                                at=NOW + timedelta(days=10)).model_dump_json().encode()])
    async with sessions() as session:
        assert set(await session.scalars(select(Message.ticket_id))) == {ticket_id}


async def test_a_reply_on_another_channel_has_no_mail_headers(
        sessions: SessionFactory, ingest: IngestInboundMessages) -> None:
    await ingest([customer_mail("form-1", channel="webform").model_dump_json().encode()])
    async with sessions() as session:
        ticket_id = (await session.scalars(select(Ticket.id))).one()
    out = await _reply(sessions, await _admin(sessions), ticket_id)
    assert out.email is None
    async with sessions() as session:
        row = (await session.scalars(select(Message).where(
            Message.direction == "outbound"))).one()
    assert row.external_id.startswith("cskh-") and "headers" not in row.raw


async def test_a_reply_whose_emit_was_lost_is_emitted_by_the_outbox_once(
        sessions: SessionFactory, ingest: IngestInboundMessages) -> None:
    await ingest([customer_mail("o1@thepviet.vn").model_dump_json().encode()])
    async with sessions() as session:
        ticket_id = (await session.scalars(select(Ticket.id))).one()
    staff_id = await _admin(sessions)
    lost = await _reply(sessions, staff_id, ticket_id)  # committed; the emit never happened
    published: list[OutboundMessage] = []

    async def publish(events: Sequence[OutboundMessage]) -> None:
        published.extend(events)

    def outbox(after: timedelta) -> EmitPendingReplies:
        return EmitPendingReplies(sessions, publish, lambda: NOW + timedelta(hours=1) + after)

    assert await outbox(timedelta(seconds=10)).run_once() == 0  # the API may still emit it
    assert await outbox(timedelta(minutes=1)).run_once() == 1
    assert published == [lost]  # the very event the reply made: same id, same headers
    assert await outbox(timedelta(minutes=2)).run_once() == 0  # marked: never twice

    emitted = await _reply(sessions, staff_id, ticket_id)  # the API emitted and marked it
    await mark_emitted(sessions, [emitted.message_id])
    assert await outbox(timedelta(minutes=3)).run_once() == 0
    assert published == [lost]
