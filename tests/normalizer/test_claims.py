"""Who may write into an existing ticket, on both backends: a web form only with a follow-up
token we signed; a mail's tag or our id scheme only from the ticket's own contact (never with a
From our server says failed DKIM/DMARC) or a verified colleague; what a sender merely claims
never rewrites a contact we know."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.envelope import InboundEnvelope, Sender
from normalizer import follow_up
from normalizer.classifier import Classification
from normalizer.events import TicketEvent
from normalizer.ingest import IngestInboundMessages, classify_one_by_one
from storage.db import SessionFactory
from storage.models import Contact, Customer, CustomerDomain, Message, Ticket

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
SECRET = "follow-up-secret-for-tests"
VICTIM = {"email": "hong@thepviet.vn", "name": "Nguyễn Thị Hồng",
          "company": "Công ty TNHH Thép Việt"}
STRANGER = {"email": "x@doithu.vn", "name": "Người lạ", "company": "Công ty TNHH Thép Việt"}


async def ignore(events: Sequence[TicketEvent]) -> None:
    return None


def classify(text: str, channel: str) -> Classification:
    return Classification(category="invoice", category_confidence=0.9, priority="normal",
                          priority_confidence=0.8, sentiment="neutral",
                          sentiment_confidence=0.7, needs_review=False, entities={})


@pytest.fixture
def ingest(sessions: SessionFactory) -> IngestInboundMessages:
    return IngestInboundMessages(sessions, ignore, classify_one_by_one(classify), lambda: NOW,
                                 follow_up_secret=SECRET)


def form(ident: str, who: dict[str, Any], subject: str = "Hóa đơn tháng 10 sai MST",
         token: str | None = None) -> InboundEnvelope:
    """A web-form submission as ``connectors.webform`` makes it (raw: the form's fields)."""
    raw: dict[str, Any] = {"name": who.get("name"), "message": "Bổ sung thông tin."}
    if token is not None:
        raw[follow_up.FIELD] = token
    return InboundEnvelope.create(
        channel="webform", external_id=ident, thread_key=f"webform:{ident}", received_at=NOW,
        sent_at=NOW, sender=Sender(**who), subject=subject, text="Bổ sung thông tin.", raw=raw)


def mail(ident: str, who: dict[str, Any], subject: str, auth: str) -> InboundEnvelope:
    return InboundEnvelope.create(
        channel="email", external_id=ident, thread_key=ident, received_at=NOW, sent_at=NOW,
        sender=Sender(email=who["email"], name=who.get("name")), subject=subject,
        text="Nhờ kiểm tra.", raw={"headers": {"message_id": ident, "references": []},
                                   "auth": {"verdict": auth}, "auto": None})


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


async def customer_owning(domain: str, sessions: SessionFactory) -> None:
    """The victim's company as ``cskh customers import`` records it: its name and mail domain."""
    async with sessions() as session, session.begin():
        customer = Customer(name=VICTIM["company"], name_key="công ty tnhh thép việt")
        session.add(customer)
        await session.flush()
        session.add(CustomerDomain(domain=domain, customer_id=customer.id))


async def victims_ticket(ingest: IngestInboundMessages, sessions: SessionFactory) -> Ticket:
    await feed(ingest, mail("v1@thepviet.vn", VICTIM, "Hóa đơn tháng 10 sai MST", "pass"))
    return await ticket_of(sessions, "v1@thepviet.vn")


# ---- web forms: what was typed never joins; a signed token does ----------------------------


@pytest.mark.parametrize("typed", ["tag_only", "company_and_tag", "victims_email_and_tag"])
async def test_a_web_form_never_joins_a_ticket_by_what_its_sender_typed(
        ingest: IngestInboundMessages, sessions: SessionFactory, typed: str) -> None:
    victim = await victims_ticket(ingest, sessions)
    who = {"email": "x@doithu.vn", "name": "Người lạ"}
    if typed == "company_and_tag":
        who["company"] = VICTIM["company"]
    if typed == "victims_email_and_tag":
        who["email"] = VICTIM["email"]
    await feed(ingest, form("f1", who, subject=f"Re: [#{victim.number}] Hóa đơn tháng 10"))
    assert (await ticket_of(sessions, "f1")).id != victim.id
    assert await tickets(sessions) == 2


async def test_a_web_form_with_our_signed_token_continues_its_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    victim = await victims_ticket(ingest, sessions)
    token = follow_up.mint(SECRET, victim.id, NOW)
    # the link works for whoever holds it, like a reply to our Message-ID
    await feed(ingest, form("f2", {"email": "ketoan@thepviet.vn", "name": "Lan"}, token=token))
    assert (await ticket_of(sessions, "f2")).id == victim.id


@pytest.mark.parametrize("forgery", ["other_secret", "other_ticket", "expired", "garbage",
                                     "number"])
async def test_a_forged_or_expired_token_makes_a_new_ticket(
        ingest: IngestInboundMessages, sessions: SessionFactory, forgery: str) -> None:
    victim = await victims_ticket(ingest, sessions)
    token = {
        "other_secret": follow_up.mint("guessed", victim.id, NOW),
        "other_ticket": follow_up.mint(SECRET, victim.id + 1, NOW).replace(
            f"{victim.id + 1}.", f"{victim.id}.", 1),
        "expired": follow_up.mint(SECRET, victim.id, NOW - timedelta(days=91)),
        "garbage": "'; DROP TABLE tickets; --",
        "number": str(victim.id),
    }[forgery]
    await feed(ingest, form("f3", STRANGER, token=token))
    assert (await ticket_of(sessions, "f3")).id != victim.id


async def test_without_a_secret_no_token_is_accepted(sessions: SessionFactory) -> None:
    plain = IngestInboundMessages(sessions, ignore, classify_one_by_one(classify), lambda: NOW)
    victim = await victims_ticket(plain, sessions)
    await feed(plain, form("f4", STRANGER, token=follow_up.mint(SECRET, victim.id, NOW)))
    assert (await ticket_of(sessions, "f4")).id != victim.id


async def test_a_web_form_typing_a_known_address_changes_nothing_on_that_contact(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    await feed(ingest, mail("v2@thepviet.vn", {"email": VICTIM["email"]}, "Công nợ", "pass"))
    await feed(ingest, form("f5", {"email": VICTIM["email"], "name": "Kẻ mạo danh",
                                   "phone": "0912 345 678", "company": "Công ty Đối Thủ"}))
    async with sessions() as session:
        contact = await session.scalar(select(Contact).where(Contact.email == VICTIM["email"]))
    assert contact is not None
    assert (contact.name, contact.phone, contact.customer_id) == (None, None, None)


# ---- mail: our receiving server's DKIM/DMARC verdict decides who may claim a ticket --------


@pytest.mark.parametrize(("auth", "joins"), [("pass", True), ("unchecked", True),
                                             ("fail", False)])
async def test_the_tag_from_the_tickets_own_address_counts_unless_its_from_failed(
        ingest: IngestInboundMessages, sessions: SessionFactory, auth: str, joins: bool) -> None:
    victim = await victims_ticket(ingest, sessions)
    await feed(ingest, mail("m1@thepviet.vn", VICTIM, f"Re: [#{victim.number}] bổ sung", auth))
    assert ((await ticket_of(sessions, "m1@thepviet.vn")).id == victim.id) is joins


async def test_a_stranger_who_typed_the_customers_name_in_a_form_is_no_colleague_by_mail(
        ingest: IngestInboundMessages, sessions: SessionFactory) -> None:
    """The form links the stranger's new contact to the customer by the name they typed; a
    mail from the stranger's own (verified) domain still cannot claim the customer's ticket:
    only a verified address at a domain the customer owns makes a colleague."""
    await customer_owning("thepviet.vn", sessions)
    victim = await victims_ticket(ingest, sessions)
    assert victim.customer_id is not None
    await feed(ingest, form("f6", STRANGER))
    async with sessions() as session:
        stranger = await session.scalar(select(Contact).where(Contact.email == "x@doithu.vn"))
    assert stranger is not None and stranger.customer_id == victim.customer_id
    await feed(ingest, mail("m2@doithu.vn", STRANGER, f"Re: [#{victim.number}] hi", "pass"))
    assert (await ticket_of(sessions, "m2@doithu.vn")).id != victim.id
    colleague = {"email": "lan@thepviet.vn", "name": "Lan"}
    await feed(ingest, mail("m3@thepviet.vn", colleague, f"Re: [#{victim.number}] hi", "pass"))
    assert (await ticket_of(sessions, "m3@thepviet.vn")).id == victim.id


@pytest.mark.parametrize(("auth", "given"), [("pass", True), ("fail", False)])
async def test_a_from_that_failed_joins_no_customer_by_its_domain(
        ingest: IngestInboundMessages, sessions: SessionFactory, auth: str, given: bool) -> None:
    await customer_owning("thepviet.vn", sessions)
    await feed(ingest, mail("m4@thepviet.vn", {"email": "giamdoc@thepviet.vn"}, "Báo giá", auth))
    ticket = await ticket_of(sessions, "m4@thepviet.vn")
    assert (ticket.customer_id is not None) is given


@pytest.mark.parametrize(("auth", "flagged"), [("pass", False), ("unchecked", False),
                                               ("fail", True)])
async def test_a_mail_whose_from_failed_is_a_new_ticket_flagged_for_review(
        ingest: IngestInboundMessages, sessions: SessionFactory, auth: str,
        flagged: bool) -> None:
    """A From our server could not confirm, naming a known contact: never that contact's
    ticket by its address (rule 4) or its tag, and the new ticket waits for an officer."""
    victim = await victims_ticket(ingest, sessions)
    await feed(ingest, mail("m5@thepviet.vn", VICTIM, "Re: Hóa đơn tháng 10 sai MST", auth))
    ticket = await ticket_of(sessions, "m5@thepviet.vn")
    assert (ticket.id != victim.id) is flagged
    assert ticket.needs_review is flagged


async def messages(sessions: SessionFactory) -> list[tuple[str, str, int]]:
    async with sessions() as session:
        rows = await session.execute(select(Message.external_id, Message.text,
                                            Message.ticket_id).order_by(Message.id))
        return [(e, t, i) for e, t, i in rows.all()]


def typed(ident: str, who: dict[str, Any], text: str) -> InboundEnvelope:
    return InboundEnvelope.create(
        channel="webform", external_id=ident, thread_key=f"webform:{ident}", received_at=NOW,
        sent_at=NOW, sender=Sender(**who), subject="Hóa đơn", text=text,
        raw={"name": who.get("name"), "message": text, "submission_id": ident})


@pytest.mark.parametrize("batched", [False, True], ids=["later", "same_batch"])
async def test_a_submission_id_reused_for_other_content_is_its_own_ticket_not_dropped(
        ingest: IngestInboundMessages, sessions: SessionFactory, batched: bool) -> None:
    """A stranger reusing the victim's submission id neither joins the victim's ticket nor
    is dropped as a duplicate; each post's own retries still dedupe."""
    victim = typed("frm-1001", VICTIM, "Hóa đơn số 0000789 sai mã số thuế.")
    stranger = typed("frm-1001", STRANGER, "Tôi cũng muốn xem hóa đơn.")
    if batched:
        await feed(ingest, victim, stranger)
    else:
        await feed(ingest, victim)
        await feed(ingest, stranger)
    await feed(ingest, stranger, victim)  # both retried
    stored = await messages(sessions)
    assert [t for _, t, _ in stored] == [victim.text, stranger.text]
    (_, _, first), (own_id, _, second) = stored
    assert first != second and own_id.startswith("frm-1001~")
    assert await tickets(sessions) == 2
