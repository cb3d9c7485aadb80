"""Facebook Messenger channel: the company's Page receives customers' messages.

* ``GET /webhooks/facebook``: the subscription handshake; we echo ``hub.challenge`` when
  ``hub.verify_token`` is ours
  (https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests).
* ``POST``: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``. Meta signs
  the body exactly as sent, with non-ASCII characters escaped as ``\\uXXXX``; recomputing over
  re-encoded JSON never matches, so only the raw bytes are hashed
  (https://developers.facebook.com/docs/messenger-platform/webhooks#validate-payloads).
* One POST may batch several ``entry[].messaging[]`` events, of several pages; each message
  is one envelope. The dedup key is ``message.mid``: ``seq`` is not unique and was removed
  (https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages).
* Echoes (``is_echo``) are our own Page's replies; delivery, read and reaction events are
  receipts. None of them is a customer message.
* Meta expects 200 within 20 s or retries, and disables a webhook that keeps failing
  (https://developers.facebook.com/docs/messenger-platform/webhooks#webhook-performance-requirements).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import PayloadError, RawRequest, VerificationFailed, WebhookResult
from connectors.envelope import Attachment, InboundEnvelope, Sender
from connectors.payloads import (
    IdStr,
    UnixMillis,
    Url,
    from_epoch,
    ignored,
    json_object,
    remote_attachment,
    require_signature,
    unknown,
    validated,
)
from connectors.signing import hmac_sha256_hex, secret_matches

CHANNEL = "facebook"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
MAX_BODY_BYTES = 1024 * 1024  # a batch can hold up to 1000 messaging events

# What a message that carries only a file says in the ticket, per attachment type.
LABELS = {"image": "[Hình ảnh]", "video": "[Video]", "audio": "[Tin nhắn thoại]",
          "file": "[Tệp đính kèm]", "sticker": "[Nhãn dán]", "location": "[Vị trí]",
          "fallback": "[Liên kết]", "template": "[Mẫu tin]"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FbUser(_Model):
    id: IdStr


class FbCoordinates(_Model):
    lat: float
    long: float


class FbAttachmentPayload(_Model):
    url: Url | None = None
    title: str | None = None
    sticker_id: IdStr | None = None
    coordinates: FbCoordinates | None = None


class FbAttachment(_Model):
    type: str = Field(min_length=1)
    payload: FbAttachmentPayload | None = None
    title: str | None = None
    url: Url | None = None


class FbReplyTo(_Model):
    mid: IdStr


class FbMessage(_Model):
    mid: IdStr
    text: str | None = None
    attachments: list[FbAttachment] = Field(default_factory=list)
    is_echo: bool = False
    reply_to: FbReplyTo | None = None


class FbPostback(_Model):
    mid: IdStr | None = None
    title: str | None = None
    payload: str | None = None


class FbMessaging(_Model):
    """One ``messaging[]`` event; which kind it is depends on which key it carries."""

    model_config = ConfigDict(extra="allow", frozen=True)

    sender: FbUser
    recipient: FbUser
    timestamp: UnixMillis
    message: FbMessage | None = None
    postback: FbPostback | None = None

    def kind(self) -> str:
        """``message``, ``message_echo``, ``postback``, or the event key (``delivery``, …)."""
        if self.message is not None:
            return "message_echo" if self.message.is_echo else "message"
        if self.postback is not None:
            return "postback"
        extra = sorted(self.model_extra or {})
        return extra[0] if extra else "unknown"


class FbEntry(_Model):
    id: IdStr
    time: int = Field(ge=0)
    messaging: list[FbMessaging] = Field(default_factory=list)


class FbWebhook(_Model):
    object: str = Field(min_length=1)
    entry: list[FbEntry]


@dataclass(frozen=True, slots=True)
class FbEvent:
    """One messaging event with the page it came to and its original JSON."""

    page_id: str
    item: FbMessaging
    raw: Mapping[str, Any]
    received_at: datetime


def _thread(event: FbEvent) -> tuple[str, Sender]:
    psid = event.item.sender.id
    return f"{event.page_id}:{psid}", Sender(platform_user_id=psid)


def _raw(event: FbEvent) -> dict[str, Any]:
    # A one-event webhook body: replaying it alone gives the same envelope.
    return {"object": "page", "entry": [{"id": event.page_id, "messaging": [dict(event.raw)]}]}


def _files(message: FbMessage) -> tuple[tuple[Attachment, ...], list[str]]:
    files: list[Attachment] = []
    labels: list[str] = []
    for att in message.attachments:
        payload = att.payload or FbAttachmentPayload()
        kind = "sticker" if payload.sticker_id else att.type  # stickers come as images
        label = LABELS.get(kind, f"[{kind}]")
        if att.type == "location" and payload.coordinates:
            c = payload.coordinates
            label = f"[Vị trí: {c.lat}, {c.long}]"
        elif att.type == "fallback":
            label = " ".join(p for p in ("[Liên kết]", att.title or payload.title,
                                         att.url or payload.url) if p)
        elif payload.url:
            files.append(remote_attachment(payload.url, kind))
        labels.append(label)
    return tuple(files), labels


def message_envelope(event: FbEvent) -> InboundEnvelope:
    """A customer's message (text, files, or both) as one envelope keyed by its ``mid``."""
    message = event.item.message
    assert message is not None
    thread_key, sender = _thread(event)
    attachments, labels = _files(message)
    text = message.text if message.text else " ".join(labels)
    return InboundEnvelope.create(
        channel=CHANNEL, external_id=message.mid, thread_key=thread_key,
        received_at=event.received_at, sent_at=from_epoch(event.item.timestamp, ms=True),
        sender=sender, text=text, attachments=attachments,
        in_reply_to=message.reply_to.mid if message.reply_to else None, raw=_raw(event),
    )


