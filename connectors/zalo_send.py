"""Replies on Zalo OA: the consultation message ("tin tư vấn") API of the Official Account.

* ``POST {api}/v3.0/oa/message/cs`` with the OA access token in an ``access_token`` header
  (not ``Authorization``) and ``{"recipient": {"user_id": …}, "message": {"text": …}}``
  (https://developers.zalo.me/docs/official-account/tin-nhan/tin-tu-van/gui-tin-tu-van).
  The thread key of a follower's ticket is ``{oa id}:{user id}`` (``connectors.zalo``).
* Text is at most 2000 characters; a longer reply is sent as several messages, in order.
* Zalo answers HTTP 200 whatever happened; ``error`` in the JSON body says what: 0 is success
  (``data.message_id``), otherwise ``message`` explains
  (https://developers.zalo.me/docs/official-account/phu-luc/ma-loi). -32 (the app or the OA
  reached its call rate limit) is retried, as are HTTP 5xx and 429; everything else is a
  refusal, e.g. -216/-220 (access token invalid or expired: refresh
  ``CSKH_ZALO_OA_ACCESS_TOKEN``, then ``cskh dlq replay``), -230 (the user has not interacted
  with the OA for 7 days: a consultation message is no longer allowed), -213 (not a
  follower), -227 (account banned or inactive), -201 (invalid parameter).
* Consultation messages may go up to 7 days after the user's last interaction (-230 past it;
  the first 8 within 48 hours are free, later ones count against the OA's quota:
  https://zalooa.freshdesk.com/support/solutions/articles/64000261136): ``window`` says so and
  the senders check it before sending ("the customer must write first").
* Anonymous visitors (thread ``{oa}:anon:{conversation}``) are answered through another API
  that needs the visitor's ``anonymous_id`` too; such replies are refused with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from connectors.sending import (
    INVALID,
    NO_ADDRESS,
    RECIPIENT_UNAVAILABLE,
    REFUSED,
    TOKEN_INVALID,
    WINDOW_CLOSED,
    ChatWindow,
    SendRefused,
    SendUnavailable,
    as_mapping,
    json_answer,
    post_json,
    split_text,
)
from connectors.zalo import CHANNEL

API_URL = "https://openapi.zalo.me"
PATH = "/v3.0/oa/message/cs"
TEXT_LIMIT = 2000
RATE_LIMITED = frozenset({-32})
INTERACTION_WINDOW = timedelta(days=7)
CODES = {-230: WINDOW_CLOSED, -216: TOKEN_INVALID, -220: TOKEN_INVALID, -213:
         RECIPIENT_UNAVAILABLE, -227: RECIPIENT_UNAVAILABLE, -201: INVALID, -210: INVALID}


@dataclass(frozen=True, slots=True)
class ZaloOaSender:
    """Sends consultation replies as the OA. The token never appears in ``repr``, logs or
    error text."""

    access_token: str = field(repr=False)
    api_url: str = API_URL
    timeout: float = 30.0
    channel: str = CHANNEL

    @property
    def window(self) -> ChatWindow:
        """7 days after the user's last interaction."""
        return ChatWindow(INTERACTION_WINDOW)

    @staticmethod
    def recipient(thread_key: str) -> str:
        """The follower's user id of a Zalo thread key; ``SendRefused`` for anything else."""
        oa_id, sep, user_id = thread_key.partition(":")
        if sep and user_id.startswith("anon:"):
            raise SendRefused(f"Zalo visitor conversation {thread_key!r}: replies to anonymous "
                              "visitors are not sent by this service", NO_ADDRESS)
        if not sep or not oa_id.isdigit() or not user_id.isdigit():
            raise SendRefused(f"not a Zalo OA conversation (oa:user): {thread_key!r}",
                              NO_ADDRESS)
        return user_id

    def parts(self, thread_key: str, text: str) -> list[str]:
        """The reply as messages of at most 2000 characters, after checking the recipient."""
        self.recipient(thread_key)
        return split_text(text, TEXT_LIMIT)

    async def send(self, thread_key: str, text: str, *, tagged: bool = False,
                   last_message: Mapping[str, object] | None = None) -> str:
        """POST one consultation message; its ``message_id``. Errors: module docstring.
        (Zalo has no tag: ``tagged`` is never asked for by ``window``.)"""
        body = {"recipient": {"user_id": self.recipient(thread_key)}, "message": {"text": text}}
        status, raw = await post_json(self.api_url.rstrip("/") + PATH, body,
                                      headers={"access_token": self.access_token},
                                      secret=self.access_token, provider="Zalo",
                                      seconds=self.timeout)
        return answer(status, raw)


def answer(status: int, raw: bytes) -> str:
    """The ``message_id`` of a consultation-message answer, or the error it stands for."""
    data = json_answer(raw)
    said_http = f"Zalo HTTP {status}: {raw[:200].decode('utf-8', 'replace')}"
    if status >= 500 or status == 429:
        raise SendUnavailable(said_http)
    error = data.get("error")
    if status != 200 or not isinstance(error, int):
        raise SendRefused(said_http)
    if error == 0:
        message_id = as_mapping(data.get("data")).get("message_id")
        return str(message_id or "")
    said = f"Zalo error {error}: {data.get('message', '')}"
    if error in RATE_LIMITED:
        raise SendUnavailable(said)
    raise SendRefused(said, CODES.get(error, REFUSED))
