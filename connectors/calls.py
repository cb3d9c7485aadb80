"""What a phone call means for customer care, whichever PBX reported it.

The cloud PBX webhook (``connectors.hotline``) and the on-prem Asterisk CDR tailer
(``connectors.asterisk``) both describe a finished call as a ``Call`` and turn it into an
envelope here, so both read the same in the inbox:

* an inbound call nobody answered (no answer, busy, caller gave up in the queue) becomes a
  *callback* ticket;
* an answered call becomes a ticket only when the agent wrote a note, carrying the note;
* anything else (answered without a note, our own outbound calls) is no ticket.

Every envelope of a caller is threaded by the caller's E.164 number, so repeated calls while
a ticket is open join it, and the normalizer finds the customer by that phone. The channel is
``hotline`` for both sources. A callback's subject starts with "Gọi lại:"; the envelope has no
priority field, so raising callbacks to high priority is the normalizer's to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import phonenumbers

from connectors.envelope import InboundEnvelope, Sender
from connectors.payloads import remote_attachment

CHANNEL = "hotline"
VIETNAM = timezone(timedelta(hours=7), "ICT")  # Asia/Ho_Chi_Minh has had no DST since 1975

# Hang-up causes, normalised to lower_snake_case, that mean "the customer did not get us".
MISSED_CAUSES: dict[str, str] = {
    "no_answer": "không ai nghe máy",
    "noanswer": "không ai nghe máy",
    "busy": "máy bận",
    "abandoned": "khách gác máy khi đang chờ trong hàng đợi",
    "cancel": "khách gác máy trước khi được nghe",
    "caller_cancel": "khách gác máy trước khi được nghe",
    "failed": "không kết nối được",
    "congestion": "nghẽn mạch",
    "timeout": "hết thời gian chờ",
    "voicemail": "khách để lại lời nhắn thoại",
}

Direction = Literal["inbound", "outbound", "internal"]


def cause_key(cause: str | None) -> str:
    """``"NO ANSWER"``, ``"no-answer"``, ``"NoAnswer "`` → ``"no_answer"``-style keys."""
    if not cause:
        return ""
    return "_".join(cause.strip().lower().replace("-", " ").split())


def display_number(e164: str) -> str:
    """The number as Vietnamese staff write it (``0912 345 678``)."""
    parsed = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


@dataclass(frozen=True, slots=True)
class Call:
    """A finished call as customer care sees it."""

    call_id: str
    direction: Direction
    customer: str | None  # E.164; None for withheld numbers and internal calls
    started_at: datetime
    missed: bool
    cause: str = ""
    customer_name: str | None = None
    queue: str | None = None
    agent: str | None = None
    waited_seconds: int | None = None
    talked_seconds: int | None = None
    recording_url: str | None = None
    note: str | None = None


def _when(call: Call) -> str:
    return call.started_at.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")


def callback_text(call: Call, number: str) -> str:
    """The ticket text of a missed call."""
    reason = MISSED_CAUSES.get(call.cause, "không ai nghe máy")
    parts = [f"Cuộc gọi nhỡ từ {number} lúc {_when(call)}: {reason}."]
    if call.queue:
        parts.append(f"Hàng đợi: {call.queue}.")
    if call.waited_seconds:
        parts.append(f"Khách đã chờ {call.waited_seconds} giây.")
    parts.append("Cần gọi lại cho khách.")
    return " ".join(parts)


def call_envelope(call: Call, *, received_at: datetime,
                  raw: dict[str, Any]) -> InboundEnvelope | None:
    """The envelope ``call`` makes (see the module docstring), or ``None``."""
    note = (call.note or "").strip()
    hints: dict[str, Any] = {}
    if call.missed and call.direction == "inbound" and call.customer:
        hints = {"category_hint": "other", "priority_floor": "high"}
        number = display_number(call.customer)
        subject = f"Gọi lại: cuộc gọi nhỡ từ {number}"
        text = callback_text(call, number)
    elif not call.missed and note and call.direction != "internal":
        number = display_number(call.customer) if call.customer else "số ẩn"
        way = "đến từ" if call.direction == "inbound" else "đi tới"
        who = f", tổng đài viên {call.agent}" if call.agent else ""
        subject = f"Cuộc gọi {way} {number} lúc {_when(call)}{who}"
        text = note
    else:
        return None
    files = ((remote_attachment(call.recording_url, "audio"),) if call.recording_url else ())
    return InboundEnvelope.create(
        channel=CHANNEL, external_id=call.call_id,
        thread_key=call.customer or f"call:{call.call_id}", received_at=received_at,
        sent_at=call.started_at,
        sender=Sender(name=call.customer_name, phone=call.customer), subject=subject,
        text=text, attachments=files, raw=raw, **hints,
    )
