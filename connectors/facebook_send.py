"""Replies on Messenger: the Graph API Send API, as the Page the customer wrote to.

* ``POST {graph}/{PAGE-ID}/messages?access_token=<page access token>`` with
  ``{"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": …}}``;
  the answer is ``{"recipient_id": …, "message_id": …}``
  (https://developers.facebook.com/docs/messenger-platform/reference/send-api/). The thread
  key of a Messenger ticket is ``{page id}:{PSID}`` (``connectors.facebook``), so the reply
  goes to that Page's node: a token of another Page is refused by Meta, never sent as the
  wrong Page (the older ``/me/messages`` would send as whichever Page the token belongs to).
* ``message.text`` must be UTF-8 and at most 2000 characters; a longer reply is sent as
  several messages, in order. We count UTF-16 code units, which is never fewer than Meta's
  count.
* ``messaging_type: RESPONSE`` is allowed only within 24 hours of the customer's last message;
  past it Meta answers code 10, subcode 2018278 ("outside of allowed window"). A Page granted
  the Human Agent permission may answer up to 7 days after it with ``messaging_type:
  MESSAGE_TAG`` and ``tag: HUMAN_AGENT``
  (https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags/):
  ``window`` says which, and the senders check it before sending, so a late reply fails as
  "the customer must write first" without a call.
* Errors are ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``
  (https://developers.facebook.com/docs/graph-api/guides/error-handling,
  https://developers.facebook.com/docs/messenger-platform/error-codes). Throttling (4, 17, 32,
  613, 80006), service trouble (1, 2) and Messenger's "temporary send message failure" (1200)
  are worth retrying; so is anything Meta marks ``is_transient`` and any 5xx or 429 without
  an error body. Everything else — 551 (the person is not available, e.g. blocked the Page),
  10 (window closed), 100 (no matching user), 190 (bad token), 200–299 (permissions), 368
  (Page restricted for a policy violation: a person has to act) — is a refusal. Meta notes
  that code 2 can also mean the person blocked the business; it stays a retry because it
  usually is an outage, and backoff bounds the cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from connectors.facebook import CHANNEL
from connectors.sending import (
    NO_ADDRESS,
    NOT_ALLOWED,
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

GRAPH_URL = "https://graph.facebook.com/v21.0"
TEXT_LIMIT = 2000
THROTTLED = frozenset({4, 17, 32, 613, 80006})
TEMPORARY = frozenset({1, 2, 1200})
RESPONSE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class MessengerSender:
    """Sends text replies as the Page of each conversation. The token never appears in
    ``repr``, logs or error text."""

    page_token: str = field(repr=False)
    graph_url: str = GRAPH_URL
    timeout: float = 30.0
    channel: str = CHANNEL
    human_agent: bool = False  # the Page has the Human Agent permission

    @property
    def window(self) -> ChatWindow:
        """24 hours; 7 days with the ``HUMAN_AGENT`` tag when the Page has the permission."""
        return ChatWindow(RESPONSE_WINDOW, HUMAN_AGENT_WINDOW if self.human_agent else None)

    @staticmethod
    def recipient(thread_key: str) -> tuple[str, str]:
        """``(page id, PSID)`` of a Messenger thread key; ``SendRefused`` for anything else."""
        page_id, sep, psid = thread_key.partition(":")
        if not sep or not page_id.isdigit() or not psid.isdigit():
            raise SendRefused(f"not a Messenger conversation (page:PSID): {thread_key!r}",
                              NO_ADDRESS)
        return page_id, psid

    def parts(self, thread_key: str, text: str) -> list[str]:
        """The reply as messages of at most 2000 characters, after checking the recipient."""
        self.recipient(thread_key)
        return split_text(text, TEXT_LIMIT)

    async def send(self, thread_key: str, text: str, *, tagged: bool = False,
                   last_message: Mapping[str, object] | None = None) -> str:
        """POST one message (``tagged``: as ``HUMAN_AGENT``); its ``message_id``. See the
        module docstring for the errors."""
        page_id, psid = self.recipient(thread_key)
        url = f"{self.graph_url.rstrip('/')}/{page_id}/messages"
        body: dict[str, object] = {"recipient": {"id": psid}, "messaging_type": "RESPONSE",
                                   "message": {"text": text}}
        if tagged:
            body.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        status, raw = await post_json(url, body, params={"access_token": self.page_token},
                                      secret=self.page_token, provider="Messenger",
                                      seconds=self.timeout)
        return answer(status, raw)


def answer(status: int, raw: bytes) -> str:
    """The ``message_id`` of a Send API answer, or the error it stands for."""
    data = json_answer(raw)
    message_id = data.get("message_id")
    if status == 200 and isinstance(message_id, str) and message_id:
        return message_id
    error = as_mapping(data.get("error"))
    if not error:
        said = f"Messenger HTTP {status}: {raw[:200].decode('utf-8', 'replace')}"
        if status >= 500 or status == 429:
            raise SendUnavailable(said)
        raise SendRefused(said, TOKEN_INVALID if status == 401 else REFUSED)
    code = error.get("code")
    subcode = error.get("error_subcode")
    said = (f"Messenger error {code}" + (f"/{subcode}" if subcode else "")
            + f" ({error.get('type', '?')}): {error.get('message', '')}"
            + (f" [fbtrace_id {error['fbtrace_id']}]" if error.get("fbtrace_id") else ""))
    if code in THROTTLED or code in TEMPORARY or error.get("is_transient") is True:
        raise SendUnavailable(said)
    raise SendRefused(said, refusal_code(code, subcode))


def refusal_code(code: object, subcode: object) -> str:
    """Our code for a Graph API refusal (``connectors.sending``)."""
    if code == 10 or subcode == 2018278:
        return WINDOW_CLOSED
    if code in (551, 100) or subcode == 1545041:
        return RECIPIENT_UNAVAILABLE
    if code in (190, 102):
        return TOKEN_INVALID
    if isinstance(code, int) and (200 <= code <= 299 or code == 368):
        return NOT_ALLOWED
    return REFUSED
