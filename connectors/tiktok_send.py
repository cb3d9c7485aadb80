"""Replies on TikTok Shop: the Customer Service API "Send message", as the shop.

* ``POST {api}/customer_service/202309/conversations/{conversation id}/messages`` with the
  query ``app_key``, ``timestamp`` (Unix seconds), ``shop_cipher`` and ``sign``, the header
  ``x-tts-access-token`` and the body ``{"type": "TEXT", "content": "{\\"content\\": …}"}``
  (``content`` is a JSON *string*)
  (https://partner.tiktokshop.com/docv2, Customer Service API). ``sign`` is the
  lowercase hex HMAC-SHA256, under the app secret, of: app secret + path + every query
  parameter but ``sign`` and ``access_token`` as ``key + value`` sorted by key + the raw body
  + app secret (https://partner.tiktokshop.com/docv2, "Sign your API request").
* The thread key of a TikTok Shop ticket is ``{shop id}:{conversation id}``
  (``connectors.tiktok``); the shop cipher of the authorised shop is a setting.
* The answer is ``{"code": 0, "message", "request_id", "data": {"message_id"}}``; another
  ``code`` is a failure. HTTP 429 (throttling) and 5xx are retried; 105001/105002 (access
  token invalid/expired) and everything else is a refusal, e.g. a conversation the buyer
  closed.
"""

from __future__ import annotations

import json
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
    call_provider,
    json_answer,
    split_text,
)
from connectors.signing import hmac_sha256_hex
from connectors.tiktok import CHANNEL

API_URL = "https://open-api.tiktokglobalshop.com"
PATH = "/customer_service/202309/conversations/{conversation}/messages"
TEXT_LIMIT = 1000  # conservative: what the Seller Center chat box takes
TOKEN_ERRORS = frozenset({105001, 105002})


def tiktok_sign(app_secret: str, path: str, params: Mapping[str, str], body: bytes) -> str:
    """The ``sign`` of a TikTok Shop API request."""
    text = path + "".join(f"{k}{params[k]}" for k in sorted(params)
                          if k not in ("sign", "access_token"))
    return hmac_sha256_hex(app_secret, f"{app_secret}{text}".encode(), body,
                           app_secret.encode())


@dataclass(frozen=True, slots=True)
class TikTokSender:
    """Sends text replies into the buyer's conversation. Neither the app secret nor the
    token appears in ``repr``, logs or error text."""

    app_key: str
    app_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    shop_cipher: str
    api_url: str = API_URL
    timeout: float = 30.0
    now: Callable[[], float] = field(default=time.time, repr=False)
    channel: str = CHANNEL

    @property
    def window(self) -> ChatWindow:
        """Sellers answer the conversations buyers started."""
        return ChatWindow(customer_first=True)

    @staticmethod
    def conversation(thread_key: str) -> str:
        """The conversation id of a TikTok Shop thread key; ``SendRefused`` otherwise."""
        shop, sep, conversation = thread_key.partition(":")
        if not sep or not shop or not conversation or "/" in conversation:
            raise SendRefused(f"not a TikTok Shop conversation (shop:conversation): "
                              f"{thread_key!r}", NO_ADDRESS)
        return conversation

    def parts(self, thread_key: str, text: str) -> list[str]:
        """The reply as messages of at most ``TEXT_LIMIT`` characters."""
        self.conversation(thread_key)
        return split_text(text, TEXT_LIMIT)

    async def send(self, thread_key: str, text: str, *, tagged: bool = False,
                   last_message: Mapping[str, object] | None = None) -> str:
        """POST one text message to the conversation; its ``message_id``."""
        path = PATH.format(conversation=self.conversation(thread_key))
        body = json.dumps({"type": "TEXT", "content": json.dumps(
            {"content": text}, ensure_ascii=False)}, ensure_ascii=False).encode()
        params = {"app_key": self.app_key, "timestamp": str(int(self.now())),
                  "shop_cipher": self.shop_cipher}
        params["sign"] = tiktok_sign(self.app_secret, path, params, body)
        status, raw = await call_provider(
            "POST", self.api_url.rstrip("/") + path, params=params, data=body,
            headers={"x-tts-access-token": self.access_token, "Content-Type": "application/json"},
            secrets=(self.access_token,), provider="TikTok Shop", seconds=self.timeout)
        return answer(status, raw)


def answer(status: int, raw: bytes) -> str:
    """The ``message_id`` of a send-message answer, or the error it stands for."""
    data = json_answer(raw)
    code = data.get("code")
    message_id = as_mapping(data.get("data")).get("message_id")
    if status == 200 and code == 0 and message_id:
        return str(message_id)
    said = (f"TikTok Shop error {code}: {data.get('message', '')}"
            + (f" [request_id {data['request_id']}]" if data.get("request_id") else "")
            if isinstance(code, int) else
            f"TikTok Shop HTTP {status}: {raw[:200].decode('utf-8', 'replace')}")
    if status >= 500 or status == 429:
        raise SendUnavailable(said)
    raise SendRefused(said, TOKEN_INVALID if code in TOKEN_ERRORS else REFUSED)


AUTH_URL = "https://auth.tiktok-shops.com"
AUTH_PATH = "/api/v2/token/refresh"


@dataclass(frozen=True, slots=True)
class TikTokRefresh:
    """Refreshes a shop's access token: ``GET {auth}/api/v2/token/refresh?app_key&app_secret&
    refresh_token&grant_type=refresh_token`` (https://partner.tiktokshop.com/docv2, "Refresh
    access token"). ``data.access_token_expire_in`` is a Unix time (not a duration); the
    ``refresh_token`` answered is kept instead of the one used."""

    app_key: str
    app_secret: str = field(repr=False)
    auth_url: str = AUTH_URL
    timeout: float = 30.0
    now: Callable[[], float] = field(default=time.time, repr=False)

    async def __call__(self, refresh_token: str, account: str = "") -> FreshToken:
        """A new token (``account``: unused, the refresh token names the shop)."""
        params = {"app_key": self.app_key, "app_secret": self.app_secret,
                  "refresh_token": refresh_token, "grant_type": "refresh_token"}
        status, raw = await call_provider(
            "GET", self.auth_url.rstrip("/") + AUTH_PATH, params=params,
            secrets=(refresh_token, self.app_secret), provider="TikTok Shop auth",
            seconds=self.timeout)
        data = json_answer(raw)
        fresh = as_mapping(data.get("data"))
        access, rotated = fresh.get("access_token"), fresh.get("refresh_token")
        if status == 200 and data.get("code") == 0 and isinstance(access, str) and access:
            until = fresh.get("access_token_expire_in")
            seconds = float(until) - self.now() if isinstance(until, (int, float)) else None
            return FreshToken(access, rotated if isinstance(rotated, str) and rotated else None,
                              seconds)
        said = f"TikTok Shop refresh error {data.get('code', status)}: {data.get('message', '')}"
        if status >= 500 or status == 429:
            raise SendUnavailable(said)
        raise SendRefused(said, TOKEN_INVALID)
