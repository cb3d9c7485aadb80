"""The ticket event the normalizer emits on ``cskh.tickets`` (the router's input)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

TicketEventKind = Literal["created", "message_added", "reopened"]
# ``Ticket.entities`` key: a missed call on the ticket waits for a callback that reaches the
# customer (set by the normalizer, cleared by ``router.callbacks``; resolving waits for it).
CALLBACK_NEEDED = "callback_needed"


def ticket_event_id(envelope_id: uuid.UUID) -> uuid.UUID:
    """The event id for the message of ``envelope_id``: the same on every redelivery."""
    return uuid.uuid5(envelope_id, "cskh.tickets")


class TicketEvent(BaseModel):
    """A message became part of a ticket: a new ticket, a follow-up, or a reopening."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    kind: TicketEventKind
    ticket_id: int
    message_id: int
    envelope_id: uuid.UUID
    channel: str
    thread_key: str
    category: str
    priority: str
    sentiment: str
    customer_id: int | None
    created_at: AwareDatetime
