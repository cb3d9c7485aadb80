"""Zalo Official Account channel: customers message the company's OA in the Zalo app.

* Signature: ``X-ZEvent-Signature: mac=<hex SHA-256(app_id + raw body + timestamp + OA secret)>``
  — a plain SHA-256 with the secret inside the hashed text, not an HMAC, and ``timestamp`` is
  the one *inside* the body (https://developers.zalo.me/docs/official-account/webhook/tong-quan,
  "Xác thực sự kiện Webhook"). We locate ``app_id`` and ``timestamp`` in the raw bytes without
  parsing them, so a malformed body is still refused as unsigned (401) or as malformed (400)
  only after it proved who sent it.
* Events: ``user_send_text`` and the other ``user_send_*`` kinds, and ``anonymous_send_text``
  from visitors who chat without following (https://developers.zalo.me/docs/official-account/webhook/tin-nhan/su-kien-nguoi-dung-gui-tin-nhan).
  ``follow``/``unfollow`` carry a follower, not a message; ``user_received_message`` and
  ``user_seen_message`` are receipts; ``oa_send_*`` are our own replies. None is a ticket.
* The dedup key is ``message.msg_id``. Zalo retries unless it gets 200 within 2 s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import product
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import RawRequest, WebhookResult
from connectors.envelope import Attachment, InboundEnvelope, Sender
from connectors.payloads import (
    Count,
    IdStr,
    UnixMillis,
    Url,
    dispatch,
    from_epoch,
    json_object,
    remote_attachment,
    require_signature,
    validated,
)
from connectors.signing import sha256_hex

CHANNEL = "zalo"
SIGNATURE_HEADER = "X-ZEvent-Signature"
SIGNATURE_PREFIX = "mac="
MAX_BODY_BYTES = 256 * 1024

# Top-level values the signature covers, located in the raw bytes (see the module docstring).
_APP_ID = re.compile(rb'"app_id"\s*:\s*"?([0-9A-Za-z_\-]{1,64})"?')
_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"?([0-9]{1,20})"?')
_MAX_CANDIDATES = 4

LABELS = {"image": "[Hình ảnh]", "gif": "[Ảnh GIF]", "file": "[Tệp đính kèm]",
          "sticker": "[Nhãn dán]", "link": "[Liên kết]", "location": "[Vị trí]",
          "audio": "[Tin nhắn thoại]", "video": "[Video]"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ZaloUser(_Model):
    id: IdStr


class ZaloCoordinates(_Model):
    latitude: float
    longitude: float


class ZaloAttachmentPayload(_Model):
    url: Url | None = None
    name: str | None = None
    size: Count | None = None  # Zalo sends sizes and times as strings of digits
    title: str | None = None
    description: str | None = None
    coordinates: ZaloCoordinates | None = None


class ZaloAttachment(_Model):
    type: str = Field(min_length=1)
    payload: ZaloAttachmentPayload = Field(default_factory=ZaloAttachmentPayload)


class ZaloMessage(_Model):
    msg_id: IdStr
    text: str | None = None
    attachments: list[ZaloAttachment] = Field(default_factory=list)
    conversation_id: IdStr | None = None
    quote_msg_id: IdStr | None = None


class ZaloEvent(_Model):
    """What every Zalo webhook event has."""

    event_name: str = Field(min_length=1, max_length=100)
    app_id: IdStr | None = None
    timestamp: UnixMillis


class ZaloMessageEvent(ZaloEvent):
    """``user_send_*`` / ``anonymous_send_text``: a user (sender) wrote to the OA (recipient)."""

    sender: ZaloUser
    recipient: ZaloUser
    message: ZaloMessage
    user_id_by_app: IdStr | None = None


class ZaloFollowEvent(ZaloEvent):
    """``follow`` / ``unfollow``."""

    oa_id: IdStr
    follower: ZaloUser
    source: str | None = None


def _files(message: ZaloMessage) -> tuple[tuple[Attachment, ...], list[str]]:
    files: list[Attachment] = []
    labels: list[str] = []
    for att in message.attachments:
        p = att.payload
        label = LABELS.get(att.type, f"[{att.type}]")
        if att.type == "location" and p.coordinates:
            label = f"[Vị trí: {p.coordinates.latitude}, {p.coordinates.longitude}]"
        elif att.type == "link":
            label = f"[Liên kết: {p.title}]" if p.title else f"[Liên kết] {p.url or ''}".strip()
        elif p.url:
            files.append(remote_attachment(p.url, att.type, name=p.name, size=p.size))
            if att.type == "file" and p.name:
                label = f"[Tệp: {p.name}]"
        labels.append(label)
    return tuple(files), labels


def _envelope(event: ZaloMessageEvent, raw: Mapping[str, Any], received_at: datetime, *,
              thread_key: str) -> InboundEnvelope:
    message = event.message
    attachments, labels = _files(message)
    text = message.text if message.text else " ".join(labels)
    if message.text and event.event_name in ("user_send_link", "user_send_location"):
        text = " ".join([message.text, *labels])  # the caption, then what it points at
    return InboundEnvelope.create(
        channel=CHANNEL, external_id=message.msg_id, thread_key=thread_key,
        received_at=received_at, sent_at=from_epoch(event.timestamp, ms=True),
        sender=Sender(platform_user_id=event.sender.id), text=text, attachments=attachments,
        in_reply_to=message.quote_msg_id, raw=dict(raw),
    )


def user_message(raw: Mapping[str, Any], received_at: datetime) -> InboundEnvelope:
    """A follower's message: threaded by OA and user id."""
    event = validated(ZaloMessageEvent, raw)
    return _envelope(event, raw, received_at,
                     thread_key=f"{event.recipient.id}:{event.sender.id}")


