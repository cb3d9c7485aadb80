"""Mail threading on both backends: stored Message-IDs, our id scheme, the tag, and the
same-sender same-subject window; forged claims on another customer's ticket refused."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from connectors.envelope import InboundEnvelope, Sender
from normalizer.classifier import Classification
from normalizer.events import TicketEvent
from normalizer.ingest import IngestInboundMessages, classify_one_by_one
from normalizer.threads import our_message_id
from storage.db import SessionFactory
from storage.models import CustomerDomain, Message, Ticket
from tests.support.clock import Clock

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
DOMAIN = "congty.vn"
HONG = {"email": "hong@thepviet.vn", "name": "Nguyễn Thị Hồng", "company": "Công ty TNHH Thép Việt"}
LAN = {"email": "lan@thepviet.vn", "name": "Trần Thị Lan", "company": "Công ty TNHH Thép Việt"}
REPLY = "Trả lời: Hóa đơn tháng 10 sai MST"
MALLORY = {"email": "mallory@doithu.vn", "name": "Mallory", "company": "Công ty Đối Thủ"}


class Emitted:
    def __init__(self) -> None:
        self.events: list[TicketEvent] = []

    async def __call__(self, events: Sequence[TicketEvent]) -> None:
        self.events.extend(events)


def classify(text: str, channel: str) -> Classification:
    return Classification(category="invoice", category_confidence=0.9, priority="normal",
                          priority_confidence=0.8, sentiment="neutral",
                          sentiment_confidence=0.7, needs_review=False, entities={})


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def emitted() -> Emitted:
    return Emitted()


@pytest.fixture
def ingest(sessions: SessionFactory, emitted: Emitted, clock: Clock) -> IngestInboundMessages:
    return IngestInboundMessages(sessions, emitted, classify_one_by_one(classify), clock,
                                 mail_domains=[DOMAIN])


def mail(message_id: str, *, who: dict[str, str], subject: str | None = "Hóa đơn tháng 10 sai MST",
         in_reply_to: str | None = None, references: Sequence[str] = (),
         sent: datetime = NOW, text: str = "Nhờ kiểm tra giúp.",
         auth: str = "unchecked") -> InboundEnvelope:
    """A mail as the connector makes it; ``auth`` is our server's DKIM/DMARC verdict."""
    refs = list(references)
    return InboundEnvelope.create(
        channel="email", external_id=message_id,
        thread_key=(refs[0] if refs else in_reply_to) or message_id,
        received_at=sent, sent_at=sent, sender=Sender(**who), subject=subject, text=text,
        in_reply_to=in_reply_to,
        raw={"headers": {"message_id": message_id, "in_reply_to": in_reply_to,
                         "references": refs}, "auto": None, "auth": {"verdict": auth}})


async def own_domain(sessions: SessionFactory, customer_id: int | None, domain: str) -> None:
    """Record that ``customer_id`` owns mail ``domain`` (``cskh customers import`` does)."""
    assert customer_id is not None
    async with sessions() as session, session.begin():
        session.add(CustomerDomain(domain=domain, customer_id=customer_id))


async def feed(ingest: IngestInboundMessages, *envelopes: InboundEnvelope) -> None:
    await ingest([e.model_dump_json().encode() for e in envelopes])


async def ticket_of(sessions: SessionFactory, external_id: str) -> Ticket:
    async with sessions() as session:
        ticket = await session.scalar(select(Ticket).join(
            Message, Message.ticket_id == Ticket.id).where(Message.external_id == external_id))
    assert ticket is not None
    return ticket


