"""TikTok Shop channel: buyers message the company's TikTok Shop (Customer Service API).

* Signature: ``Authorization: <lowercase hex HMAC-SHA256(app secret, app key + raw body)>``,
  no ``Bearer``, no timestamp (so no replay protection: dedup does that). This is the TikTok
  *Shop* scheme, not the ``TikTok-Signature`` of TikTok for Developers
  (https://partner.tiktokshop.com/docv2, "Webhooks → Overview → Verify the webhook").
* Every notification is ``{"type": …, "tts_notification_id": …, "shop_id": …,
  "timestamp": …, "data": {…}}``. Type 14 (``NEW_MESSAGE``) is a customer-service message;
  its ``data.content`` is a JSON *string* and ``data.sender.role`` says who wrote it (only
  ``BUYER`` is a customer). Type 13 (``NEW_CONVERSATION``) opens a conversation without a
  message; order and the other types are recorded, not tickets.
* The dedup key is ``tts_notification_id``: TikTok delivers at least once and redelivers
  with the same id until it gets 200.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import RawRequest, WebhookResult
from connectors.envelope import InboundEnvelope, Sender
from connectors.payloads import (
    EMBEDDED_JSON,
    IdStr,
    UnixAny,
    Url,
    dispatch,
    from_epoch_any,
    json_object,
    remote_attachment,
    require_signature,
    validated,
)
from connectors.signing import hmac_sha256_hex

CHANNEL = "tiktok"
SIGNATURE_HEADER = "Authorization"
MAX_BODY_BYTES = 256 * 1024

TYPES = {1: "order_status_change", 2: "reverse_status_update", 3: "recipient_address_update",
         4: "package_update", 5: "product_status_change", 6: "seller_deauthorization",
         7: "upcoming_authorization_expiration", 11: "cancellation_status_change",
         12: "return_status_change", 13: "new_conversation", 14: "new_message",
         36: "invoice_status_change"}

LABELS = {"IMAGE": "[Hình ảnh]", "VIDEO": "[Video]", "EMOTICONS": "[Nhãn dán]",
          "PRODUCT_CARD": "[Sản phẩm]", "ORDER_CARD": "[Đơn hàng]",
          "COUPON_CARD": "[Voucher]", "LOGISTICS_CARD": "[Vận chuyển]"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TikTokNotification(_Model):
    """The envelope of every notification."""

    type: int
    tts_notification_id: IdStr
    shop_id: IdStr | None = None
    timestamp: int = Field(ge=0)
    data: dict[str, Any] = Field(default_factory=dict)


class TikTokContent(_Model):
    content: str | None = None
    url: Url | None = None
    product_id: IdStr | None = None
    order_id: IdStr | None = None


class TikTokSender(_Model):
    im_user_id: IdStr
    role: str = Field(min_length=1)


class TikTokMessage(_Model):
    conversation_id: IdStr
    message_id: IdStr
    type: str = Field(min_length=1)
    content: Annotated[TikTokContent, EMBEDDED_JSON]
    create_time: UnixAny
    sender: TikTokSender
    is_visible: bool = True


class TikTokMessageNotification(_Model):
    type: int
    tts_notification_id: IdStr
    shop_id: IdStr
    timestamp: int = Field(ge=0)
    data: TikTokMessage


def _text(message: TikTokMessage) -> str:
    c = message.content
    if c.content:
        return c.content
    label = LABELS.get(message.type, f"[{message.type.lower()}]")
    detail = c.product_id or c.order_id
    return f"{label} {detail}" if detail else label


def new_message(raw: Mapping[str, Any], received_at: datetime) -> InboundEnvelope | None:
    """A buyer's message; the shop's, agents', robots' and system messages are ``None``."""
    note = validated(TikTokMessageNotification, raw)
    m = note.data
    if m.sender.role.upper() != "BUYER" or not m.is_visible:
        return None
    files = ((remote_attachment(m.content.url, m.type.lower()),) if m.content.url else ())
    return InboundEnvelope.create(
        channel=CHANNEL, external_id=note.tts_notification_id,
        thread_key=f"{note.shop_id}:{m.conversation_id}", received_at=received_at,
        sent_at=from_epoch_any(m.create_time),
        sender=Sender(platform_user_id=m.sender.im_user_id), text=_text(m),
        attachments=files, raw=dict(raw),
    )


def recorded(raw: Mapping[str, Any], _received_at: datetime) -> None:
    """New conversations, orders, packages, …: logged by the web layer, not tickets."""
    validated(TikTokNotification, raw)


EVENTS: dict[str, Callable[[Mapping[str, Any], datetime], InboundEnvelope | None]] = {
    name: (new_message if name == "new_message" else recorded) for name in TYPES.values()
}
"""Notification name (from ``TYPES``) → envelope (or ``None``: not a buyer's message)."""


@dataclass(frozen=True, slots=True)
class TikTokConnector:
    """The notifications of one TikTok Shop app, for all shops that authorised it."""

    app_key: str
    app_secret: str = field(repr=False)
    name: str = CHANNEL
    max_body_bytes: int = MAX_BODY_BYTES
    accepted_status: int = 200

    def verify(self, request: RawRequest) -> None:
        """``Authorization`` must be the HMAC of app key and raw body under the app secret."""
        expected = hmac_sha256_hex(self.app_secret, self.app_key.encode(), request.body)
        require_signature(request, SIGNATURE_HEADER, expected)

    def parse(self, request: RawRequest) -> WebhookResult:
        """One notification: a buyer's message becomes an envelope; anything else none."""
        data = json_object(request.body)
        kind = validated(TikTokNotification, data).type
        return dispatch(EVENTS, TYPES.get(kind), f"type:{kind}", data, request.received_at)