def postback_envelope(event: FbEvent) -> InboundEnvelope:
    """A button the customer tapped: its title is what they "said"."""
    postback = event.item.postback
    assert postback is not None
    thread_key, sender = _thread(event)
    # Postbacks carry a mid since 2020; older ones are keyed by who and when.
    external_id = postback.mid or f"postback:{thread_key}:{event.item.timestamp}"
    return InboundEnvelope.create(
        channel=CHANNEL, external_id=external_id, thread_key=thread_key,
        received_at=event.received_at, sent_at=from_epoch(event.item.timestamp, ms=True),
        sender=sender, text=postback.title or postback.payload or "[Nút bấm]", raw=_raw(event),
    )


def _none(_event: FbEvent) -> None:
    return None


EVENTS: dict[str, Callable[[FbEvent], InboundEnvelope | None]] = {
    "message": message_envelope,
    "postback": postback_envelope,
    "message_echo": _none,  # our own Page's reply
    "delivery": _none,
    "read": _none,
    "reaction": _none,
    "optin": _none,
    "referral": _none,
    "standby": _none,
}
"""Messaging event kind → envelope (or ``None``: known, not a customer message)."""


@dataclass(frozen=True, slots=True)
class FacebookConnector:
    """The Messenger channel of one Meta app (any number of its pages)."""

    app_secret: str = field(repr=False)
    verify_token: str | None = field(default=None, repr=False)
    name: str = CHANNEL
    max_body_bytes: int = MAX_BODY_BYTES
    accepted_status: int = 200

    def challenge(self, request: RawRequest) -> str:
        """``hub.challenge`` when the handshake names our verify token; 403 otherwise."""
        mode = request.query.get("hub.mode")
        challenge = request.query.get("hub.challenge")
        if mode != "subscribe" or not challenge:
            raise PayloadError("expected hub.mode=subscribe and a hub.challenge")
        if not self.verify_token or not secret_matches(self.verify_token,
                                                       request.query.get("hub.verify_token")):
            raise VerificationFailed("hub.verify_token does not match")
        return challenge

    def verify(self, request: RawRequest) -> None:
        """The body's HMAC under the app secret must be in ``X-Hub-Signature-256``."""
        require_signature(request, SIGNATURE_HEADER, hmac_sha256_hex(self.app_secret,
                                                                      request.body),
                          prefix=SIGNATURE_PREFIX)

    def parse(self, request: RawRequest) -> WebhookResult:
        """Every customer message or postback of the batch, in order, as envelopes."""
        data = json_object(request.body)
        hook = validated(FbWebhook, data)
        if hook.object != "page":
            return unknown(f"object:{hook.object}")
        envelopes: list[InboundEnvelope] = []
        kinds: list[str] = []
        for entry, raw_entry in zip(hook.entry, data["entry"], strict=True):
            for item, raw_item in zip(entry.messaging, raw_entry.get("messaging", []),
                                      strict=True):
                kind = item.kind()
                kinds.append(kind)
                handler = EVENTS.get(kind)
                made = handler(FbEvent(entry.id, item, raw_item, request.received_at)) \
                    if handler else None
                if made is not None:
                    envelopes.append(made)
        event_type = ",".join(sorted(set(kinds))) or "empty"
        if envelopes:
            return WebhookResult(envelopes=tuple(envelopes), event_type=event_type)
        if kinds and all(k not in EVENTS for k in kinds):
            return unknown(event_type)
        return ignored(event_type)
