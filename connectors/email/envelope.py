"""``ParsedEmail`` → ``InboundEnvelope`` (channel ``email``).

* ``external_id`` is the Message-ID (a digest of the raw bytes when the mail has none), so the
  same mail fetched twice — a UIDVALIDITY resync, a copy in two folders — is one envelope id.
* ``thread_key`` is the thread root: the first of ``References``, else ``In-Reply-To``, else
  the mail's own Message-ID; every reply in a thread lands in one partition, in order.
* ``text`` is the new text (the quoted reply and the signature left out); when a mail is
  only a quote, the whole text. ``raw`` stays small: a header summary, the quoted part and
  signature (capped), the flags — never the mail's bytes.
* Auto-replies, bulk mail and bounces are still envelopes, flagged in ``raw["auto"]`` and
  ``raw["bounce"]``: the normalizer records them but must not open tickets for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import nh3

from connectors.email import CHANNEL
from connectors.email.parse import ParsedEmail
from connectors.envelope import InboundEnvelope, Sender

MAX_RAW_TEXT = 8 * 1024
MAX_REFERENCES = 20


def _cap(text: str) -> str:
    return text if len(text) <= MAX_RAW_TEXT else text[:MAX_RAW_TEXT] + "…"


def _trimmed(references: list[str] | tuple[str, ...]) -> list[str]:
    """At most ``MAX_REFERENCES`` ids: the thread's root and the newest (the ones a reply is
    threaded by), the middle left out as RFC 5322 §3.6.4 allows."""
    if len(references) <= MAX_REFERENCES:
        return list(references)
    return [references[0], *references[-(MAX_REFERENCES - 1):]]


def auto_kind(parsed: ParsedEmail) -> str | None:
    """``bounce``, ``auto_reply``, ``bulk`` or ``None``: what kind of machine wrote this."""
    if parsed.bounce:
        return "bounce"
    if parsed.auto_reply:
        return "auto_reply"
    if parsed.bulk:
        return "bulk"
    return None


def email_raw(parsed: ParsedEmail, *, mailbox: str,
              source: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The audit record kept in ``InboundEnvelope.raw``: small, JSON-safe."""
    return {
        "mailbox": mailbox,
        "source": dict(source or {}),
        "headers": {
            "message_id": parsed.message_id,
            "message_id_generated": parsed.message_id_generated,
            "in_reply_to": parsed.in_reply_to,
            "references": _trimmed(parsed.references),
            "from": parsed.from_address, "from_name": parsed.from_name,
            "to": list(parsed.to), "cc": list(parsed.cc), "reply_to": parsed.reply_to,
            "subject": parsed.subject,
            "date": parsed.date.isoformat() if parsed.date_from_header else None,
            **parsed.headers,
        },
        "quoted_text": _cap(parsed.quoted_text),
        "signature": _cap(parsed.signature),
        "auth": dict(parsed.auth),
        "auto": auto_kind(parsed),
        "auto_reason": parsed.auto_reason,
        "bounce": dict(parsed.bounce_report) if parsed.bounce else None,
        "forwarded": [dict(f) for f in parsed.forwarded],
        "inline_images": list(parsed.inline_images),
        "oversize_attachments": list(parsed.oversize_attachments),
        "charsets": list(parsed.charsets),
        "defects": list(parsed.defects[:50]),
        "size": parsed.size,
    }


def email_envelope(parsed: ParsedEmail, *, mailbox: str,
                   source: Mapping[str, Any] | None = None,
                   queue_hint: str | None = None) -> InboundEnvelope:
    """The envelope of one parsed mail; ``source`` (e.g. IMAP folder and UID) goes to ``raw``,
    ``queue_hint`` (the mailbox's default queue) to the envelope."""
    return InboundEnvelope.create(
        channel=CHANNEL,
        external_id=parsed.message_id,
        thread_key=parsed.thread_root,
        received_at=parsed.received_at,
        sent_at=parsed.date,
        sender=Sender(name=parsed.from_name, email=parsed.from_address),
        subject=parsed.subject,
        text=parsed.new_text or parsed.text,
        html=nh3.clean(parsed.html) if parsed.html else None,  # scripts, handlers, styles out
        attachments=parsed.attachments,
        in_reply_to=parsed.in_reply_to,
        raw=email_raw(parsed, mailbox=mailbox, source=source),
        queue_hint=queue_hint,
    )
