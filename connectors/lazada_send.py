"""Replies on Lazada: the Lazada Open Platform IM ``/im/message/send`` API, as the seller.

* ``POST {api}/im/message/send`` with the system parameters ``app_key``, ``timestamp`` (Unix
  milliseconds), ``sign_method=sha256``, ``access_token`` and the API's ``session_id``,
  ``template_id`` (1: text) and ``txt``, form-encoded
  (https://open.lazada.com/apps/doc/api?path=%2Fim%2Fmessage%2Fsend). ``sign`` is the
  uppercase hex HMAC-SHA256, under the app secret, of the API path followed by every other
  parameter as ``key + value``, sorted by key (https://open.lazada.com/apps/doc/doc,
  "Signature algorithm").
* The thread key of a Lazada ticket is ``{seller id}:{session id}`` (``connectors.lazada``).
* The answer is ``{"code": "0", "data": {"message_id", …}, "request_id"}``; any other
  ``code`` is a failure with ``type`` (ISV: our request, ISP: theirs, SYSTEM) and ``message``.
  ``ApiCallLimit``/``AppCallLimit``/``SellerCallLimit`` (throttling), ``ServiceTimeout``,
  ``ISP``/``SYSTEM`` errors and 5xx are retried; ``IllegalAccessToken`` (token invalid or
  expired) and everything else is a refusal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from connectors.lazada import CHANNEL
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

API_URL = "https://api.lazada.vn/rest"
PATH = "/im/message/send"
TEXT_LIMIT = 1000  # conservative: what the Seller Center chat box takes
THROTTLED = frozenset({"ApiCallLimit", "AppCallLimit", "SellerCallLimit", "ServiceTimeout"})
TOKEN_ERRORS = frozenset({"IllegalAccessToken", "MissingAccessToken"})


def lazada_sign(app_secret: str, path: str, params: Mapping[str, str]) -> str:
    """The ``sign`` of a Lazada Open Platform request: ``path`` then the sorted parameters."""
    text = path + "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign")
    return hmac_sha256_hex(app_secret, text.encode()).upper()


@dataclass(frozen=True, slots=True)
class LazadaSender:
    """Sends text replies into the buyer's IM session. Neither the app secret nor the token
    appears in ``repr``, logs or error text."""

    app_key: str
    app_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    api_url: str = API_URL
    timeout: float = 30.0
    now: Callable[[], float] = field(default=time.time, repr=False)
    channel: str = CHANNEL

    @property
    def window(self) -> ChatWindow:
        """Sellers answer the sessions buyers started."""
        return ChatWindow(customer_first=True)

    @staticmethod
    def session(thread_key: str) -> str:
        """The IM session id of a Lazada thread key; ``SendRefused`` for anything else."""
        seller, sep, session_id = thread_key.partition(":")
        if not sep or not seller or not session_id:
            raise SendRefused(f"not a Lazada conversation (seller:session): {thread_key!r}",
                              NO_ADDRESS)
        return session_id

    def parts(self, thread_key: str, text: str) -> list[str]:
        """The reply as messages of at most ``TEXT_LIMIT`` characters."""
        self.session(thread_key)
        return split_text(text, TEXT_LIMIT)

    async def send(self, thread_key: str, text: str, *, tagged: bool = False,
                   last_message: Mapping[str, object] | None = None) -> str:
        """POST one text message to the session; its ``message_id``."""
        params = {"app_key": self.app_key, "timestamp": str(int(self.now() * 1000)),
                  "sign_method": "sha256", "access_token": self.access_token,
                  "session_id": self.session(thread_key), "template_id": "1", "txt": text}
        params["sign"] = lazada_sign(self.app_secret, PATH, params)
        status, raw = await call_provider(
            "POST", self.api_url.rstrip("/") + PATH, data=params, secrets=(self.access_token,),
            provider="Lazada", seconds=self.timeout)
        return answer(status, raw)


def answer(status: int, raw: bytes) -> str:
    """The ``message_id`` of an IM send answer, or the error it stands for."""
    data = json_answer(raw)
    code = str(data.get("code", ""))
    message_id = as_mapping(data.get("data")).get("message_id")
    if status == 200 and code == "0" and message_id:
        return str(message_id)
    if not code:
        said = f"Lazada HTTP {status}: {raw[:200].decode('utf-8', 'replace')}"
        if status >= 500 or status == 429:
            raise SendUnavailable(said)
        raise SendRefused(said)
    said = (f"Lazada error {code} ({data.get('type', '?')}): {data.get('message', '')}"
            + (f" [request_id {data['request_id']}]" if data.get("request_id") else ""))
    if code in THROTTLED or data.get("type") in ("ISP", "SYSTEM") or status >= 500:
        raise SendUnavailable(said)
    raise SendRefused(said, TOKEN_INVALID if code in TOKEN_ERRORS else REFUSED)


AUTH_URL = "https://auth.lazada.com/rest"
AUTH_PATH = "/auth/token/refresh"


@dataclass(frozen=True, slots=True)
class LazadaRefresh:
    """Refreshes a seller's access token: ``POST {auth}/auth/token/refresh`` with
    ``refresh_token`` and the signed system parameters
    (https://open.lazada.com/apps/doc/api?path=%2Fauth%2Ftoken%2Frefresh). The answer carries
    ``access_token``, ``expires_in`` (seconds) and a ``refresh_token``, kept instead of the one
    used; ``IllegalRefreshToken`` and other codes are refusals."""

    app_key: str
    app_secret: str = field(repr=False)
    auth_url: str = AUTH_URL
    timeout: float = 30.0
    now: Callable[[], float] = field(default=time.time, repr=False)

    async def __call__(self, refresh_token: str, account: str = "") -> FreshToken:
        """A new token (``account``: unused, the refresh token names the seller)."""
        params = {"app_key": self.app_key, "timestamp": str(int(self.now() * 1000)),
                  "sign_method": "sha256", "refresh_token": refresh_token}
        params["sign"] = lazada_sign(self.app_secret, AUTH_PATH, params)
        status, raw = await call_provider(
            "POST", self.auth_url.rstrip("/") + AUTH_PATH, data=params,
            secrets=(refresh_token,), provider="Lazada auth", seconds=self.timeout)
        data = json_answer(raw)
        access, rotated = data.get("access_token"), data.get("refresh_token")
        code = str(data.get("code", ""))
        if status == 200 and code == "0" and isinstance(access, str) and access:
            return FreshToken(access, rotated if isinstance(rotated, str) and rotated else None,
                              float(str(data.get("expires_in") or 604800)))
        said = f"Lazada refresh error {code or status}: {data.get('message', '')}"
        if status >= 500 or status == 429 or code in THROTTLED or \
                data.get("type") in ("ISP", "SYSTEM"):
            raise SendUnavailable(said)
        raise SendRefused(said, TOKEN_INVALID)
