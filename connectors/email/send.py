"""Replies by e-mail: compose an RFC 5322 message and hand it to an SMTP server (aiosmtplib).

``compose_reply`` builds the message from plain values (the router's outbound event is mapped
onto them by ``ingest.senders``): our own Message-ID, In-Reply-To/References of the customer's
mail and a subject carrying the ticket tag, so the customer's answer threads back to the ticket.
Non-ASCII display names and subjects are RFC 2047-encoded, the body is UTF-8 (NFC).

``SmtpTransport.send`` raises ``SendUnavailable`` (a ``ConnectionError``: the server is away
or answered 4xx; try again later) or ``SendRefused`` (5xx: this message will never go; it
belongs in the dead-letter topic).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Literal

import aiosmtplib

from connectors.envelope import nfc
from connectors.sending import NO_ADDRESS, RECIPIENT_UNAVAILABLE, SendRefused, SendUnavailable

__all__ = ["SendRefused", "SendUnavailable", "SmtpTransport", "compose_reply", "set_subject"]

TlsMode = Literal["starttls", "tls", "none"]


def _address(value: str) -> Address:
    """``Name <user@host>`` or ``user@host`` as an ``Address``; ``SendRefused`` if it is none."""
    (name, addr), *rest = getaddresses([value]) or [("", "")]
    if rest or "@" not in addr or any(c in addr for c in "\r\n "):
        raise SendRefused(f"not one e-mail address: {value!r}", NO_ADDRESS)
    user, _, domain = addr.rpartition("@")
    return Address(display_name=nfc(name), username=user, domain=domain)


def set_subject(message: EmailMessage, subject: str) -> None:
    """Set ``Subject`` so that it reads back exactly, however long and whatever its script.

    The stdlib's folder (``email.policy.default``) breaks a long non-ASCII subject between
    encoded words at a space and then drops that space (RFC 2047 §6.2 makes whitespace between
    encoded words invisible): "mức độ hài lòng" came back "mức độhài lòng". ``email.header``
    keeps the spaces inside the encoded words, each at most 75 characters (RFC 2047 §2).
    """
    text = nfc(subject).replace("\r", " ").replace("\n", " ")
    if text.isascii():
        message["Subject"] = text
        return
    message.set_raw("Subject", Header(text, "utf-8", maxlinelen=76,
                                      header_name="Subject").encode(linesep="\r\n"))


def compose_reply(*, sender: str, to: str, subject: str, text: str, message_id: str,
                  in_reply_to: str | None, references: str | None, date: datetime,
                  ticket_number: str) -> EmailMessage:
    """The reply as a message ready for SMTP; ``SendRefused`` for an unusable address."""
    message = EmailMessage()
    message["From"] = _address(sender)
    message["To"] = _address(to)
    set_subject(message, subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    message["X-CSKH-Ticket"] = ticket_number
    message.set_content(nfc(text).rstrip("\n") + "\n", charset="utf-8")
    return message


@dataclass(frozen=True, slots=True)
class SmtpTransport:
    """Where replies are submitted. The password never appears in ``repr``."""

    host: str
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsMode = "starttls"
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    timeout: float = 30.0

    async def send(self, message: EmailMessage) -> None:
        """Submit ``message`` to its ``To`` recipient; see the module docstring for errors."""
        try:
            await aiosmtplib.send(
                message, hostname=self.host, port=self.port, username=self.user or None,
                password=self.password or None, use_tls=self.tls == "tls",
                start_tls=self.tls == "starttls",
                tls_context=self.ssl_context, timeout=self.timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            said = "; ".join(f"{e.code} {e.message}" for e in exc.recipients) or str(exc)
            if exc.recipients and all(400 <= e.code < 500 for e in exc.recipients):
                raise SendUnavailable(f"recipient deferred: SMTP {said}") from exc
            raise SendRefused(f"recipient refused: SMTP {said}", RECIPIENT_UNAVAILABLE) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise SendUnavailable(f"SMTP {exc.code}: {exc.message}") from exc
            raise SendRefused(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendUnavailable(f"{self.host}:{self.port}: {type(exc).__name__}: {exc}") \
                from exc