async def tickets(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def our_reply(sessions: SessionFactory, ticket_id: int) -> str:
    """Store an outbound reply with our Message-ID on ``ticket_id`` (what the router does)."""
    ident = our_message_id(ticket_id, DOMAIN)
    async with sessions() as session, session.begin():
        session.add(Message(ticket_id=ticket_id, envelope_id=uuid.uuid4(), direction="outbound",
                            channel="email", external_id=ident, text="Dạ em kiểm tra ạ.",
                            sent_at=NOW, received_at=NOW))
    return ident


async def delete_message(sessions: SessionFactory, external_id: str) -> None:
    async with sessions() as session, session.begin():
        message = await session.scalar(select(Message).where(Message.external_id == external_id))
        assert message is not None
        await session.delete(message)


async def resolve(sessions: SessionFactory, ticket_id: int, at: datetime) -> None:
    """Mark the ticket resolved at ``at``, as an officer would."""
    async with sessions() as session, session.begin():
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.status, ticket.resolved_at = "resolved", at


async def test_a_reply_to_our_stored_message_id_threads_even_from_a_cc(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    """Rule 1: our stored id is a capability; a colleague of another company in Cc may use it."""
    await feed(ingest, mail("a1@thepviet.vn", who=HONG))
    first = await ticket_of(sessions, "a1@thepviet.vn")
    ours = await our_reply(sessions, first.id)
    # their client dropped References and changed the subject: only In-Reply-To is left
    await feed(ingest, mail("a2@doithu.vn", who=MALLORY, in_reply_to=ours, subject="Ý kiến"))
    assert (await ticket_of(sessions, "a2@doithu.vn")).id == first.id
    assert await tickets(sessions) == 1


async def test_any_stored_message_id_in_references_threads_across_thread_roots(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    await feed(ingest, mail("b1@thepviet.vn", who=HONG))
    await feed(ingest, mail("b2@thepviet.vn", who=HONG, subject="Công nợ tháng 11 còn thiếu",
                            references=["unknown-root@elsewhere", "b1@thepviet.vn"]))
    assert (await ticket_of(sessions, "b2@thepviet.vn")).id == (
        await ticket_of(sessions, "b1@thepviet.vn")).id


@pytest.mark.parametrize("auth", ["pass", "unchecked", "fail"])
async def test_our_id_without_its_row_threads_for_the_tickets_customer(
        ingest: IngestInboundMessages, sessions: SessionFactory, auth: str) -> None:
    """After a restore the outbound row is gone: the id's scheme still names the ticket, and a
    colleague of the same customer may answer on it when our server verified their From
    (DKIM/DMARC) at a domain the customer owns; an unverified From is no colleague."""
    await feed(ingest, mail("c1@thepviet.vn", who=HONG))
    first = await ticket_of(sessions, "c1@thepviet.vn")
    await own_domain(sessions, first.customer_id, "thepviet.vn")
    ours = await our_reply(sessions, first.id)
    await delete_message(sessions, ours)
    await feed(ingest, mail("c2@thepviet.vn", who=LAN, in_reply_to=ours, subject="Re: khác",
                            auth=auth))
    joined = (await ticket_of(sessions, "c2@thepviet.vn")).id == first.id
    assert joined is (auth == "pass")
    # the ticket's own contact may, unless our server said her From failed
    await feed(ingest, mail("c3@thepviet.vn", who=HONG, in_reply_to=ours, subject="Re: khác",
                            auth=auth))
    assert ((await ticket_of(sessions, "c3@thepviet.vn")).id == first.id) is (auth != "fail")


async def test_a_forged_id_of_another_customers_ticket_makes_a_new_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted) -> None:
    await feed(ingest, mail("d1@thepviet.vn", who=HONG))
    victim = await ticket_of(sessions, "d1@thepviet.vn")
    forged = our_message_id(victim.id, DOMAIN)  # ticket numbers are sequential: easy to guess
    await feed(ingest, mail("d2@doithu.vn", who=MALLORY, in_reply_to=forged,
                            references=[forged], subject="Re: Hóa đơn tháng 10 sai MST"))
    intruder = await ticket_of(sessions, "d2@doithu.vn")
    assert intruder.id != victim.id and intruder.customer_id != victim.customer_id
    assert [e.kind for e in emitted.events] == ["created", "created"]


async def test_a_forged_tag_of_another_customers_ticket_makes_a_new_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    await feed(ingest, mail("e1@thepviet.vn", who=HONG))
    victim = await ticket_of(sessions, "e1@thepviet.vn")
    await feed(ingest, mail("e2@doithu.vn", who=MALLORY, subject=f"Re: [#{victim.number}] hi"))
    assert (await ticket_of(sessions, "e2@doithu.vn")).id != victim.id
    await feed(ingest, mail("e3@thepviet.vn", who=LAN, subject=f"Re: [#{victim.number}] hi"))
    assert (await ticket_of(sessions, "e3@thepviet.vn")).id != victim.id  # From unverified
    await own_domain(sessions, victim.customer_id, "thepviet.vn")
    await feed(ingest, mail("e4@thepviet.vn", who=LAN, subject=f"Re: [#{victim.number}] hi",
                            auth="pass"))
    assert (await ticket_of(sessions, "e4@thepviet.vn")).id == victim.id  # verified colleague


async def test_our_id_naming_no_ticket_makes_a_new_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    missing = our_message_id(999_999, DOMAIN)
    await feed(ingest, mail("f1@thepviet.vn", who=HONG, in_reply_to=missing))
    assert await tickets(sessions) == 1


async def test_a_reply_to_our_id_reopens_a_recently_resolved_ticket_once(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted,
        clock: Clock) -> None:
    await feed(ingest, mail("g1@thepviet.vn", who=HONG))
    first = await ticket_of(sessions, "g1@thepviet.vn")
    ours = await our_reply(sessions, first.id)
    await resolve(sessions, first.id, NOW + timedelta(hours=1))
    clock.now = NOW + timedelta(days=2)
    await feed(ingest, mail("g2@thepviet.vn", who=HONG, in_reply_to=ours, references=[ours],
                            sent=clock.now),
               mail("g3@thepviet.vn", who=HONG, in_reply_to="g2@thepviet.vn",
                    references=[ours, "g2@thepviet.vn"], sent=clock.now))
    again = await ticket_of(sessions, "g3@thepviet.vn")
    assert again.id == first.id and again.status == "queued" and again.resolved_at is None
    assert (again.reopened_at, again.reopen_count) == (clock.now, 1)
    assert [e.kind for e in emitted.events] == ["created", "reopened", "message_added"]


async def test_a_reply_to_our_id_long_after_resolution_is_a_new_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory, clock: Clock) -> None:
    await feed(ingest, mail("h1@thepviet.vn", who=HONG))
    first = await ticket_of(sessions, "h1@thepviet.vn")
    ours = await our_reply(sessions, first.id)
    await resolve(sessions, first.id, NOW)
    clock.now = NOW + timedelta(days=30)
    await feed(ingest, mail("h2@thepviet.vn", who=HONG, in_reply_to=ours, sent=clock.now))
    second = await ticket_of(sessions, "h2@thepviet.vn")
    assert second.id != first.id and second.reopen_count == 0


# ---- the last resort: same sender, same normalized subject, within the window ----------------


@pytest.mark.parametrize("same_batch", [False, True], ids=["two_batches", "one_batch"])
async def test_same_sender_same_subject_within_the_window_is_one_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory, same_batch: bool) -> None:
    first = mail("s1@thepviet.vn", who=HONG, subject="Hóa đơn tháng 10 sai MST")
    # a fresh mail, not a reply: no headers link it; the subject differs only in form
    second = mail("s2@thepviet.vn", who=HONG, subject="TL: HOA DON thang 10 sai mst",
                  sent=NOW + timedelta(hours=71))
    if same_batch:
        await feed(ingest, first, second)
    else:
        await feed(ingest, first)
        await feed(ingest, second)
    assert await tickets(sessions) == 1


