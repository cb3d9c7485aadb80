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
