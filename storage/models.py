"""The SQLAlchemy 2 models: customers, contacts, staff, queues, tickets, messages, assignments.

Every idempotent effect has a unique key the database enforces: a message by its envelope id,
an assignment by its event id, a processed event by (consumer, event id).
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import JSONDoc, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base; naming convention keeps constraint names stable across backends."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDoc,
    }


Base.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

staff_queues = Table(
    "staff_queues",
    Base.metadata,
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("queue_id", ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True),
)


class Queue(Base):
    """A staff queue: cskh, sales, accounting, warehouse, technical."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def login_key(text: str) -> str:
    """How a name or e-mail typed at sign-in is compared: NFC, trimmed, case-folded."""
    return unicodedata.normalize("NFC", text).strip().casefold()


def _name_key(context: Any) -> str:
    return login_key(str(context.get_current_parameters()["name"]))


class Staff(Base):
    """A staff member; ``token_hash`` is the SHA-256 of their API token, never the token."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="agent")
    status: Mapped[str] = mapped_column(String(16), default="online")
    capacity: Mapped[int] = mapped_column(Integer, default=20)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_assigned_at: Mapped[datetime | None] = mapped_column()
    status_changed_at: Mapped[datetime | None] = mapped_column()
    # weekly shift spec (router.shifts), canonical form; NULL: always on shift
    shift: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # signing in to the pages: an argon2 hash (NULL: no password, the pages refuse them), an
    # e-mail stored case-folded, and the name case-folded (``login_key``) to match sign-ins
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    name_key: Mapped[str] = mapped_column(String(200), index=True, default=_name_key)

    queues: Mapped[list[Queue]] = relationship(secondary=staff_queues, lazy="selectin")


class Customer(Base):
    """A business customer (khách hàng doanh nghiệp)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4,
                                                 insert_sentinel=True)
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300), index=True)
    tax_code: Mapped[str | None] = mapped_column(String(20), unique=True)
    tier: Mapped[str] = mapped_column(String(16), default="standard")
    segment: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    queue_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # an account we still serve: the satisfaction campaign asks every active one
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # the days the yearly care plan remembers: the company's founding, its store's opening
    founded_on: Mapped[date | None] = mapped_column(Date)
    opened_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    """A person who writes to us, possibly on behalf of a customer."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4,
                                                 insert_sentinel=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    channel_status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the account's contact for the satisfaction campaign (else the one with most tickets)
    survey_contact: Mapped[bool] = mapped_column(Boolean, default=False,
                                                 server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer | None] = relationship(lazy="raise")


class ContactIdentity(Base):
    """A platform identity of a contact (Facebook PSID, Zalo user id, marketplace buyer id)."""

    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_contact_identities_kind_value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(256))

    contact: Mapped[Contact] = relationship(lazy="raise")


class Ticket(Base):
    """A customer matter, made of one or more messages; ``number`` is what people quote."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_thread", "channel", "thread_key", "status"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_queue_status", "queue", "status"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_resolved_at", "resolved_at"),
        Index("ix_tickets_first_responded_at", "first_responded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4,
                                                 insert_sentinel=True)
    status: Mapped[str] = mapped_column(String(16), default="new")
    # ``customer``: a customer's matter; ``care``: a task of the care plan (not a complaint)
    kind: Mapped[str] = mapped_column(String(16), default="customer", server_default="customer")
    channel: Mapped[str] = mapped_column(String(32))
    thread_key: Mapped[str] = mapped_column(String(512))
    category: Mapped[str] = mapped_column(String(32), default="other")
    category_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    priority_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    sentiment: Mapped[str] = mapped_column(String(16), default="neutral")
    sentiment_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    entities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    queue: Mapped[str | None] = mapped_column(String(64))
    # The queue the channel suggested (a mailbox's default queue); ``router.rules.route_queue``.
    queue_hint: Mapped[str | None] = mapped_column(String(64))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_due: Mapped[datetime | None] = mapped_column()
    resolution_due: Mapped[datetime | None] = mapped_column()
    first_responded_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    # A customer reply reopened the resolved ticket: its SLA clocks start again from here, as
    # cycle ``reopen_count`` (0 = never reopened, the clocks run from ``created_at``).
    reopened_at: Mapped[datetime | None] = mapped_column()
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # An officer merged this ticket into that one (``router.actions.merge``): its messages
    # moved there, it is closed, and its conversation continues there.
    merged_into_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL"))

    @property
    def sla_started_at(self) -> datetime:
        """When the current SLA cycle began: the last reopening, else the creation."""
        return self.reopened_at or self.created_at

    @property
    def number(self) -> str:
        """The ticket number customers and officers quote, e.g. ``CSKH-000042``."""
        return ticket_number(self.id)