@pytest.mark.parametrize("case", ["after_window", "other_sender", "other_subject",
                                  "generic_subject", "other_channel"])
async def test_the_subject_rule_does_not_match(
        ingest: IngestInboundMessages, sessions: SessionFactory, case: str) -> None:
    subject = "Re:" if case == "generic_subject" else "Hóa đơn tháng 10 sai MST"
    await feed(ingest, mail("n1@thepviet.vn", who=HONG, subject=subject))
    later = NOW + timedelta(hours=73 if case == "after_window" else 1)
    who = LAN if case == "other_sender" else HONG  # a colleague: same customer, other sender
    again = "Hóa đơn tháng 11 sai MST" if case == "other_subject" else subject
    # a reply by its prefix, so that only the rule's other conditions can keep them apart
    second = mail("n2@thepviet.vn", who=who, subject=f"Re: {again}".strip(), sent=later)
    if case == "other_channel":
        second = InboundEnvelope.create(
            channel="webform", external_id="n2", thread_key="n2", received_at=later,
            sender=Sender(**HONG), subject=subject, text="Nhờ kiểm tra giúp.")
    await feed(ingest, second)
    assert await tickets(sessions) == 2


async def test_the_subject_rule_skips_a_ticket_resolved_long_ago_but_reopens_a_recent_one(
        ingest: IngestInboundMessages, sessions: SessionFactory, emitted: Emitted,
        clock: Clock) -> None:
    await feed(ingest, mail("r1@thepviet.vn", who=HONG))
    first = await ticket_of(sessions, "r1@thepviet.vn")
    await resolve(sessions, first.id, NOW + timedelta(hours=1))
    clock.now = NOW + timedelta(hours=30)
    await feed(ingest, mail("r2@thepviet.vn", who=HONG, sent=clock.now, subject=REPLY))
    assert (await ticket_of(sessions, "r2@thepviet.vn")).id == first.id
    assert emitted.events[-1].kind == "reopened"

    short = IngestInboundMessages(sessions, emitted, classify_one_by_one(classify), clock,
                                  mail_domains=[DOMAIN], reopen_window=timedelta(hours=1))
    await resolve(sessions, first.id, clock.now)
    clock.now += timedelta(hours=2)
    await feed(short, mail("r3@thepviet.vn", who=HONG, sent=clock.now, subject=REPLY))
    assert (await ticket_of(sessions, "r3@thepviet.vn")).id != first.id


