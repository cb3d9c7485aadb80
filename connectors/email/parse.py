"""One raw RFC 5322 message → ``ParsedEmail``: every field an envelope needs, read defensively.

``parse_email`` reads with the standard library (``email.policy.default``) and never raises
for a bad mail: what cannot be read is recorded in ``defects`` and the rest is kept. Where the
standard library gives up on a header block that other readers still read, it is repaired the
way they read it: a stray unindented line among the header fields (or before them) is set
aside (named in ``defects``) and the header fields after it are kept; input with no header at
all but readable text is a mail of that text, with no sender. ``parse_email`` returns
``None`` only for input in which nothing can be read (binary bytes, nothing at all), so that
the caller dead-letters the raw bytes, whole, instead of inventing a message.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

from connectors.email import headers as h
from connectors.email.auth import sender_auth
from connectors.email.body import Body, read_body
from connectors.email.quoting import split_reply
from connectors.envelope import Attachment

_KNOWN = {"from", "to", "cc", "subject", "date", "message-id", "received", "mime-version",
          "content-type", "return-path", "in-reply-to", "references", "reply-to", "sender"}
_BOUNDARY_LINE = re.compile(rb"^--([^\s]{1,200}?)(--)?\s*$", re.MULTILINE)
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]{1,76})[ \t]*:")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
MAX_HEADER_BLOCK = 256 * 1024
DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
_SENDER_FIELDS = ("From", "Sender", "Reply-To", "Return-Path")
MAX_CLOCK_SKEW = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """What a mail says, decoded (text NFC); ``defects`` lists what had to be repaired."""

    message_id: str
    message_id_generated: bool
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str | None
    from_name: str | None
    from_address: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: str | None
    date: datetime
    date_from_header: bool
    received_at: datetime
    text: str
    new_text: str
    quoted_text: str
    signature: str
    html: str | None
    attachments: tuple[Attachment, ...]
    oversize_attachments: tuple[str, ...]
    inline_images: tuple[str, ...]
    forwarded: tuple[dict[str, str | None], ...]
    auto_reply: bool
    bulk: bool
    bounce: bool
    auto_reason: str | None
    bounce_report: dict[str, str] = field(default_factory=dict)
    charsets: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()
    size: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=lambda: {"verdict": "unchecked"})

    @property
    def thread_root(self) -> str:
        """The first message of the thread as far as this mail knows it."""
        return self.references[0] if self.references else self.in_reply_to or self.message_id


def _repair_boundary(raw: bytes, msg: EmailMessage) -> EmailMessage | None:
    """Re-read a multipart whose declared boundary never occurs, using the one that does."""
    declared = msg.get_boundary()
    body_at = raw.find(b"\r\n\r\n")
    body_at = raw.find(b"\n\n") if body_at < 0 else body_at
    if body_at < 0 or not declared:
        return None
    head, body = raw[:body_at], raw[body_at:]
    match = _BOUNDARY_LINE.search(body)
    if match is None or match.group(1).decode("ascii", "replace") == declared:
        return None
    fixed = head.replace(declared.encode("ascii", "surrogateescape"), match.group(1), 1)
    return _read(fixed + body)


class _ParsedHeaders(HeaderRegistry):
    """``policy.default``'s header factory, remembering its last results.

    The standard library parses a header field again (and builds a new class for it) on
    every read; ``Content-Type`` alone is read about eight times per part while the parser and
    ``read_body`` walk a mail, which made header parsing half of the puller's time. A parsed
    header is an immutable ``str``, and the same (name, value) always parses the same, so
    results can be shared, across mails and threads too; the cache is bounded.
    """

    @functools.lru_cache(maxsize=1024)  # noqa: B019 -- one instance, kept for the process
    def __call__(self, name: str, value: str) -> BaseHeader:
        header: BaseHeader = super().__call__(name, value)
        return header


_POLICY = email.policy.default.clone(header_factory=_ParsedHeaders())


def _read(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=_POLICY)
    assert isinstance(msg, EmailMessage)  # policy.default builds EmailMessage objects
    return msg


def _looks_like_mail(msg: Message) -> bool:
    names = {key.lower() for key in msg}
    return bool(names & _KNOWN)


def _repair_header_block(raw: bytes) -> tuple[bytes, list[str]] | None:
    """``raw`` with its stray header lines set aside, or ``None`` when there is nothing to
    repair.

    A line that is neither a field nor a folded continuation ends the header block for the
    standard library, and every field after it becomes body text. Other readers skip it. We
    skip such lines — one or several, the first line of the input included — only when a field
    we know comes after the last of them and the fields outnumber them, so a body that merely
    follows the headers without a blank line (text after the last known field) stays body.
    """
    raw = raw.lstrip(b"\r\n")  # blank lines before the first field
    end = _HEAD_END.search(raw, 0, MAX_HEADER_BLOCK)
    if end is None:
        return None
    lines = raw[:end.start()].splitlines()
    kept: list[bytes] = []
    stray: list[str] = []
    last_stray = last_known = -1
    for index, line in enumerate(lines):
        if (field := _FIELD.match(line)) or (line[:1] in (b" ", b"\t") and kept) or (
                index == 0 and line.startswith(b"From ")):
            kept.append(line)
            if field and field.group(1).decode("ascii").lower() in _KNOWN:
                last_known = index
            continue
        stray.append(line.decode("utf-8", "replace")[:200])
        last_stray = index
    if not stray or last_known < last_stray or len(kept) <= len(stray):
        return None
    defects = [f"stray line in the header block set aside: {line!r}" for line in stray]
    return b"\r\n".join(kept) + raw[end.start():], defects


def _text_only(raw: bytes) -> EmailMessage | None:
    """A mail of ``raw``'s text when it has no header at all, or ``None`` if it is not text."""
    sample = raw[:64 * 1024]
    controls = sum(1 for b in sample if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D))
    if b"\x00" in sample or controls * 100 > len(sample):
        return None
    msg = _read(b"\r\n" + raw.lstrip(b"\r\n"))
    return msg if msg.get_payload() else None


