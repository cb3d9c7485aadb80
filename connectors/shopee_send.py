"""Replies on Shopee: the Open Platform v2 seller chat ``send_message`` API, as the shop.

* ``POST {api}/api/v2/sellerchat/send_message?partner_id&timestamp&access_token&shop_id&sign``
  with ``{"to_id": <buyer user id>, "message_type": "text", "content": {"text": …}}``
  (https://open.shopee.com/documents/v2/v2.sellerchat.send_message?module=109&type=1).
  ``sign`` is the lowercase hex HMAC-SHA256, under the partner key, of partner_id + path +
  timestamp + access_token + shop_id (https://open.shopee.com/developer-guide, "Signature
  for shop APIs"); ``timestamp`` is Unix seconds and Shopee refuses one more than 5 minutes off.
* The thread key of a Shopee ticket is ``{shop id}:{conversation id}`` (``connectors.shopee``);
  the buyer is addressed by user id, the ``from_id`` of their latest chat push.
* The answer is ``{"request_id", "error", "message", "response": {"message_id", …}}``; a
  non-empty ``error`` is a failure: ``error_too_many_request`` (HTTP 429), ``error_server``
  and 5xx are retried; ``invalid_access_token``/``invalid_acceess_token`` (Shopee's spelling
  too) and ``error_auth`` mean the token (4 hours) must be refreshed; anything else, e.g.
  ``error_param``, ``error_permission``, a buyer who cannot be messaged, is a refusal.
* A text longer than ``TEXT_LIMIT`` goes as several messages, in order. Images and other
  kinds are not sent by this service (replies are text).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from connectors.sending import (
    NO_ADDRESS,
    REFUSED,
    TOKEN_INVALID,
    ChatWindow,
    FreshToken,
    SendRefused,
    SendUnavailable,
    as_mapping,
    json_answer,
    post_json,
    split_text,
)
from connectors.shopee import CHANNEL
from connectors.signing import hmac_sha256_hex

API_URL = "https://partner.shopeemobile.com"
PATH = "/api/v2/sellerchat/send_message"
TEXT_LIMIT = 1000  # conservative: what the Seller Centre chat box takes
TRANSIENT = frozenset({"error_too_many_request", "error_server", "error_busy",
                       "error_network"})
TOKEN_ERRORS = frozenset({"invalid_access_token", "invalid_acceess_token", "error_auth",
                          "error_token"})


def shop_sign(partner_key: str, partner_id: str, path: str, timestamp: int,
              access_token: str, shop_id: str) -> str:
    """The ``sign`` of a shop-level API call."""
    return hmac_sha256_hex(partner_key,
                           f"{partner_id}{path}{timestamp}{access_token}{shop_id}".encode())


@dataclass(frozen=True, slots=True)
class ShopeeSender:
    """Sends text replies as the shop of each conversation. Neither the partner key nor the
    token appears in ``repr``, logs or error text."""

    partner_id: str
    partner_key: str = field(repr=False)
    access_token: str = field(repr=False)
    api_url: str = API_URL
    timeout: float = 30.0
    now: Callable[[], float] = field(default=time.time, repr=False)
    channel: str = CHANNEL

    @property
    def window(self) -> ChatWindow:
        """Sellers answer the conversations buyers started."""
        return ChatWindow(customer_first=True)

    @staticmethod
    def shop(thread_key: str) -> str:
        """The shop id of a Shopee thread key; ``SendRefused`` for anything else."""
        shop_id, sep, conversation = thread_key.partition(":")
        if not sep or not shop_id.isdigit() or not conversation:
            raise SendRefused(f"not a Shopee conversation (shop:conversation): {thread_key!r}",
                              NO_ADDRESS)
        return shop_id

    def parts(self, thread_key: str, text: str) -> list[str]:
        """The reply as messages of at most ``TEXT_LIMIT`` characters."""
        self.shop(thread_key)
        return split_text(text, TEXT_LIMIT)

    async def send(self, thread_key: str, text: str, *, tagged: bool = False,
                   last_message: Mapping[str, object] | None = None) -> str:
        """POST one text message to the buyer of ``last_message``; its ``message_id``."""
        shop_id = self.shop(thread_key)
        buyer = as_mapping(as_mapping(as_mapping(last_message).get("data")).get("content")
                           ).get("from_id")
        if not isinstance(buyer, (int, str)) or not str(buyer).isdigit():
            raise SendRefused(f"Shopee conversation {thread_key!r}: no buyer id in the "
                              "customer's last message", NO_ADDRESS)
        stamp = int(self.now())
        params = {"partner_id": self.partner_id, "timestamp": str(stamp),
                  "access_token": self.access_token, "shop_id": shop_id,
                  "sign": shop_sign(self.partner_key, self.partner_id, PATH, stamp,
                                    self.access_token, shop_id)}
        body = {"to_id": int(buyer), "message_type": "text", "content": {"text": text}}
        status, raw = await post_json(self.api_url.rstrip("/") + PATH, body, params=params,
                                      secret=self.access_token, provider="Shopee",
                                      seconds=self.timeout)
        return answer(status, raw)


def answer(status: int, raw: bytes) -> str:
    """The ``message_id`` of a ``send_message`` answer, or the error it stands for."""
    data = json_answer(raw)
    error = data.get("error")
    message_id = as_mapping(data.get("response")).get("message_id")
    if status == 200 and not error and message_id:
        return str(message_id)
    if not isinstance(error, str) or not error:
        said = f"Shopee HTTP {status}: {raw[:200].decode('utf-8', 'replace')}"
        if status >= 500 or status == 429:
            raise SendUnavailable(said)
        raise SendRefused(said)
    said = (f"Shopee error {error}: {data.get('message', '')}"
            + (f" [request_id {data['request_id']}]" if data.get("request_id") else ""))
    if error in TRANSIENT or status >= 500:
        raise SendUnavailable(said)
    raise SendRefused(said, TOKEN_INVALID if error in TOKEN_ERRORS else REFUSED)


AUTH_PATH = "/api/v2/auth/access_token/get"


@dataclass(frozen=True, slots=True)
class ShopeeRefresh:
    """Refreshes a shop's access token (4 hours): ``POST {api}/api/v2/auth/access_token/get``
    with ``partner_id``, ``timestamp`` and ``sign`` = HMAC-SHA256(partner key, partner_id +
    path + timestamp) in the query and ``{"refresh_token", "partner_id", "shop_id"}``
    (https://open.shopee.com/documents/v2/v2.public.refresh_access_token). The answer carries
    a new ``refresh_token`` (30 days), kept instead of the one used, and ``expire_in``."""

    partner_id: str
    partner_key: str = field(repr=False)
    api_url: str = API_URL
    timeout: float = 30.0
    now: Callable[[], float] = field(default=time.time, repr=False)

    async def __call__(self, refresh_token: str, account: str) -> FreshToken:
        """A new token for the shop ``account``."""
        if not account.isdigit():
            raise SendRefused("a Shopee token belongs to a shop: store it with "
                              "`cskh channels auth shopee … --shop-id SHOP`", TOKEN_INVALID)
        stamp = int(self.now())
        base = f"{self.partner_id}{AUTH_PATH}{stamp}".encode()
        params = {"partner_id": self.partner_id, "timestamp": str(stamp),
                  "sign": hmac_sha256_hex(self.partner_key, base)}
        body = {"refresh_token": refresh_token, "partner_id": int(self.partner_id),
                "shop_id": int(account)}
        status, raw = await post_json(self.api_url.rstrip("/") + AUTH_PATH, body,
                                      params=params, secret=refresh_token,
                                      provider="Shopee", seconds=self.timeout)
        data = json_answer(raw)
        access, rotated = data.get("access_token"), data.get("refresh_token")
        error = data.get("error")
        if status == 200 and not error and isinstance(access, str) and access:
            return FreshToken(access, rotated if isinstance(rotated, str) and rotated else None,
                              float(str(data.get("expire_in") or 14400)))
        said = f"Shopee refresh error {error or status}: {data.get('message', '')}"
        if status >= 500 or status == 429 or error in TRANSIENT:
            raise SendUnavailable(said)
        raise SendRefused(said, TOKEN_INVALID)
