"""Lazada push channel: buyers chat with the company's Lazada store (Lazada IM).

* Signature: ``Authorization: <hex HMAC-SHA256(app secret, app key + raw body)>``
  ("Lazada Push Mechanism", https://open.lazada.com/apps/doc/doc?docId=120168, step 2).
* Every push is ``{"seller_id": …, "message_type": …, "data": {…}, "timestamp": …}``.
  ``message_type`` 2 is an IM message whose ``data.content`` is itself a JSON *string*
  (``"{\\"txt\\":\\"…\\"}"``); ``from_account_type`` 1 is the buyer, 2 the seller; ``type`` 2
  and ``auto_reply`` are system and automatic messages; ``status`` 1 is a recalled message
  (https://open.lazada.com/apps/doc/doc?docId=121553). Only the buyer's own messages are
  tickets; order and the other pushes are recorded.
* The dedup key is ``data.message_id``. Lazada counts a push failed unless it is answered
  2xx within 500 ms, then retries 12 times, 30 minutes apart.
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

CHANNEL = "lazada"
SIGNATURE_HEADER = "Authorization"
MAX_BODY_BYTES = 256 * 1024
BUYER, SELLER = 1, 2
USER_SENT = 1

# message_type values (the push list of the Lazada Open Platform console).
MESSAGE_TYPES = {0: "trade_order", 2: "im_message", 3: "product_quality_control",
                 8: "authorization_expiry", 10: "reverse_order", 12: "category_tree",
                 19: "im_session_update", 35: "purchase_order"}

# IM template_id → what a card without text says in the ticket.
TEMPLATES = {1: "", 3: "[Hình ảnh]", 4: "[Nhãn dán]", 6: "[Video]", 10006: "[Sản phẩm]",
             10007: "[Đơn hàng]", 10008: "[Voucher]"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LazadaPush(_Model):
    """The envelope of every push."""

    message_type: int
    seller_id: IdStr | None = None
    timestamp: int | None = Field(default=None, ge=0)
    site: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class LazadaContent(_Model):
    txt: str | None = None
    imgUrl: Url | None = None  # Lazada spells these in camelCase
    videoUrl: Url | None = None
    itemId: IdStr | None = None
    orderId: IdStr | None = None
    title: str | None = None


class LazadaImMessage(_Model):
    session_id: IdStr
    message_id: IdStr
    content: Annotated[LazadaContent, EMBEDDED_JSON]
    from_account_id: IdStr
    from_account_type: int
    to_account_id: IdStr | None = None
    send_time: UnixAny
    template_id: int = 1
    type: int = USER_SENT
    auto_reply: bool = False
    status: int = 0


class LazadaImPush(_Model):
    message_type: int
    seller_id: IdStr
    data: LazadaImMessage


def _text(message: LazadaImMessage) -> str:
    c = message.content
    if c.txt:
        return c.txt
    label = TEMPLATES.get(message.template_id) or f"[template {message.template_id}]"
    detail = c.title or c.itemId or c.orderId
    return f"{label} {detail}" if detail else label


def im_message(raw: Mapping[str, Any], received_at: datetime) -> InboundEnvelope | None:
    """A buyer's IM message; seller, system, automatic and recalled messages are ``None``."""
    push = validated(LazadaImPush, raw)
    m = push.data
    if (m.from_account_type != BUYER or m.type != USER_SENT or m.auto_reply
            or m.status != 0):
        return None
    url = m.content.imgUrl or m.content.videoUrl
    files = (remote_attachment(url, "image" if m.content.imgUrl else "video"),) if url else ()
    return InboundEnvelope.create(
        channel=CHANNEL, external_id=m.message_id,
        thread_key=f"{push.seller_id}:{m.session_id}", received_at=received_at,
        sent_at=from_epoch_any(m.send_time),
        sender=Sender(platform_user_id=m.from_account_id), text=_text(m), attachments=files,
        raw=dict(raw),
    )


def recorded(raw: Mapping[str, Any], _received_at: datetime) -> None:
    """Order, product and session pushes: logged by the web layer, not tickets."""
    validated(LazadaPush, raw)


EVENTS: dict[str, Callable[[Mapping[str, Any], datetime], InboundEnvelope | None]] = {
    name: (im_message if name == "im_message" else recorded) for name in MESSAGE_TYPES.values()
}
"""Push name (from ``MESSAGE_TYPES``) → envelope (or ``None``: not a buyer's message)."""


@dataclass(frozen=True, slots=True)
class LazadaConnector:
    """The pushes of one Lazada app, for all sellers who authorised it."""

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
        """One push: a buyer's IM message becomes an envelope; anything else none."""
        data = json_object(request.body)
        message_type = validated(LazadaPush, data).message_type
        return dispatch(EVENTS, MESSAGE_TYPES.get(message_type), f"message_type:{message_type}",
                        data, request.received_at)
