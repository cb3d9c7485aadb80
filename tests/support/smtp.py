"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the tests of mail we send."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.service import free_port


class Mailroom:
    """An aiosmtpd handler: keeps what it accepts, refuses ``refused`` recipients (550)."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.refused: set[str] = set()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on a fixed port of 127.0.0.1 that can go away and come back."""

    def __init__(self) -> None:
        self.room = Mailroom()
        self.port = free_port()
        self._running: Controller | None = None

    def start(self) -> None:
        self._running = Controller(self.room, hostname="127.0.0.1", port=self.port)
        self._running.start()

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
            self._running = None
