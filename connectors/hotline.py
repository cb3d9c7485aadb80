"""Hotline channel, cloud PBX: the PBX posts call events to ``POST /webhooks/hotline``.

Vietnamese cloud PBXs (StringeeX, OMICall, CareSoft, …) each post call events in their own
words; their webhook is configured (or bridged) to post this one JSON shape, signed with the
shared ``CSKH_HOTLINE_SECRET``:

``X-CSKH-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``

.. code-block:: json

    {"event": "hangup", "call_id": "…", "timestamp": "2026-11-27T09:16:10+07:00",
     "direction": "inbound", "from": "0912345678", "to": "19001234",
     "caller_name": "…", "queue": "cskh", "agent": "…", "cause": "NO_ANSWER",
     "duration": 42, "billsec": 0, "recording_url": "https://…", "note": "…"}

* ``newCall`` and ``answer`` report a call in progress: validated, no ticket.
* ``hangup`` ends it: a missed inbound call (``cause`` no answer, busy, abandoned in the
  queue, …) is a callback ticket; an answered call with a ``note`` is a ticket carrying it.
* ``note`` is the agent's call note written after hang-up: a ticket carrying the note.

The dedup key is ``call_id``: the hang-up and a later note of one call are one message (a
missed call has no note; an answered call's note is the message). See ``connectors.calls``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import RawRequest, WebhookResult
from connectors.calls import MISSED_CAUSES, Call, Direction, call_envelope, cause_key
from connectors.envelope import InboundEnvelope
from connectors.payloads import (
    Count,
    IdStr,
    Instant,
    Url,
    dispatch,
    e164,
    json_object,
    require_signature,
    validated,
)
from connectors.signing import hmac_sha256_hex

CHANNEL = "hotline"
SIGNATURE_HEADER = "X-CSKH-Signature"
SIGNATURE_PREFIX = "sha256="
MAX_BODY_BYTES = 64 * 1024


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class CallEvent(_Base):
    """One call event from the cloud PBX."""

    event: str = Field(min_length=1, max_length=64)
    call_id: IdStr
    timestamp: Instant
    direction: Direction
    caller: str = Field(alias="from", min_length=1, max_length=64)
    callee: str = Field(alias="to", min_length=1, max_length=64)
    caller_name: str | None = Field(default=None, max_length=200)
    queue: str | None = Field(default=None, max_length=100)
    agent: str | None = Field(default=None, max_length=200)
    cause: str | None = Field(default=None, max_length=64)
    started_at: Instant | None = None
    duration: Count | None = None
    billsec: Count | None = None
    recording_url: Url | None = None
    note: str | None = Field(default=None, max_length=20_000)

    def call(self) -> Call:
        """The call as customer care sees it; the customer is the far end."""
        cause = cause_key(self.cause)
        far_end = self.caller if self.direction == "inbound" else self.callee
        waited = None
        if self.duration is not None:
            waited = max(self.duration - (self.billsec or 0), 0)
        return Call(
            call_id=self.call_id, direction=self.direction,
            customer=e164(far_end) if self.direction != "internal" else None,
            started_at=self.started_at or self.timestamp, missed=cause in MISSED_CAUSES,
            cause=cause, customer_name=self.caller_name if self.direction == "inbound"
            else None, queue=self.queue, agent=self.agent, waited_seconds=waited,
            talked_seconds=self.billsec, recording_url=self.recording_url, note=self.note,
        )


def in_progress(raw: Mapping[str, Any], _received_at: datetime) -> None:
    """``newCall``/``answer``: validated so a bad one is a 400, but a call is judged at its end."""
    validated(CallEvent, raw)


def hangup(raw: Mapping[str, Any], received_at: datetime) -> InboundEnvelope | None:
    """A finished call: a callback ticket if missed, a note ticket if noted, else nothing."""
    return call_envelope(validated(CallEvent, raw).call(), received_at=received_at,
                         raw=dict(raw))


def note(raw: Mapping[str, Any], received_at: datetime) -> InboundEnvelope | None:
    """The agent's note on a call that was answered."""
    event = validated(CallEvent, raw)
    call = event.call()
    if call.missed:  # a note on a missed call belongs to its callback ticket, already made
        return None
    return call_envelope(call, received_at=received_at, raw=dict(raw))


EVENTS: dict[str, Callable[[Mapping[str, Any], datetime], InboundEnvelope | None]] = {
    "newCall": in_progress,
    "answer": in_progress,
    "hangup": hangup,
    "note": note,
}
"""Cloud PBX ``event`` → envelope (or ``None``: no ticket for this one)."""


class _EventName(_Base):
    event: str = Field(min_length=1, max_length=64)


@dataclass(frozen=True, slots=True)
class HotlineConnector:
    """The cloud PBX's call events, signed with the shared hotline secret."""

    secret: str = field(repr=False)
    name: str = CHANNEL
    max_body_bytes: int = MAX_BODY_BYTES
    accepted_status: int = 200

    def verify(self, request: RawRequest) -> None:
        """``X-CSKH-Signature`` must carry the HMAC of the raw body under the secret."""
        require_signature(request, SIGNATURE_HEADER, hmac_sha256_hex(self.secret, request.body),
                          prefix=SIGNATURE_PREFIX)

    def parse(self, request: RawRequest) -> WebhookResult:
        """One call event: at most one envelope (see ``EVENTS``)."""
        data = json_object(request.body)
        name = validated(_EventName, data).event
        return dispatch(EVENTS, name, name, data, request.received_at)