def _plausible(date: datetime, arrived: datetime) -> bool:
    """Whether a ``Date`` can be when a mail that arrived at ``arrived`` was sent: after 1970,
    and not more than a year of clock skew after its arrival (year 9999 overflows every
    window later computed from it)."""
    try:
        utc = date.astimezone(UTC)
    except (OverflowError, ValueError):
        return False
    return utc.year >= 1970 and utc <= arrived.astimezone(UTC) + MAX_CLOCK_SKEW


def _header_summary(msg: EmailMessage) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("Return-Path", "X-Mailer", "User-Agent", "Auto-Submitted", "Precedence",
                 "List-Id", "X-Autoreply", "X-Auto-Response-Suppress", "Content-Language",
                 "X-Original-To", "Delivered-To"):
        value = h.text_header(msg, name)
        if value:
            out[name.lower()] = value[:300]
    return out


def parse_email(raw: bytes, *, mailbox: str, received_at: datetime,
                arrived_at: datetime | None = None, authserv_id: str | None = None,
                attachment_dir: Path | None = None,
                max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES) -> ParsedEmail | None:
    """Everything readable in ``raw``; ``None`` only if nothing in it can be read as a mail.

    ``mailbox`` names where the mail was found (for the defects' context only); the bytes
    are never modified. Attachments are stored under ``attachment_dir`` when one is given.
    A mail without a usable ``Date`` (missing, unreadable, before 1970 or over a year after it
    arrived) is dated ``arrived_at`` (when the mail server received it: IMAP
    ``INTERNALDATE``), else ``received_at`` (when we read it). ``authserv_id`` names
    our receiving server's ``Authentication-Results`` (``connectors.email.auth``).
    """
    if not raw.strip():
        return None
    msg = _read(raw)
    repairs: list[str] = []
    if not _looks_like_mail(msg) or any(
            isinstance(d, email.errors.MissingHeaderBodySeparatorDefect) for d in msg.defects):
        fixed = _repair_header_block(raw)
        if fixed is not None:
            msg, repairs = _read(fixed[0]), fixed[1]
    if not _looks_like_mail(msg):
        text_only = _text_only(raw)
        if text_only is None:
            return None
        msg, repairs = text_only, ["no header fields: the whole input read as text"]
    defects = [type(d).__name__ for d in msg.defects] + repairs
    if msg.get_content_maintype() == "multipart" and not msg.is_multipart():
        repaired = _repair_boundary(raw, msg)
        if repaired is not None and repaired.is_multipart():
            msg = repaired
            defects.append("boundary repaired")
    body: Body = read_body(msg, attachment_dir=attachment_dir, max_bytes=max_attachment_bytes)
    defects.extend(body.defects)
    reply = split_reply(body.text)
    auto, bulk, bounce, reason = h.classify(msg)
    date = h.sent_date(msg)
    if date is not None and not _plausible(date, arrived_at or received_at):
        defects.append(f"date {date.isoformat()} impossible for a mail that arrived then")
        date = None
    if date is None:
        defects.append("date missing or invalid")
    message_id = h.normalize_id(h.text_header(msg, "Message-ID"))
    from_name, from_address = None, None
    reply_to = h.addresses(msg, "Reply-To")
    # No usable From: who else the mail names as its sender, most specific first (the agent
    # that sent it, where answers go, where bounces go).
    for name in _SENDER_FIELDS:
        senders = reply_to if name == "Reply-To" else h.addresses(msg, name)
        if senders:
            from_name, from_address = senders[0]
            if name != "From":
                defects.append(f"no usable From: sender taken from {name}")
            break
    if from_address is None and h.text_header(msg, "From"):
        from_name = from_name or h.text_header(msg, "From")
        defects.append("from address unreadable")
    return ParsedEmail(
        message_id=message_id or h.digest_id(raw),
        message_id_generated=message_id is None,
        in_reply_to=h.normalize_id(h.text_header(msg, "In-Reply-To")),
        references=tuple(h.id_list(h.text_header(msg, "References"))),
        subject=h.text_header(msg, "Subject"),
        from_name=from_name or None,
        from_address=from_address,
        to=tuple(a for _, a in h.addresses(msg, "To")),
        cc=tuple(a for _, a in h.addresses(msg, "Cc")),
        reply_to=reply_to[0][1] if reply_to else None,
        date=date or arrived_at or received_at,
        date_from_header=date is not None,
        received_at=received_at,
        text=body.text,
        new_text=reply.new_text,
        quoted_text=reply.quoted_text,
        signature=reply.signature,
        html=body.html,
        attachments=body.attachments,
        oversize_attachments=body.oversize,
        inline_images=body.inline_images,
        forwarded=body.forwarded,
        auto_reply=auto,
        bulk=bulk,
        bounce=bounce,
        auto_reason=reason,
        bounce_report=body.bounce_report,
        charsets=body.charsets,
        defects=tuple(dict.fromkeys(defects)),
        size=len(raw),
        headers=_header_summary(msg),
        auth=sender_auth(msg, from_address, authserv_id),
    )


