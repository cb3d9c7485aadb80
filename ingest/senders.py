"""The ``senders`` role: staff replies on ``cskh.outbound`` go back on the customer's channel.

E-mail is sent through the configured SMTP server (``CSKH_SMTP_*``). Each reply is recorded in
the processed-event ledger right after the server accepted it, so a redelivered event is not
sent again. A crash between the
server's acceptance and the ledger row sends that one mail twice, with the same Message-ID
(mail clients show it once): at-least-once, like every effect that leaves our database.

* The server away or deferring (4xx) → ``SendUnavailable``, a transient error: the loop
  backs off and the same events come again.
* Refused for good (5xx), no address, or no e-mail headers → the event goes to ``cskh.dlq``
  with the reason (``cskh dlq ls``), never silently dropped.
* Replies on channels without a sender here yet (Facebook, Zalo, marketplaces, hotline) are
  logged as ``outbound.no_sender`` and left for the staff to send by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy import select

from connectors.email import CHANNEL as EMAIL
from connectors.email.send import SendRefused, SmtpTransport, compose_reply
from ingest.keys import Clock
from router.events import OutboundMessage
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import ProcessedEvent

log = structlog.get_logger(__name__)
SENDER_GROUP = "cskh-sender"
LEDGER = "sender:email"


class SendReplies:
    """Handler of ``cskh.outbound`` batches: send each e-mail reply once."""

    def __init__(self, sessions: SessionFactory, transport: SmtpTransport, sender: str,
                 clock: Clock) -> None:
        self._sessions = sessions
        self._transport = transport
        self._sender = sender
        self._clock = clock

    async def _sent(self, event_id: uuid.UUID) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(select(ProcessedEvent.event_id).where(
                ProcessedEvent.consumer == LEDGER, ProcessedEvent.event_id == event_id))
            return found is not None

    async def _record(self, event_id: uuid.UUID) -> None:
        async with self._sessions() as session, session.begin():
            if await session.get(ProcessedEvent, (LEDGER, event_id)) is None:
                session.add(ProcessedEvent(consumer=LEDGER, event_id=event_id,
                                           processed_at=self._clock()))

    async def _send(self, reply: OutboundMessage) -> None:
        mail = reply.email
        if mail is None:
            raise SendRefused("an e-mail reply without its e-mail headers")
        if not reply.to_email:
            raise SendRefused(f"ticket {reply.ticket_number}: the contact has no e-mail address")
        message = compose_reply(
            sender=self._sender, to=reply.to_email, subject=mail.subject, text=reply.text,
            message_id=mail.message_id, in_reply_to=mail.in_reply_to,
            references=mail.references, date=reply.created_at, ticket_number=reply.ticket_number)
        await self._transport.send(message)

    async def __call__(self, values: Sequence[bytes]) -> None:
        for value in values:
            reply = OutboundMessage.model_validate_json(value)
            if reply.channel != EMAIL:
                log.info(LogEvent.OUTBOUND_NO_SENDER, channel=reply.channel,
                         ticket=reply.ticket_number, message_id=reply.message_id)
                continue
            if await self._sent(reply.event_id):
                continue
            await self._send(reply)
            await self._record(reply.event_id)
            log.info(LogEvent.OUTBOUND_SENT, channel=EMAIL, ticket=reply.ticket_number,
                     message_id=reply.message_id)
