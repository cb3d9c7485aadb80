"""Header fields of a mail, decoded defensively.

``email.policy.default`` already decodes RFC 2047 words; when it cannot (an unknown charset,
raw 8-bit bytes, a header so broken that its parser raises) we fall back to the raw value:
encoded words are decoded by ``email.header.decode_header`` and each chunk through
``charsets.decode_text``. Control characters (a CR/LF smuggled into a display name inside an
encoded word) become spaces, so a decoded value is always one clean line.
"""

from __future__ import annotations

import email.header
import email.utils
import hashlib
import re
from datetime import UTC, datetime
from email.message import EmailMessage

from connectors.email.charsets import decode_text
from connectors.envelope import nfc

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# Raw ISO-2022-JP in a header (old Japanese mailers write it unencoded): a run from a
# designation of a multi-byte set to the return to ASCII. Its bytes hold specials ("(", "<",
# ",") that would break an address list, and it must be decoded like an encoded word.
_ISO2022_RUN = re.compile(r"\x1b[$][@AB(][^\x1b]*(?:\x1b[$][@AB(][^\x1b]*)*\x1b\([BJ]")
_HIDDEN = re.compile(_ENCODED_WORD.pattern + "|" + _ISO2022_RUN.pattern)
MAX_ID = 500


def one_line(value: str) -> str:
    """``value`` without control characters, on one line, NFC, trimmed."""
    return nfc(_SPACES.sub(" ", _CONTROL.sub(" ", value)).strip())


def _raw(msg: EmailMessage, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def decode_words(raw: str) -> str:
    """Decode RFC 2047 words and 8-bit bytes in a raw header value; never raises."""
    unfolded = re.sub(r"\r?\n[ \t]", " ", raw)
    try:
        chunks = email.header.decode_header(unfolded)
    except (ValueError, LookupError, AssertionError):  # malformed encoded words
        chunks = [(unfolded, None)]
    out: list[str] = []
    for chunk, charset in chunks:
        data = chunk.encode("ascii", "surrogateescape") if isinstance(chunk, str) else chunk
        out.append(decode_text(data, charset)[0])
    return "".join(out)


def text_header(msg: EmailMessage, name: str) -> str | None:
    """The decoded value of header ``name`` (first occurrence), or ``None`` when absent."""
    raw = _raw(msg, name)
    if raw is None:
        return None
    try:
        value = str(msg[name])
    except Exception:  # the policy's parser gave up on this header
        value = ""
    if not value or any("\udc80" <= ch <= "\udcff" for ch in value) or "\ufffd" in value or (
            "\x1b" in value):
        value = decode_words(raw)
    return one_line(value)


def addresses(msg: EmailMessage, name: str) -> list[tuple[str, str]]:
    """``(display name, address)`` pairs of an address header; address lower-cased."""
    found: list[tuple[str, str]] = []
    for raw in (value for key, value in msg.raw_items() if key.lower() == name.lower()):
        unfolded = re.sub(r"\r?\n[ \t]", " ", str(raw))
        # Encoded words (and raw ISO-2022 runs) may hide specials (":", ",", "<") that would
        # split the address list: parse with each one replaced by a placeholder atom, then put
        # them back. The placeholder is one the value does not contain, so nothing a sender
        # writes can pose as one.
        words: list[str] = []
        tag = "cskhencodedword"
        while tag in unfolded.lower():
            tag += "q"
        placeholder = re.compile(re.escape(tag) + r"(\d+)x")

        def hide(match: re.Match[str], words: list[str] = words, tag: str = tag) -> str:
            words.append(match.group(0))
            return f"{tag}{len(words) - 1}x"

        def show(match: re.Match[str], words: list[str] = words) -> str:
            index = int(match.group(1))
            return words[index] if index < len(words) else match.group(0)

        hidden = _HIDDEN.sub(hide, unfolded)
        try:
            pairs = email.utils.getaddresses([hidden])
        except (ValueError, TypeError, IndexError):
            pairs = []
        for display, address in pairs:
            # An encoded word in the local part (``=?utf-8?Q?agent?=@example.com``) is not
            # allowed by RFC 2047 §5, but mailers write it and readers decode it: so do we.
            address = placeholder.sub(show, address)
            address = one_line(decode_words(address)).strip("<>").lower()
            if not _ADDRESS.match(address):
                continue
            shown = placeholder.sub(show, display)
            found.append((one_line(decode_words(shown)).strip('"').strip(), address))
    return found


def normalize_id(value: str | None) -> str | None:
    """A Message-ID without angle brackets or spaces; ``None`` when there is nothing usable."""
    if not value:
        return None
    match = _MSG_ID.search(value)
    ident = match.group(1) if match else one_line(value).strip("<> ").split(" ")[0]
    if not ident:
        return None
    if len(ident) > MAX_ID:
        return "sha256:" + hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()
    return ident


def id_list(value: str | None) -> list[str]:
    """The message ids in a References header, in order, without duplicates."""
    if not value:
        return []
    found = _MSG_ID.findall(value) or one_line(value).split()
    out: list[str] = []
    for item in found:
        ident = normalize_id(f"<{item.strip('<>')}>")
        if ident and ident not in out:
            out.append(ident)
    return out


def digest_id(raw: bytes) -> str:
    """The stand-in Message-ID of a mail that has none: stable for the same bytes."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def sent_date(msg: EmailMessage) -> datetime | None:
    """The ``Date`` header as a tz-aware datetime (``-0000``: UTC), or ``None``."""
    raw = _raw(msg, "Date")
    if not raw:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(one_line(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def classify(msg: EmailMessage) -> tuple[bool, bool, bool, str | None]:
    """``(auto_reply, bulk, bounce, reason)`` from the headers and the top-level type.

    Auto-reply: ``Auto-Submitted`` other than ``no`` (RFC 3834), ``X-Autoreply``,
    ``X-Autorespond``, ``X-Auto-Response-Suppress`` (Exchange), ``Precedence: auto_reply``.
    Bulk: ``Precedence: bulk|junk`` (``list`` alone is a mailing list, still a person).
    Bounce: ``multipart/report; report-type=delivery-status`` (RFC 3464).
    """
    reasons: list[str] = []
    auto = bulk = bounce = False
    submitted = (text_header(msg, "Auto-Submitted") or "").lower()
    if submitted and not submitted.startswith("no"):
        auto = True
        reasons.append(f"auto-submitted: {submitted}")
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        if _raw(msg, name) is not None:
            auto = True
            reasons.append(name.lower())
    precedence = (text_header(msg, "Precedence") or "").lower()
    if precedence == "auto_reply":
        auto = True
        reasons.append("precedence: auto_reply")
    elif precedence in ("bulk", "junk"):
        bulk = True
        reasons.append(f"precedence: {precedence}")
    if (msg.get_content_type() == "multipart/report"
            and str(msg.get_param("report-type", "")).lower() == "delivery-status"):
        bounce = True
        reasons.append("delivery-status report")
    return auto, bulk, bounce, "; ".join(reasons) or None
