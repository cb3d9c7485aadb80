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
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from connectors.envelope import nfc


class SendUnavailable(ConnectionError):
    """The provider could not be reached, failed (5xx) or throttled us: retry later."""


class SendRefused(ValueError):
    """The provider refused the reply for good, or it cannot be addressed at all."""


class ChatSender(Protocol):
    """A chat channel's sender: one text message to the customer of one conversation."""

    @property
    def channel(self) -> str:
        """The channel name (as in the inbound envelope) this sender answers on."""
        ...

    def parts(self, thread_key: str, text: str) -> list[str]:
        """``text`` as the messages to send, in order, each within the provider's limit.

        ``SendRefused`` when the thread cannot be answered on this channel or the text is empty.
        """
        ...

    async def send(self, thread_key: str, text: str) -> str:
        """Send one message of ``parts`` to the conversation ``thread_key``; the provider's
        message id. Raises ``SendUnavailable`` or ``SendRefused``; never logs the token."""
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
        raise SendRefused("an empty reply")
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
    """POST ``body`` as JSON; the answer's status and bytes, whatever the status.

    ``SendUnavailable`` when no answer came (network, timeout), its reason naming the host and
    never ``secret`` (a token may travel in the URL or a header).
    """
    try:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=seconds)) as session, \
                session.post(url, json=body, params=params, headers=headers) as resp:
            return resp.status, await resp.read()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        said = scrub(f"{type(exc).__name__}: {exc}", secret)
        raise SendUnavailable(f"{provider} {urlsplit(url).netloc}: {said}") from exc


def json_answer(raw: bytes) -> Mapping[str, object]:
    """A provider's answer as a JSON object; empty when it is not one (an HTML error page)."""
    try:
        return as_mapping(json.loads(raw))
    except ValueError:
        return {}
