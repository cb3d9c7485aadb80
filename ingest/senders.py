"""The ``senders`` role: staff replies on ``cskh.outbound`` go back on the customer's channel.

``reply_senders`` is the one registry of channels we answer on, built from the settings:
e-mail through the SMTP server (``CSKH_SMTP_*``), Messenger through the Graph API Send API
(``CSKH_FACEBOOK_PAGE_TOKEN``), Zalo through the OA consultation-message API
(``CSKH_ZALO_OA_ACCESS_TOKEN``). ``SendReplies`` hands each reply to its channel's sender.

Each message is recorded in the processed-event ledger (consumer ``sender:{channel}``) right
after the provider accepted it, so a redelivered event sends nothing again. A reply too long
for one chat message goes as several, each recorded on its own: a retry after the second of
three was throttled sends the last two, not all three. A crash between the provider's
acceptance and the ledger row sends that one message twice: at-least-once, like every effect
that leaves our database.

* The provider away, failing (5xx) or throttling → ``SendUnavailable``, a transient error: the
  loop backs off and the same events come again.
* Refused for good (a 5xx SMTP reply, a blocked Page, a closed messaging window, a bad token),
  or no address → the event goes to ``cskh.dlq`` with the provider's code and message
  (``cskh dlq ls``; ``cskh dlq replay`` once fixed), never silently dropped.
* Replies on channels without a sender (not configured, marketplaces, hotline) are logged as
  ``outbound.no_sender`` and left for the staff to send by hand.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import structlog

from connectors.email import CHANNEL as EMAIL
from connectors.email.send import SendRefused, SmtpTransport, compose_reply
from connectors.facebook_send import MessengerSender
from connectors.sending import ChatSender
from connectors.zalo_send import ZaloOaSender
from ingest.keys import Clock
from ingest.settings import Settings
from router.events import OutboundMessage
from storage.db import SessionFactory
from storage.ledger import processed
from storage.log_events import LogEvent
from storage.models import ProcessedEvent

log = structlog.get_logger(__name__)
SENDER_GROUP = "cskh-sender"
Piece = Callable[[], Awaitable[object]]


def ledger(channel: str) -> str:
    """The processed-event ledger consumer of ``channel``'s sender (``sender:email``, …)."""
    return f"sender:{channel}"


class ReplySender(Protocol):
    """How one channel sends a reply: as pieces sent in order, each at most once."""

    def pieces(self, reply: OutboundMessage) -> Sequence[Piece]:
        """What to send for ``reply``; ``SendRefused`` when it cannot be sent at all."""
        ...


@dataclass(frozen=True, slots=True)
class EmailReplies:
    """E-mail: one RFC 5322 message with our Message-ID and the customer's threading headers."""

    transport: SmtpTransport
    sender: str

    def pieces(self, reply: OutboundMessage) -> Sequence[Piece]:
        mail = reply.email
        if mail is None:
            raise SendRefused("an e-mail reply without its e-mail headers")
        if not reply.to_email:
            raise SendRefused(f"ticket {reply.ticket_number}: the contact has no e-mail address")
        message = compose_reply(
            sender=self.sender, to=reply.to_email, subject=mail.subject, text=reply.text,
            message_id=mail.message_id, in_reply_to=mail.in_reply_to,
            references=mail.references, date=reply.created_at, ticket_number=reply.ticket_number)
        return [partial(self.transport.send, message)]


@dataclass(frozen=True, slots=True)
class ChatReplies:
    """A chat channel: the reply's text, cut to the provider's limit, to the ticket's thread."""

    sender: ChatSender

    def pieces(self, reply: OutboundMessage) -> Sequence[Piece]:
        parts = self.sender.parts(reply.thread_key, reply.text)
        return [partial(self.sender.send, reply.thread_key, part) for part in parts]


def smtp_transport(settings: Settings) -> SmtpTransport | None:
    """Where e-mail replies go (``CSKH_SMTP_*``); ``None`` when no SMTP server is set.
    ``ValueError`` when one is set but no From address (``CSKH_MAIL_FROM``) is known."""
    if not settings.smtp_host:
        return None
    if not settings.reply_from:
        raise ValueError("CSKH_SMTP_HOST is set: set CSKH_MAIL_FROM (or CSKH_OWN_ADDRESSES) too")
    context = (ssl.create_default_context(cafile=str(settings.smtp_ca_file))
               if settings.smtp_ca_file else None)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpTransport(settings.smtp_host, settings.smtp_port, settings.smtp_user, password,
                         settings.smtp_tls, context)


def reply_senders(settings: Settings) -> dict[str, ReplySender]:
    """Channel → sender, for every channel whose sending credentials are set (may be empty)."""
    senders: dict[str, ReplySender] = {}
    if (transport := smtp_transport(settings)) is not None:
        senders[EMAIL] = EmailReplies(transport, settings.reply_from or "")
    if settings.facebook_page_token is not None:
        messenger = MessengerSender(settings.facebook_page_token.get_secret_value(),
                                    settings.facebook_graph_url)
        senders[messenger.channel] = ChatReplies(messenger)
    if settings.zalo_oa_access_token is not None:
        zalo = ZaloOaSender(settings.zalo_oa_access_token.get_secret_value(),
                            settings.zalo_api_url)
        senders[zalo.channel] = ChatReplies(zalo)
    return senders


def _keys(event_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    # One piece: the event's own id (as before pieces existed); several: one id per piece.
    return [event_id] if count == 1 else [uuid.uuid5(event_id, f"part:{i}") for i in
                                          range(count)]


class SendReplies:
    """Handler of ``cskh.outbound`` batches: send each reply once, on its own channel."""

    def __init__(self, sessions: SessionFactory, senders: Mapping[str, ReplySender],
                 clock: Clock) -> None:
        self._sessions = sessions
        self._senders = dict(senders)
        self._clock = clock

    async def _done(self, channel: str, keys: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        async with self._sessions() as session:
            return await processed(session, ledger(channel), keys)

    async def _record(self, channel: str, key: uuid.UUID) -> None:
        async with self._sessions() as session, session.begin():
            if await session.get(ProcessedEvent, (ledger(channel), key)) is None:
                session.add(ProcessedEvent(consumer=ledger(channel), event_id=key,
                                           processed_at=self._clock()))

    async def _send(self, reply: OutboundMessage, sender: ReplySender) -> int:
        if reply.event_id in await self._done(reply.channel, [reply.event_id]):
            return 0
        pieces = sender.pieces(reply)
        keys = _keys(reply.event_id, len(pieces))
        done = await self._done(reply.channel, keys) if len(keys) > 1 else set()
        for piece, key in zip(pieces, keys, strict=True):
            if key not in done:
                await piece()
                await self._record(reply.channel, key)
        if len(keys) > 1:
            await self._record(reply.channel, reply.event_id)
        return len(pieces)

    async def __call__(self, values: Sequence[bytes]) -> None:
        for value in values:
            reply = OutboundMessage.model_validate_json(value)
            bound = log.bind(channel=reply.channel, ticket_id=reply.ticket_id,
                             ticket=reply.ticket_number, message_id=reply.message_id)
            sender = self._senders.get(reply.channel)
            if sender is None:
                bound.info(LogEvent.OUTBOUND_NO_SENDER)
                continue
            if sent := await self._send(reply, sender):
                bound.info(LogEvent.OUTBOUND_SENT, parts=sent)
