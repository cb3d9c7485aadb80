"""What every reply sender shares: the two ways a send fails, and cutting long text.

A sender raises ``SendUnavailable`` (a ``ConnectionError``: the provider is away, overloaded
or throttling us; the same send may succeed later) or ``SendRefused`` (a ``ValueError``: this
reply will never go as it is — the customer blocked us, the messaging window closed, the
token is wrong; it belongs in the dead-letter topic with the provider's code and message).
Codes a sender does not know are refusals: a reply in ``cskh.dlq`` can be replayed, while an
unknown permanent error taken for a transient one would hold every later reply back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from connectors.envelope import nfc


class SendUnavailable(ConnectionError):
    """The provider could not be reached, failed (5xx) or throttled us: retry later."""


# Why a reply failed, as a stable code (the desk shows each in Vietnamese: desk/delivery.py).
REFUSED = "refused"  # the provider said no, for a reason we do not know better
WINDOW_CLOSED = "window_closed"  # the channel's reply window is over: the customer must write
RECIPIENT_UNAVAILABLE = "recipient_unavailable"  # blocked us, left, banned, not a follower
TOKEN_INVALID = "token_invalid"  # noqa: S105 - a code: our access token is wrong or expired
NOT_ALLOWED = "not_allowed"  # a permission or policy of our account forbids it
NO_ADDRESS = "no_address"  # the ticket cannot be addressed on its channel
INVALID = "invalid"  # the reply itself is refused (empty, malformed)
NO_SENDER = "no_sender"  # no sender is configured for the channel


class SendRefused(ValueError):
    """The provider refused the reply for good, or it cannot be addressed at all.

    ``code`` is one of the codes above; the text is the reason as given (the provider's own
    code and message), never a secret.
    """

    def __init__(self, reason: str, code: str = REFUSED) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class FreshToken:
    """A provider's answer to a token refresh: the new access token, the refresh token to keep
    (the provider's rotated one; ``None``: keep the one used) and its lifetime in seconds."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: float | None


@dataclass(frozen=True, slots=True)
class ChatWindow:
    """How long after the customer's last message a business may still write to them.

    ``open_for`` ``None``: no limit. ``tagged_for``: a longer limit for messages sent with the
    provider's tag for human agents (Messenger's ``HUMAN_AGENT``), when the account has it.
    """

    open_for: timedelta | None = None
    tagged_for: timedelta | None = None
    customer_first: bool = False  # no time limit, but only on a thread the customer opened

    def tagged(self, since: timedelta | None) -> bool:
        """Whether a reply ``since`` after the customer's last message needs the tag.

        ``SendRefused`` (``WINDOW_CLOSED``) when it may not go at all; ``since`` ``None``
        (the customer never wrote on this thread) is closed for any windowed channel.
        """
        if self.open_for is None:
            if self.customer_first and since is None:
                raise SendRefused("the customer must write first: this channel answers only "
                                  "conversations the customer started", WINDOW_CLOSED)
            return False
        if since is not None and since <= self.open_for:
            return False
        if since is not None and self.tagged_for is not None and since <= self.tagged_for:
            return True
        limit = self.tagged_for or self.open_for
        raise SendRefused(f"the customer must write first: replies are allowed up to "
                          f"{_span(limit)} after the customer's last message"
                          + (f" ({_span(since)} ago)" if since is not None else
                             " (the customer has not written on this thread)"),
                          WINDOW_CLOSED)


def _span(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours / 24:.3g} days" if hours >= 48 else f"{hours:.3g} hours"


class ChatSender(Protocol):
    """A chat channel's sender: one text message to the customer of one conversation."""

    @property
    def channel(self) -> str:
        """The channel name (as in the inbound envelope) this sender answers on."""
        ...

    @property
    def window(self) -> ChatWindow:
        """When the provider lets a business write after the customer's last message."""
        ...

    def parts(self, thread_key: str, text: str) -> list[str]:
        """``text`` as the messages to send, in order, each within the provider's limit.

        ``SendRefused`` when the thread cannot be answered on this channel or the text is empty.
        """
        ...

    async def send(self, thread_key: str, text: str, *, tagged: bool = False,
                   last_message: Mapping[str, object] | None = None) -> str:
        """Send one message of ``parts`` to the conversation ``thread_key`` (``tagged``: with
        the human-agent tag of ``window``; ``last_message``: the provider's payload of the
        customer's latest message, for providers that address the buyer by its id); the
        provider's message id. Raises ``SendUnavailable`` or ``SendRefused``; never logs the
        token."""
        ...


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: what JavaScript-based APIs count (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


def split_text(text: str, limit: int) -> list[str]:
    """``text`` (NFC) cut into pieces of at most ``limit`` UTF-16 code units, in order.

    Cuts at the last paragraph, line, sentence or word break that fits; a word longer than
    ``limit`` is cut inside. Whitespace around a cut is dropped, nothing else is: joining
    the pieces with a space or a newline gives the text back. ``SendRefused`` for no text.
    """
    rest = nfc(text).strip()
    if not rest:
        raise SendRefused("an empty reply", INVALID)
    pieces: list[str] = []
    while utf16_len(rest) > limit:
        window = rest[:limit]
        while utf16_len(window) > limit:  # astral characters count two
            window = window[:-1]
        cut = len(window)
        if not rest[cut].isspace():  # the window ends inside a word: back to a break
            for mark in _BREAKS:
                at = window.rfind(mark)
                if at > 0:
                    cut = at + len(mark.rstrip(" "))
                    break
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        pieces.append(piece)
    pieces.append(rest)
    return pieces


def scrub(text: str, *secrets: str) -> str:
    """``text`` with every secret replaced by ``***`` (error text may quote a URL)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def as_mapping(value: object) -> Mapping[str, object]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


async def post_json(url: str, body: Mapping[str, object], *, secret: str, provider: str,
                    seconds: float, params: Mapping[str, str] | None = None,
                    headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """POST ``body`` as JSON; the answer's status and bytes, whatever the status (see
    ``call_provider``)."""
    return await call_provider("POST", url, secrets=(secret,), provider=provider,
                               seconds=seconds, params=params, json_body=body, headers=headers)


async def call_provider(method: str, url: str, *, secrets: tuple[str, ...], provider: str,
                        seconds: float, params: Mapping[str, str] | None = None,
                        data: bytes | Mapping[str, str] | None = None,
                        json_body: Mapping[str, object] | None = None,
                        headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """One request to a provider; the answer's status and bytes, whatever the status.

    ``SendUnavailable`` when no answer came (network, timeout), its reason naming the host and
    none of ``secrets`` (a token may travel in the URL or a header).
    """
    try:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=seconds)) as session, \
                session.request(method, url, params=params, data=data, json=json_body,
                                headers=headers) as resp:
            return resp.status, await resp.read()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        said = scrub(f"{type(exc).__name__}: {exc}", *secrets)
        raise SendUnavailable(f"{provider} {urlsplit(url).netloc}: {said}") from exc


def json_answer(raw: bytes) -> Mapping[str, object]:
    """A provider's answer as a JSON object; empty when it is not one (an HTML error page)."""
    try:
        return as_mapping(json.loads(raw))
    except ValueError:
        return {}