def ticket_number(ticket_id: int) -> str:
    """The number of the ticket with id ``ticket_id``, e.g. ``CSKH-000042``."""
    return f"CSKH-{ticket_id:06d}"


class Message(Base):
    """One message of a ticket, inbound or outbound; inbound ones are unique by envelope id.

    ``external_id`` is the provider's id; for mail, the Message-ID without angle brackets,
    ours (``cskh.{ticket}.{token}@domain``) on outbound mail: replies are threaded by it.

    An outbound message's delivery: ``delivery_status`` ``pending`` (to send, or being retried
    after a transient error), ``sent`` (``delivery_ref``: the provider's message ids, one per
    part, space-separated) or ``failed`` (``delivery_code``, a ``connectors.sending`` code, and
    ``delivery_reason`` as the provider gave it); ``delivery_attempts`` counts the officers'
    retries. NULL on inbound messages and on replies stored before delivery was tracked.
    """

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_channel_external_id", "channel", "external_id"),
                      Index("ix_messages_received_at", "received_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    envelope_id: Mapped[uuid.UUID] = mapped_column(unique=True, insert_sentinel=True)
    direction: Mapped[str] = mapped_column(String(8), default="inbound")
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(512))
    sender_name: Mapped[str | None] = mapped_column(String(200))
    sender_email: Mapped[str | None] = mapped_column(String(320))
    sender_phone: Mapped[str | None] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    in_reply_to: Mapped[str | None] = mapped_column(String(512))
    sent_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column()
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_ref: Mapped[str | None] = mapped_column(Text)
    delivery_code: Mapped[str | None] = mapped_column(String(32))
    delivery_reason: Mapped[str | None] = mapped_column(Text)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivery_updated_at: Mapped[datetime | None] = mapped_column()


