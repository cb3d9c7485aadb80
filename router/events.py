"""The assignment event the router emits on ``cskh.assignments``."""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict


def assignment_event_id(ticket_event_id: uuid.UUID) -> uuid.UUID:
    """The assignment made for a ticket event: the same id on every redelivery."""
    return uuid.uuid5(ticket_event_id, "cskh.assignments")


class AssignmentEvent(BaseModel):
    """A ticket was handed to an officer of a queue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    ticket_id: int
    ticket_number: str
    staff_id: int
    staff_name: str
    queue: str
    reason: str
    assigned_at: AwareDatetime


def outbound_message_id(message_public_id: uuid.UUID) -> uuid.UUID:
    """The outbound event of a stored reply: one id however often it is emitted."""
    return uuid.uuid5(message_public_id, "cskh.outbound")


class OutboundEmail(BaseModel):
    """The threading headers of a reply on an e-mail ticket, ready to send as they are.

    ``message_id`` is ours (``<cskh.{ticket id}.{token}@{CSKH_MAIL_DOMAIN}>``), so the
    customer's answer threads to the ticket; ``in_reply_to`` and ``references`` point at the
    customer's latest message (absent when it had no Message-ID of its own); ``subject``
    carries one "Re:" and the ticket tag ``[#CSKH-000123]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str
    in_reply_to: str | None
    references: str | None
    subject: str


NO_STORED_MESSAGE = 0


class OutboundMessage(BaseModel):
    """An officer's reply, to be sent back on the customer's own channel (``cskh.outbound``).

    ``email`` is set for e-mail tickets: the headers to send the reply with. ``message_id``
    ``NO_STORED_MESSAGE`` (0) marks a message no ticket thread stores (a campaign's ask): its
    sender keeps it once by the processed-event ledger alone.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    ticket_id: int
    ticket_number: str
    message_id: int
    channel: str
    thread_key: str
    to_email: str | None
    to_phone: str | None
    in_reply_to: str | None
    subject: str | None
    text: str
    staff_id: int
    staff_name: str
    created_at: AwareDatetime
    email: OutboundEmail | None = None
    # a campaign's ask or reminder: its invitation (``campaign_invitations.public_id``), which
    # a sender that is refused for good turns ``manual`` with the reason, for staff to ask by
    # hand (``cskh survey campaign show`` lists it)
    campaign_invitation: uuid.UUID | None = None
