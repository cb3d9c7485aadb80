"""``IngestInboundMessages`` against a real database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from connectors.envelope import InboundEnvelope, Sender
from normalizer.classifier import Classification
from normalizer.events import TicketEvent, ticket_event_id
from normalizer.ingest import IngestInboundMessages, classify_one_by_one
from storage.db import SessionFactory
from storage.models import Base, Contact, Customer, Message, ProcessedEvent, Ticket

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


class HasDatabase(Protocol):
    @property
    def database_url(self) -> str: ...



class Emitted:
    """The emit callable: remembers every batch of events it was handed."""

    def __init__(self) -> None:
        self.batches: list[list[TicketEvent]] = []

    async def __call__(self, events: Sequence[TicketEvent]) -> None:
        self.batches.append(list(events))

    @property
    def events(self) -> list[TicketEvent]:
        return [e for batch in self.batches for e in batch]


def classify(text: str, channel: str) -> Classification:
    """A fixed verdict, so these tests do not depend on the keyword baseline."""
    return Classification(category="invoice", category_confidence=0.9, priority="high",
                          priority_confidence=0.8, sentiment="negative",
                          sentiment_confidence=0.7, needs_review=False,
                          entities={"len": len(text)})


@pytest.fixture
def emitted() -> Emitted:
    return Emitted()


@pytest.fixture
def ingest(sessions: SessionFactory, emitted: Emitted) -> IngestInboundMessages:
    return IngestInboundMessages(sessions, emitted, classify_one_by_one(classify), lambda: NOW)


def envelope(external_id: str, *, thread_key: str | None = None, text: str = "Hóa đơn sai MST",
             subject: str | None = "Hóa đơn tháng 10", channel: str = "webform",
             **sender: Any) -> InboundEnvelope:
    who: dict[str, Any] = {"name": "Nguyễn Thị Hồng", "company": "Công ty TNHH Thép Việt",
                           "email": "Hong.NT@ThepViet.vn", "phone": "0912 345 678"}
    who.update(sender)
    return InboundEnvelope.create(
        channel=channel, external_id=external_id, thread_key=thread_key or f"t:{external_id}",
        received_at=NOW, sent_at=NOW - timedelta(seconds=5), sender=Sender(**who),
        subject=subject, text=text, raw={"id": external_id},
    )


def wire(*envelopes: InboundEnvelope) -> list[bytes]:
    return [e.model_dump_json().encode() for e in envelopes]


async def count(sessions: SessionFactory, model: type[Base]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def counts(sessions: SessionFactory) -> tuple[int, ...]:
    return tuple([await count(sessions, m) for m in (Ticket, Message, Contact, Customer)])


async def test_new_envelope_makes_one_ticket_message_contact_customer(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted) -> None:
    env = envelope("m-1")
    await ingest(wire(env))
    assert await counts(sessions) == (1, 1, 1, 1)
    async with sessions() as session:
        ticket = (await session.scalars(select(Ticket))).one()
        message = (await session.scalars(select(Message))).one()
        contact = (await session.scalars(select(Contact))).one()
        customer = (await session.scalars(select(Customer))).one()
    assert contact.email == "hong.nt@thepviet.vn"
    assert contact.phone == "+84912345678"
    assert contact.name == "Nguyễn Thị Hồng"
    assert customer.name == "Công ty TNHH Thép Việt"
    assert contact.customer_id == customer.id == ticket.customer_id
    assert ticket.contact_id == contact.id
    assert (ticket.status, ticket.channel, ticket.thread_key) == ("new", "webform", "t:m-1")
    assert (ticket.category, ticket.priority, ticket.sentiment) == ("invoice", "high", "negative")
    assert ticket.subject == "Hóa đơn tháng 10"
    assert ticket.created_at == NOW
    assert message.ticket_id == ticket.id and message.envelope_id == env.id
    assert (message.direction, message.external_id, message.text) == ("inbound", "m-1",
                                                                       "Hóa đơn sai MST")
    assert message.sent_at == NOW - timedelta(seconds=5) and message.received_at == NOW
    (event,) = emitted.events
    assert event.kind == "created"
    assert event.event_id == ticket_event_id(env.id)
    assert (event.ticket_id, event.message_id, event.envelope_id) == (ticket.id, message.id,
                                                                      env.id)
    assert (event.category, event.customer_id, event.created_at) == ("invoice", customer.id, NOW)


async def test_redelivery_in_a_later_batch_is_a_no_op_but_re_emits(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted) -> None:
    env = envelope("m-1")
    await ingest(wire(env))
    before = await counts(sessions)
    await ingest(wire(env))
    assert await counts(sessions) == before == (1, 1, 1, 1)
    assert await count(sessions, ProcessedEvent) == 1
    first, again = emitted.batches
    assert again == first


async def test_redelivery_in_the_same_batch_is_a_no_op_but_re_emits(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted) -> None:
    env = envelope("m-1")
    await ingest(wire(env, env))
    assert await counts(sessions) == (1, 1, 1, 1)
    (batch,) = emitted.batches
    assert len(batch) == 2 and batch[0] == batch[1]
    assert batch[0].event_id == ticket_event_id(env.id)


@pytest.mark.parametrize("same_batch", [False, True], ids=["two_batches", "one_batch"])
async def test_same_thread_makes_one_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted,
        same_batch: bool) -> None:
    first = envelope("m-1", thread_key="conv-7")
    second = envelope("m-2", thread_key="conv-7", text="Đã gửi lại chưa ạ?", subject=None)
    if same_batch:
        await ingest(wire(first, second))
    else:
        await ingest(wire(first))
        await ingest(wire(second))
    assert await counts(sessions) == (1, 2, 1, 1)
    one, two = emitted.events
    assert (one.kind, two.kind) == ("created", "message_added")
    assert one.ticket_id == two.ticket_id and one.message_id != two.message_id
    assert two.event_id == ticket_event_id(second.id) != one.event_id
    # the redelivered follow-up is still a follow-up
    await ingest(wire(second))
    assert emitted.events[-1] == two


async def test_same_thread_key_on_another_channel_is_another_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    await ingest(wire(envelope("m-1", thread_key="k"),
                      envelope("m-1", thread_key="k", channel="email")))
    assert await count(sessions, Ticket) == 2


async def test_sender_matched_by_phone_reuses_the_contact(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted) -> None:
    await ingest(wire(envelope("m-1")))
    later = envelope("call-9", channel="hotline", name=None, company=None, email=None,
                     phone="+84 91 234 5678", text="Khách gọi hỏi hóa đơn", subject=None)
    await ingest(wire(later))
    assert await count(sessions, Contact) == 1
    assert await count(sessions, Ticket) == 2
    async with sessions() as session:
        contact = (await session.scalars(select(Contact))).one()
        tickets = list(await session.scalars(select(Ticket).order_by(Ticket.id)))
    assert [t.contact_id for t in tickets] == [contact.id, contact.id]
    assert emitted.events[1].customer_id == emitted.events[0].customer_id is not None


async def test_same_company_is_one_customer(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    await ingest(wire(envelope("m-1"),
                      envelope("m-2", email="ke.toan@thepviet.vn", phone="0987 654 321")))
    assert await count(sessions, Contact) == 2
    assert await count(sessions, Customer) == 1


@pytest.mark.parametrize("payload", [b"not json", b"{}", b'{"id": "x"}', b"[]"])
async def test_payload_that_is_not_an_envelope_raises(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted,
        payload: bytes) -> None:
    with pytest.raises(ValueError) as caught:
        await ingest([*wire(envelope("m-1")), payload])
    assert isinstance(caught.value, ValidationError)
    assert await counts(sessions) == (0, 0, 0, 0)
    assert emitted.batches == []


async def test_vietnamese_text_is_stored_nfc_byte_for_byte(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    text = "Phiếu xuất kho ĐH-2024-00123 thiếu 2 thùng, giao trễ hẹn 😡 — nhờ xử lý gấp ạ"
    subject = "Chứng từ & hàng thiếu"
    name = "Phạm Thị Thủy"
    env = envelope("m-nfd", text=text, subject=subject, name=name)
    decomposed = env.model_dump_json().encode()
    decomposed = unicodedata.normalize("NFD", decomposed.decode()).encode()
    assert decomposed != env.model_dump_json().encode()
    await ingest([decomposed])
    async with sessions() as session:
        message = (await session.scalars(select(Message))).one()
        ticket = (await session.scalars(select(Ticket))).one()
        contact = (await session.scalars(select(Contact))).one()
    def nfc(value: str) -> bytes:
        return unicodedata.normalize("NFC", value).encode("utf-8")

    assert message.text.encode("utf-8") == nfc(text)
    assert message.subject is not None and ticket.subject is not None
    assert message.subject.encode("utf-8") == ticket.subject.encode("utf-8") == nfc(subject)
    assert contact.name is not None and message.sender_name is not None
    assert contact.name.encode("utf-8") == message.sender_name.encode("utf-8") == nfc(name)
    assert message.id == await _message_id_by_text(sessions, nfc(text).decode())


async def _message_id_by_text(sessions: SessionFactory, text: str) -> int | None:
    """The database itself finds the NFC string (no normalisation on the way out)."""
    async with sessions() as session:
        return await session.scalar(select(Message.id).where(Message.text == text))


async def test_event_ids_are_stable_across_instances(
        sessions: SessionFactory, emitted: Emitted) -> None:
    env = envelope(str(uuid.UUID(int=7)))
    for _ in range(2):
        fresh = IngestInboundMessages(sessions, emitted, classify_one_by_one(classify), lambda: NOW)
        await fresh(wire(env))
    assert {e.event_id for e in emitted.events} == {uuid.uuid5(env.id, "cskh.tickets")}


async def test_long_subject_and_name_do_not_lose_the_message(
        request: pytest.FixtureRequest, backend: HasDatabase, ingest: IngestInboundMessages,
        sessions: SessionFactory) -> None:
    subject = "Re: " * 140 + "Đối chiếu công nợ quý 3"
    env = envelope("long-1", channel="email", subject=subject, name="Phòng Kế toán " * 20)
    await ingest(wire(env))
    assert await count(sessions, Ticket) == 1
    async with sessions() as session:
        message = (await session.scalars(select(Message))).one()
    assert message.text == "Hóa đơn sai MST"


def contact_event(status: str, at: datetime) -> InboundEnvelope:
    return InboundEnvelope.create(
        channel="zalo", external_id=f"{status}:8438561224567893215:{at.timestamp()}",
        thread_key="579745863508352884:8438561224567893215", received_at=NOW, sent_at=at,
        sender=Sender(platform_user_id="8438561224567893215"), kind="contact",
        contact_status=status)


async def test_contact_events_update_the_contact_and_make_no_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted) -> None:
    follow = contact_event("followed", NOW - timedelta(hours=2))
    unfollow = contact_event("unfollowed", NOW - timedelta(hours=1))
    await ingest(wire(unfollow, follow, follow))  # out of order and repeated
    assert await count(sessions, Ticket) == 0
    assert await count(sessions, Message) == 0
    assert emitted.events == []
    async with sessions() as session:
        contact = (await session.scalars(select(Contact))).one()
    assert contact.channel_status["zalo"]["status"] == "unfollowed"  # the newer one wins

    message = InboundEnvelope.create(
        channel="zalo", external_id="msg-1", thread_key=follow.thread_key, received_at=NOW,
        sender=Sender(platform_user_id="8438561224567893215"), text="Shop ơi còn hàng không")
    await ingest(wire(message))
    async with sessions() as session:
        contacts = list(await session.scalars(select(Contact)))
        ticket = (await session.scalars(select(Ticket))).one()
    assert len(contacts) == 1 and ticket.contact_id == contacts[0].id  # the same person


async def test_machine_mail_never_opens_a_ticket_nor_emits_an_event(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted) -> None:
    def mail(external_id: str, auto: str | None) -> InboundEnvelope:
        return InboundEnvelope.create(
            channel="email", external_id=external_id, thread_key="root@abc.vn",
            received_at=NOW, sender=Sender(email="ketoan@abc.vn"), subject="Re: Công nợ",
            text="Tôi đang nghỉ phép đến 5/12." if auto else "Đề nghị đối chiếu công nợ.",
            raw={"auto": auto})

    await ingest(wire(mail("ooo-1", "auto_reply")))  # no ticket to record it on: discarded
    assert (await count(sessions, Ticket), await count(sessions, Message)) == (0, 0)
    await ingest(wire(mail("root@abc.vn", None)))
    await ingest(wire(mail("ooo-2", "auto_reply"), mail("bounce-1", "bounce")))
    await ingest(wire(mail("ooo-2", "auto_reply")))  # redelivered
    assert (await count(sessions, Ticket), await count(sessions, Message)) == (1, 3)
    assert [e.kind for e in emitted.events] == ["created"]


async def _resolve(sessions: SessionFactory, at: datetime) -> int:
    async with sessions() as session, session.begin():
        ticket = (await session.scalars(select(Ticket))).one()
        ticket.status, ticket.resolved_at = "resolved", at
        return ticket.id


async def test_a_reply_to_a_recently_resolved_ticket_reopens_it(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted) -> None:
    await ingest(wire(envelope("first", thread_key="same")))
    ticket_id = await _resolve(sessions, NOW - timedelta(days=2))
    await ingest(wire(envelope("again", thread_key="same")))
    assert await count(sessions, Ticket) == 1
    async with sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None and ticket.status == "queued" and ticket.resolved_at is None
    assert [e.kind for e in emitted.events] == ["created", "reopened"]


async def test_a_reply_long_after_resolution_is_a_new_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    await ingest(wire(envelope("first", thread_key="same")))
    await _resolve(sessions, NOW - timedelta(days=30))
    await ingest(wire(envelope("again", thread_key="same")))
    assert await count(sessions, Ticket) == 2


async def test_a_ticket_tag_in_the_subject_threads_into_that_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    await ingest(wire(envelope("first", thread_key="thread-a")))
    async with sessions() as session:
        ticket = (await session.scalars(select(Ticket))).one()
    await ingest(wire(envelope("other", thread_key="thread-b", channel="email",
                               subject=f"Re: [#{ticket.number}] Hóa đơn tháng 10")))
    assert await count(sessions, Ticket) == 1
    assert await count(sessions, Message) == 2


async def test_a_new_sender_at_a_customers_domain_belongs_to_that_customer(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    from storage.models import CustomerDomain

    async with sessions() as session, session.begin():
        customer = Customer(name="Công ty TNHH Thép Việt", name_key="công ty tnhh thép việt")
        session.add(customer)
        await session.flush()
        session.add(CustomerDomain(domain="thepviet.vn", customer_id=customer.id))
        customer_id = customer.id
    await ingest(wire(envelope("d1", email="Moi.NhanVien@ThepViet.vn", company=None, phone=None)))
    async with sessions() as session:
        contact = (await session.scalars(select(Contact))).one()
        ticket = (await session.scalars(select(Ticket))).one()
    assert contact.customer_id == customer_id and ticket.customer_id == customer_id


async def test_our_own_mail_coming_back_never_opens_a_ticket(
        sessions: SessionFactory, emitted: Emitted) -> None:
    ours = IngestInboundMessages(sessions, emitted, classify_one_by_one(classify), lambda: NOW,
                                 own_addresses=["@congty.vn"])
    await ours(wire(envelope("loop-1", channel="email", email="cskh@congty.vn")))
    assert await count(sessions, Ticket) == 0 and emitted.events == []


async def test_the_queue_hint_stays_on_the_ticket_its_first_message_opened(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    first = envelope("qh-1", thread_key="t:qh").model_copy(update={"queue_hint": "accounting"})
    follow_up = envelope("qh-2", thread_key="t:qh").model_copy(update={"queue_hint": "sales"})
    plain = envelope("qh-3")
    await ingest(wire(first))
    await ingest(wire(follow_up, plain))
    async with sessions() as session:
        hints = dict((await session.execute(select(Ticket.thread_key, Ticket.queue_hint))).all())
    assert hints == {"t:qh": "accounting", "t:qh-3": None}