def anonymous_message(raw: Mapping[str, Any], received_at: datetime) -> InboundEnvelope:
    """A visitor's message: the sender id is per conversation, so thread by conversation."""
    event = validated(ZaloMessageEvent, raw)
    conversation = event.message.conversation_id or event.sender.id
    return _envelope(event, raw, received_at,
                     thread_key=f"{event.recipient.id}:anon:{conversation}")


def follow_change(raw: Mapping[str, Any], received_at: datetime) -> InboundEnvelope:
    """A follow or unfollow: a contact event (the contact's Zalo status), never a ticket."""
    event = validated(ZaloFollowEvent, raw)
    status = "followed" if event.event_name == "follow" else "unfollowed"
    return InboundEnvelope.create(
        channel=CHANNEL, external_id=f"{event.event_name}:{event.follower.id}:{event.timestamp}",
        thread_key=f"{event.oa_id}:{event.follower.id}", received_at=received_at,
        sent_at=from_epoch(event.timestamp, ms=True),
        sender=Sender(platform_user_id=event.follower.id), raw=dict(raw), kind="contact",
        contact_status=status)


def receipt(raw: Mapping[str, Any], _received_at: datetime) -> None:
    """Delivery/seen receipts and our own OA's messages: validated, not tickets."""
    validated(ZaloEvent, raw)


EVENTS: dict[str, Callable[[Mapping[str, Any], datetime], InboundEnvelope | None]] = {
    "user_send_text": user_message,
    "user_send_image": user_message,
    "user_send_gif": user_message,
    "user_send_file": user_message,
    "user_send_link": user_message,
    "user_send_sticker": user_message,
    "user_send_location": user_message,
    "user_send_audio": user_message,
    "user_send_video": user_message,
    "anonymous_send_text": anonymous_message,
    "anonymous_send_image": anonymous_message,
    "anonymous_send_file": anonymous_message,
    "anonymous_send_sticker": anonymous_message,
    "follow": follow_change,
    "unfollow": follow_change,
    "user_received_message": receipt,
    "user_seen_message": receipt,
    "oa_send_text": receipt,
    "oa_send_image": receipt,
    "oa_send_file": receipt,
    "oa_send_list": receipt,
    "oa_send_sticker": receipt,
    "oa_send_gif": receipt,
}
"""Zalo ``event_name`` → envelope (or ``None``: known, not a customer message)."""


def _candidates(pattern: re.Pattern[bytes], body: bytes) -> list[bytes]:
    found: list[bytes] = []
    for match in pattern.finditer(body):
        if match.group(1) not in found:
            found.append(match.group(1))
        if len(found) == _MAX_CANDIDATES:
            break
    return found


@dataclass(frozen=True, slots=True)
class ZaloConnector:
    """One Official Account; ``app_id`` pins the Zalo app (else the body's is used)."""

    oa_secret: str = field(repr=False)
    app_id: str | None = None
    name: str = CHANNEL
    max_body_bytes: int = MAX_BODY_BYTES
    accepted_status: int = 200

    def _expected(self, body: bytes) -> Iterator[str]:
        app_ids = [self.app_id.encode()] if self.app_id else _candidates(_APP_ID, body)
        secret = self.oa_secret.encode()
        for app_id, timestamp in product(app_ids, _candidates(_TIMESTAMP, body)):
            yield sha256_hex(app_id, body, timestamp, secret)

    def verify(self, request: RawRequest) -> None:
        """``mac=`` SHA-256 of app id, raw body, body timestamp and OA secret must match."""
        require_signature(request, SIGNATURE_HEADER, list(self._expected(request.body)),
                          prefix=SIGNATURE_PREFIX)

    def parse(self, request: RawRequest) -> WebhookResult:
        """One Zalo event: a message becomes one envelope; other known events none."""
        data = json_object(request.body)
        event_name = validated(ZaloEvent, data).event_name
        return dispatch(EVENTS, event_name, event_name, data, request.received_at)
