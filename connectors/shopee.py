"""Shopee Open Platform push channel: buyers chat with the company's Shopee shop.

* Signature: ``Authorization: <hex HMAC-SHA256(partner key, callback URL + "|" + raw body)>``.
  The URL is the one registered in the Shopee console, not the one this process sees behind a
  proxy, hence ``CSKH_SHOPEE_CALLBACK_URL``
  (https://open.shopee.com/developer-guide/13, "Verify push content").
* Every push is ``{"code": …, "shop_id": …, "timestamp": …, "data": {…}}``. Code 10
  (``webchat_push``) carries chat messages; the shop's own messages (sent from Seller Centre)
  come back too and are not tickets. Order-status and the other codes are recorded (logged),
  not tickets (https://open.shopee.com/push-mechanism/10).
* The dedup key is the chat ``message_id``. Shopee counts a push failed without a 2xx within
  a few seconds and turns pushes off for a partner whose success rate stays low.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import RawRequest, WebhookResult
from connectors.envelope import InboundEnvelope, Sender
from connectors.payloads import (
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

CHANNEL = "shopee"
SIGNATURE_HEADER = "Authorization"
MAX_BODY_BYTES = 256 * 1024

# Push codes (https://open.shopee.com/developer-guide/13 "Push list").
CODES = {1: "shop_authorization", 2: "shop_authorization_canceled", 3: "order_status",
         4: "order_tracking_number", 5: "shopee_updates", 6: "banned_item",
         7: "item_promotion", 8: "reserved_stock_change", 9: "promotion_update",
         10: "webchat", 11: "video_upload", 12: "open_api_authorization_expiry",
         13: "brand_register_result", 15: "shipping_document_status"}

LABELS = {"image": "[Hình ảnh]", "sticker": "[Nhãn dán]", "video": "[Video]",
          "item": "[Sản phẩm]", "order": "[Đơn hàng]", "voucher": "[Voucher]"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ShopeePush(_Model):
    """The envelope of every push."""

    code: int
    shop_id: IdStr | None = None
    timestamp: int = Field(ge=0)
    data: dict[str, Any] = Field(default_factory=dict)


class ShopeeChatContent(_Model):
    text: str | None = None
    url: Url | None = None
    item_id: IdStr | None = None
    order_sn: IdStr | None = None
    sticker_id: IdStr | None = None


class ShopeeChatMessage(_Model):
    message_id: IdStr
    conversation_id: IdStr
    from_id: IdStr
    from_user_name: str | None = None
    to_id: IdStr
    to_user_name: str | None = None
    message_type: str = Field(min_length=1)
    content: ShopeeChatContent = Field(default_factory=ShopeeChatContent)
    created_timestamp: UnixAny
    quoted_msg_id: IdStr | None = None


class ShopeeWebchat(_Model):
    type: str = Field(min_length=1)
    content: ShopeeChatMessage | None = None


class ShopeeWebchatPush(_Model):
    """Code 10."""

    code: int
    shop_id: IdStr
    timestamp: int = Field(ge=0)
    data: ShopeeWebchat


def _text(message: ShopeeChatMessage) -> str:
    c = message.content
    if message.message_type == "text" and c.text:
        return c.text
    label = LABELS.get(message.message_type, f"[{message.message_type}]")
    detail = c.text or c.item_id or c.order_sn
    return f"{label} {detail}" if detail else label


def webchat(raw: Mapping[str, Any], received_at: datetime) -> InboundEnvelope | None:
    """A buyer's chat message; the shop's own messages and chat notifications are ``None``."""
    push = validated(ShopeeWebchatPush, raw)
    message = push.data.content
    if push.data.type != "message" or message is None or message.from_id == push.shop_id:
        return None
    files = ((remote_attachment(message.content.url, message.message_type),)
             if message.content.url else ())
    return InboundEnvelope.create(
        channel=CHANNEL, external_id=message.message_id,
        thread_key=f"{push.shop_id}:{message.conversation_id}", received_at=received_at,
        # Shopee documents "Unix timestamp" without the unit and has sent both.
        sent_at=from_epoch_any(message.created_timestamp),
        sender=Sender(name=message.from_user_name, platform_user_id=message.from_id),
        text=_text(message), attachments=files, in_reply_to=message.quoted_msg_id,
        raw=dict(raw),
    )


def recorded(raw: Mapping[str, Any], _received_at: datetime) -> None:
    """Order status and the other pushes: logged by the web layer, not tickets."""
    validated(ShopeePush, raw)


EVENTS: dict[str, Callable[[Mapping[str, Any], datetime], InboundEnvelope | None]] = {
    name: (webchat if name == "webchat" else recorded) for name in CODES.values()
}
"""Push name (from ``CODES``) → envelope (or ``None``: recorded, not a customer message)."""


@dataclass(frozen=True, slots=True)
class ShopeeConnector:
    """The pushes of one Shopee partner app, for all its shops."""

    partner_key: str = field(repr=False)
    callback_url: str
    name: str = CHANNEL
    max_body_bytes: int = MAX_BODY_BYTES
    accepted_status: int = 200

    def verify(self, request: RawRequest) -> None:
        """``Authorization`` must be the HMAC of callback URL, ``|`` and the raw body."""
        expected = hmac_sha256_hex(self.partner_key, self.callback_url.encode(), b"|",
                                   request.body)
        require_signature(request, SIGNATURE_HEADER, expected)

    def parse(self, request: RawRequest) -> WebhookResult:
        """One push: a buyer's chat message becomes an envelope; other codes none."""
        data = json_object(request.body)
        code = validated(ShopeePush, data).code
        return dispatch(EVENTS, CODES.get(code), f"code:{code}", data, request.received_at)