class Assignment(Base):
    """A ticket handed to an officer; ``event_id`` makes a redelivered event a no-op."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True, insert_sentinel=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    queue: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """The ledger of bus events whose effect is committed, per consumer."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelCorrection(Base):
    """An officer's correction of a ticket's labels: a labelled example for the classifier."""

    __tablename__ = "label_corrections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    sentiment: Mapped[str] = mapped_column(String(16))
    previous: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaPause(Base):
    """A span during which a ticket waited on the customer: its SLA clocks do not run."""

    __tablename__ = "sla_pauses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class SlaEvent(Base):
    """A ticket's SLA clock reached its warning point (80% of the budget) or was breached.

    Once per clock, kind and ``cycle`` (the ticket's ``reopen_count`` at the time): a reopened
    ticket's new cycle warns and breaches again.
    """

    __tablename__ = "sla_events"
    __table_args__ = (UniqueConstraint("ticket_id", "clock", "kind", "cycle",
                                       name="uq_sla_events_ticket_clock_kind_cycle"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    queue: Mapped[str | None] = mapped_column(String(64), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    clock: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    fraction: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column()
    cycle: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CustomerDomain(Base):
    """An e-mail domain that belongs to one business customer (never a free-mail domain)."""

    __tablename__ = "customer_domains"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"),
                                             index=True)


class PullerCursor(Base):
    """How far a pulled source (one mailbox folder) has been read, kept in the database so that
    a puller on another host that takes the lease over goes on from the same place."""

    __tablename__ = "puller_cursors"

    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class Survey(Base):
    """A satisfaction survey: after a resolved ticket (``kind`` csat) or in a campaign.

    One per ticket and SLA cycle (``ticket_id``, ``cycle``), so a redelivered or repeated
    decision never asks twice. ``status``: ``pending`` (to send), ``sent``, ``manual`` (the
    channel cannot carry it: the officer asks by hand), ``skipped`` (``reason`` says why).
    The customer's link carries a random token; only its SHA-256 is kept once the survey is
    sent (``token_pending`` holds the token between the decision and the send, so a resend
    after a crash carries the same link). The officer credited is the one who replied.
    """

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("ticket_id", "cycle", name="uq_surveys_ticket_cycle"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4,
                                                 insert_sentinel=True)
    kind: Mapped[str] = mapped_column(String(16), default="csat")
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_pending: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    answered_at: Mapped[datetime | None] = mapped_column(index=True)
    answer_count: Mapped[int] = mapped_column(Integer, default=0)
    follow_up_ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"))


# The twice-yearly campaign's questions: each topic is rated 1-5 with its own comment.
CAMPAIGN_TOPICS = ("product_quality", "prices_promotions", "delivery", "invoices_documents",
                   "warranty_maintenance", "care_staff")


class Campaign(Base):
    """A satisfaction campaign: a longer survey to a contact of every active account that
    matches the tier and segment filters, sent once ``send_at`` has passed, with one reminder
    ``remind_days`` later. ``state``: ``open`` (sending, answers taken) or ``closed``."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4,
                                                 insert_sentinel=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    tier: Mapped[str | None] = mapped_column(String(16))
    segment: Mapped[str | None] = mapped_column(String(64))
    send_at: Mapped[datetime] = mapped_column()
    remind_days: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    state: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class CampaignInvitation(Base):
    """One contact asked in one campaign (unique per campaign and contact).

    The link is the ``surveys`` row's token (kind ``campaign``); the reminder carries a second
    token of the same survey, kept like the first: only its SHA-256 once sent (``reminder_
    token_pending`` holds it between the decision and the send). ``status``: ``pending``,
    ``sent``, ``manual`` (no channel can carry it: staff ask by hand). ``ticket_id`` is the
    contact's ticket whose chat thread carries a chat ask.
    """

    __tablename__ = "campaign_invitations"
    __table_args__ = (UniqueConstraint("campaign_id", "contact_id",
                                       name="uq_campaign_invitations_campaign_contact"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4,
                                                 insert_sentinel=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"),
                                             index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"))
    survey_id: Mapped[int | None] = mapped_column(
        ForeignKey("surveys.id", ondelete="SET NULL"), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    reminded_at: Mapped[datetime | None] = mapped_column()
    reminder_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    reminder_token_pending: Mapped[str | None] = mapped_column(String(64))


class CampaignAnswer(Base):
    """The answer to one invitation (one per invitation, changeable until the link expires):
    ``overall`` 1-5, ``recommend`` 0-10, and each of ``CAMPAIGN_TOPICS`` 1-5 with a comment."""

    __tablename__ = "campaign_answers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    invitation_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_invitations.id", ondelete="CASCADE"), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"),
                                             index=True)
    overall: Mapped[int] = mapped_column(Integer)
    overall_comment: Mapped[str | None] = mapped_column(Text)
    recommend: Mapped[int | None] = mapped_column(Integer)
    product_quality: Mapped[int | None] = mapped_column(Integer)
    product_quality_comment: Mapped[str | None] = mapped_column(Text)
    prices_promotions: Mapped[int | None] = mapped_column(Integer)
    prices_promotions_comment: Mapped[str | None] = mapped_column(Text)
    delivery: Mapped[int | None] = mapped_column(Integer)
    delivery_comment: Mapped[str | None] = mapped_column(Text)
    invoices_documents: Mapped[int | None] = mapped_column(Integer)
    invoices_documents_comment: Mapped[str | None] = mapped_column(Text)
    warranty_maintenance: Mapped[int | None] = mapped_column(Integer)
    warranty_maintenance_comment: Mapped[str | None] = mapped_column(Text)
    care_staff: Mapped[int | None] = mapped_column(Integer)
    care_staff_comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column()
    answer_count: Mapped[int] = mapped_column(Integer, default=1)


class CannedAnswer(Base):
    """A queue's ready answer an officer inserts into a reply; unique by queue and title.

    ``text`` may hold the placeholders ``{khach_hang}``, ``{so_phieu}`` and ``{nhan_vien}``
    (``desk.answers.render_answer`` fills them).
    """

    __tablename__ = "canned_answers"
    __table_args__ = (UniqueConstraint("queue", "title", name="uq_canned_answers_queue_title"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignInFailure(Base):
    """A wrong password at sign-in, counted per typed name and per address for the lockout."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_kind_key_at", "kind", "key", "failed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "name" or "address"
    key: Mapped[str] = mapped_column(String(320))
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelToken(Base):
    """A provider's access token for one channel account (a Zalo OA, a shop), refreshed by
    the service: the refresh token rotates and is saved in the transaction that stores the
    new access token. ``account``: the OA, shop or seller (``""``: every account of the
    channel without a row of its own). ``lease_owner``/``lease_until``: the sender refreshing
    it now (two never refresh at once). ``last_error``: the last refresh that failed."""

    __tablename__ = "channel_tokens"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    refreshed_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# The care plan's tables live in their own module (``storage.models_care``, imported from
# there); importing it here registers them with ``Base.metadata`` wherever the models are used.
import storage.models_care  # noqa: E402, F401
