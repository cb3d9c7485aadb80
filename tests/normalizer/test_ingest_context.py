"""What the normalizer tells the classifier besides the text, on SQLite and on PostgreSQL.

A recording classifier stands in for the model: it remembers the context of each message and
answers *high* for a key account or a repeated contact, *normal* otherwise, so these tests
check what ``IngestInboundMessages`` passes and does with the answer, not the model.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from connectors.envelope import InboundEnvelope, Sender
from normalizer.classifier import Classification
from normalizer.classifier.signals import MessageContext
from normalizer.events import TicketEvent
from normalizer.ingest import IngestInboundMessages, is_missed_call
from storage.db import SessionFactory
from storage.models import Customer, Message, Ticket

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


class Recorder:
    """The batch classifier: records ``(text, context)`` of every message it is handed."""

    def __init__(self, follow_up_priority: str | None = None) -> None:
        self.seen: list[tuple[str, MessageContext]] = []
        self.follow_up_priority = follow_up_priority

    def __call__(self, items: Sequence[tuple[str, str, MessageContext]]
                 ) -> list[Classification]:
        out = []
        for text, _channel, context in items:
            self.seen.append((text, context))
            priority = "high" if context.tier == "key" or context.repeat else "normal"
            if self.follow_up_priority and len(self.seen) > 1:
                priority = self.follow_up_priority
            out.append(Classification(
                category="delivery", category_confidence=0.9, priority=priority,
                priority_confidence=0.7, sentiment="neutral", sentiment_confidence=0.8,
                needs_review=False, entities={}))
        return out


class Emitted:
    def __init__(self) -> None:
        self.events: list[TicketEvent] = []

    async def __call__(self, events: Sequence[TicketEvent]) -> None:
        self.events.extend(events)


def chat(external_id: str, sent_at: datetime, text: str = "đơn hôm qua khi nào giao vậy e",
         **extra: Any) -> InboundEnvelope:
    return InboundEnvelope.create(
        channel="zalo", external_id=external_id, thread_key="zalo:conv-1", received_at=sent_at,
        sent_at=sent_at, sender=Sender(name="Chị Lan", company="Công ty CP Nhựa Bình Minh",
                                       phone="0903 112 456"), text=text, **extra)


def wire(*envelopes: InboundEnvelope) -> list[bytes]:
    return [e.model_dump_json().encode() for e in envelopes]


async def add_customer(sessions: SessionFactory, tier: str) -> None:
    async with sessions() as session, session.begin():
        session.add(Customer(name="Công ty CP Nhựa Bình Minh",
                             name_key="công ty cp nhựa bình minh", tier=tier))


async def the_ticket(sessions: SessionFactory) -> Ticket:
    async with sessions() as session:
        return (await session.scalars(select(Ticket))).one()


async def test_a_new_ticket_is_classified_with_its_customers_tier(
        sessions: SessionFactory) -> None:
    await add_customer(sessions, "key")
    recorder = Recorder()
    ingest = IngestInboundMessages(sessions, Emitted(), recorder, lambda: NOW)
    await ingest(wire(chat("z-1", NOW)))
    assert recorder.seen == [("đơn hôm qua khi nào giao vậy e", MessageContext(tier="key"))]
    assert (await the_ticket(sessions)).priority == "high"


async def test_an_unknown_sender_has_no_tier(sessions: SessionFactory) -> None:
    recorder = Recorder()
    await IngestInboundMessages(sessions, Emitted(), recorder, lambda: NOW)(
        wire(chat("z-1", NOW)))
    assert [c for _, c in recorder.seen] == [MessageContext(tier="standard")]
    # (the customer the resolver created from the company name is a standard account)


async def test_a_missed_call_is_classified_as_one(sessions: SessionFactory) -> None:
    call = InboundEnvelope.create(
        channel="hotline", external_id="call-7", thread_key="+84903112456", received_at=NOW,
        sender=Sender(phone="+84903112456"), subject="Gọi lại: cuộc gọi nhỡ từ 0903 112 456",
        text="Cuộc gọi nhỡ từ 0903 112 456 lúc 10:00 27/11/2026: không ai nghe máy. "
             "Cần gọi lại cho khách.", category_hint="other", priority_floor="high")
    assert is_missed_call(call)
    assert not is_missed_call(chat("z-1", NOW))
    recorder = Recorder()
    await IngestInboundMessages(sessions, Emitted(), recorder, lambda: NOW)(wire(call))
    assert recorder.seen[0][1].missed_call is True


async def test_a_follow_up_after_a_wait_is_a_repeated_contact_and_raises_the_priority(
        sessions: SessionFactory) -> None:
    recorder, emitted = Recorder(), Emitted()
    ingest = IngestInboundMessages(sessions, emitted, recorder, lambda: NOW)
    await ingest(wire(chat("z-1", NOW - timedelta(hours=3))))
    assert (await the_ticket(sessions)).priority == "normal"
    await ingest(wire(chat("z-2", NOW - timedelta(hours=1), text="sao chưa ai trả lời vậy e")))
    await ingest(wire(chat("z-3", NOW, text="e ơi")))
    assert [c.repeat for _, c in recorder.seen] == [0, 1, 2]
    ticket = await the_ticket(sessions)
    assert (ticket.priority, ticket.priority_confidence) == ("high", 0.7)
    assert [e.priority for e in emitted.events] == ["normal", "high", "high"]
    assert [e.kind for e in emitted.events] == ["created", "message_added", "message_added"]


async def test_a_chat_burst_is_one_contact(sessions: SessionFactory) -> None:
    recorder = Recorder()
    ingest = IngestInboundMessages(sessions, Emitted(), recorder, lambda: NOW)
    await ingest(wire(chat("z-1", NOW - timedelta(minutes=3), text="alo e")))
    await ingest(wire(chat("z-2", NOW)))
    assert [c.repeat for _, c in recorder.seen] == [0, 0]
    assert (await the_ticket(sessions)).priority == "normal"


async def test_messages_answered_by_an_officer_do_not_count(sessions: SessionFactory) -> None:
    recorder = Recorder()
    ingest = IngestInboundMessages(sessions, Emitted(), recorder, lambda: NOW)
    await ingest(wire(chat("z-1", NOW - timedelta(hours=3))))
    ticket = await the_ticket(sessions)
    async with sessions() as session, session.begin():
        at = NOW - timedelta(hours=2)
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), direction="outbound",
                            channel="zalo", external_id="reply-1", text="Dạ em kiểm tra ạ",
                            sent_at=at, received_at=at))
    await ingest(wire(chat("z-2", NOW, text="ok e, a chờ nhé")))
    assert [c.repeat for _, c in recorder.seen] == [0, 0]


async def test_a_follow_up_never_lowers_the_priority(sessions: SessionFactory) -> None:
    await add_customer(sessions, "key")
    recorder = Recorder(follow_up_priority="low")
    ingest = IngestInboundMessages(sessions, Emitted(), recorder, lambda: NOW)
    await ingest(wire(chat("z-1", NOW - timedelta(hours=3))))
    await ingest(wire(chat("z-2", NOW, text="cảm ơn e")))
    assert len(recorder.seen) == 2
    assert (await the_ticket(sessions)).priority == "high"


async def test_an_auto_reply_on_the_ticket_is_not_an_earlier_contact(
        sessions: SessionFactory) -> None:
    recorder = Recorder()
    ingest = IngestInboundMessages(sessions, Emitted(), recorder, lambda: NOW)
    await ingest(wire(chat("z-1", NOW - timedelta(hours=3))))
    away = chat("z-auto", NOW - timedelta(hours=2), text="Tôi đang nghỉ phép").model_copy(
        update={"raw": {"auto": "auto-replied"}})
    await ingest(wire(away))
    await ingest(wire(chat("z-2", NOW, text="e ơi")))
    assert [c.repeat for _, c in recorder.seen] == [0, 1]  # z-1 counts, the auto-reply not