async def test_the_window_can_be_switched_off(
        sessions: SessionFactory, emitted: Emitted, clock: Clock) -> None:
    off = IngestInboundMessages(sessions, emitted, classify_one_by_one(classify), clock,
                                thread_window=timedelta(0))
    await feed(off, mail("o1@thepviet.vn", who=HONG),
               mail("o2@thepviet.vn", who=HONG, sent=NOW + timedelta(minutes=5)))
    assert await tickets(sessions) == 2


# ---- issue 22: a mail that does not present itself as a reply is a new conversation ---------


@pytest.mark.parametrize("same_batch", [False, True], ids=["two_batches", "one_batch"])
async def test_a_new_mail_with_the_same_subject_and_sender_is_a_new_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory, same_batch: bool) -> None:
    """No reply prefix, no In-Reply-To, no References: the customer started a new matter
    (a monthly invoice mail, a second order), however alike the subject."""
    first = mail("k1@thepviet.vn", who=HONG, subject="Hóa đơn tháng 10 sai MST")
    second = mail("k2@thepviet.vn", who=HONG, subject="Hóa đơn tháng 10 sai MST",
                  sent=NOW + timedelta(hours=2), auth="pass")
    if same_batch:
        await feed(ingest, first, second)
    else:
        await feed(ingest, first)
        await feed(ingest, second)
    assert await tickets(sessions) == 2


@pytest.mark.parametrize("how", ["Re: ", "RE: ", "Trả lời: ", "TL: ", "Fwd: ", "FW: ",
                                 "in_reply_to", "references", "tag"])
async def test_every_kind_of_reply_from_the_same_sender_threads(
        ingest: IngestInboundMessages, sessions: SessionFactory, how: str) -> None:
    await feed(ingest, mail("h1@thepviet.vn", who=HONG, subject="Hóa đơn tháng 10 sai MST"))
    first = await ticket_of(sessions, "h1@thepviet.vn")
    later = NOW + timedelta(hours=5)
    if how == "in_reply_to":  # their client lost the prefix; the id it answers is not ours
        reply = mail("h2@thepviet.vn", who=HONG, in_reply_to="lost@elsewhere", sent=later)
    elif how == "references":
        reply = mail("h2@thepviet.vn", who=HONG, references=["lost@elsewhere"], sent=later)
    elif how == "tag":  # a new mail naming our ticket, from its own verified sender
        reply = mail("h2@thepviet.vn", who=HONG, subject=f"[#{first.number}] Bổ sung chứng từ",
                     sent=later, auth="pass")
    else:
        reply = mail("h2@thepviet.vn", who=HONG, subject=f"{how}Hóa đơn tháng 10 sai MST",
                     sent=later)
    await feed(ingest, reply)
    assert (await ticket_of(sessions, "h2@thepviet.vn")).id == first.id


async def test_a_reply_whose_from_failed_dkim_and_dmarc_does_not_thread_by_subject(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    await feed(ingest, mail("g1@thepviet.vn", who=HONG))
    await feed(ingest, mail("g2@thepviet.vn", who=HONG, subject=REPLY, auth="fail",
                            sent=NOW + timedelta(hours=1)))
    assert await tickets(sessions) == 2
    await feed(ingest, mail("g3@thepviet.vn", who=HONG, subject=REPLY, auth="pass",
                            sent=NOW + timedelta(hours=2)))
    assert await tickets(sessions) == 2  # verified, it threads (onto the newest match)
