"""The ``senders`` role: staff replies on ``cskh.outbound`` go back on the customer's channel.

``reply_senders`` is the one registry of channels we answer on, built from the settings:
e-mail through the SMTP server (``CSKH_SMTP_*``), Messenger through the Graph API Send API
(``CSKH_FACEBOOK_PAGE_TOKEN``), Zalo through the OA consultation-message API
(``CSKH_ZALO_OA_ACCESS_TOKEN``), Shopee seller chat, Lazada IM and TikTok Shop customer
service (their app credentials). Zalo (with ``CSKH_ZALO_APP_SECRET``) and the marketplaces
use the token stored by ``cskh channels auth`` and refresh it (``ingest.tokens``), else their
``CSKH_*_ACCESS_TOKEN`` as it is.
``SendReplies`` hands each reply to its channel's sender and
keeps the stored message's delivery state (``storage.models.Message``) true:

* ``pending`` until the provider accepted every part; each part accepted is recorded in the
  processed-event ledger (consumer ``sender:{channel}``) together with the provider's message
  id, in one transaction, so a redelivered event, or a retry after the second of three parts
  was throttled, sends only what was not accepted yet. A crash between the provider's
  acceptance and that commit sends that one part twice: at-least-once, like every effect that
  leaves our database.
* The provider away, failing (5xx) or throttling → ``SendUnavailable``, a transient error: the
  loop backs off and the same events come again; the message stays ``pending``.
* Refused for good (a 5xx SMTP reply, a blocked Page, a bad token), no address, or the
  channel's reply window over (checked before any call: "the customer must write first") →
  ``failed`` with our code and the provider's reason as given; an officer may retry it once
  the cause is fixed (``POST /api/v1/tickets/{id}/messages/{mid}/retry``), which makes it
  ``pending`` and emits the same event again. A ``sent`` or ``failed`` message is never sent
  again by a redelivered event.
* Replies on channels without a sender (not configured, marketplaces, hotline) fail with the
  code ``no_sender`` (logged ``outbound.no_sender``): the officer sees it was not sent.
* An event whose message is not stored (its ticket was deleted) goes to ``cskh.dlq``; one
  that never had one (``NO_STORED_MESSAGE``: a campaign's ask) is kept once by the ledger.

One channel's trouble stays in that channel: each configured channel has its own consumer
group (``cskh-sender-{channel}``, ``sender_group``), which reads every outbound event and
acts on its own channel's only, with its own backoff; a throttled Messenger holds up no
e-mail. The replies on channels without a sender are failed by one more group,
``cskh-sender-other``. Each group scales by partitions like the others.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from functools import partial
from typing import Protocol

import structlog
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.email import CHANNEL as EMAIL
from connectors.email.send import SendRefused, SmtpTransport, compose_reply
from connectors.facebook_send import MessengerSender
from connectors.lazada import CHANNEL as LAZADA
from connectors.lazada_send import LazadaRefresh, LazadaSender
from connectors.sending import INVALID, NO_ADDRESS, NO_SENDER, ChatSender
from connectors.shopee import CHANNEL as SHOPEE
from connectors.shopee_send import ShopeeRefresh, ShopeeSender
from connectors.tiktok import CHANNEL as TIKTOK
from connectors.tiktok_send import TikTokRefresh, TikTokSender
from connectors.zalo import CHANNEL as ZALO
from connectors.zalo_auth import ZaloRefresh
from connectors.zalo_send import ZaloOaSender
from ingest.keys import Clock
from ingest.settings import Settings
from ingest.tokens import Refresh, TokenedChat, TokenStore
from router.customer_side import last_customer_message
from router.events import NO_STORED_MESSAGE, OutboundMessage
from storage.db import SessionFactory
from storage.ledger import processed
from storage.log_events import LogEvent
from storage.metrics import SENDER_FAILURES, SENDER_SENT
from storage.models import CampaignInvitation, Message, ProcessedEvent, utcnow

log = structlog.get_logger(__name__)
SENDER_GROUP = "cskh-sender"  # the prefix of the per-channel groups
OTHER_CHANNELS = "other"
Piece = Callable[[], Awaitable[str | None]]  # the provider's id of what it accepted
PENDING, SENT, FAILED = "pending", "sent", "failed"
MANUAL = "manual"  # a campaign invitation's status: staff ask by hand
REASON_CHARS = 2000


def sender_group(channel: str) -> str:
    """The consumer group that sends ``channel``'s replies (``cskh-sender-email``, …)."""
    return f"{SENDER_GROUP}-{channel}"


def ledger(channel: str) -> str:
    """The processed-event ledger consumer of ``channel``'s sender (``sender:email``, …)."""
    return f"sender:{channel}"


class ReplySender(Protocol):
    """How one channel sends a reply: as pieces sent in order, each at most once."""

    def pieces(self, reply: OutboundMessage, thread: Thread) -> Sequence[Piece]:
        """What to send for ``reply`` on ``thread``; ``SendRefused`` when it cannot be sent
        at all, the channel's reply window being over included."""
        ...


@dataclass(frozen=True, slots=True)
class Thread:
    """What the ticket says of the customer's side: ``since`` their last message (``None``:
    they have not written) and that message's provider payload (``last_message``)."""

    since: timedelta | None = None
    last_message: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class EmailReplies:
    """E-mail: one RFC 5322 message with our Message-ID and the customer's threading headers."""

    transport: SmtpTransport
    sender: str

    def pieces(self, reply: OutboundMessage, thread: Thread) -> Sequence[Piece]:
        mail = reply.email
        if mail is None:
            raise SendRefused("an e-mail reply without its e-mail headers", INVALID)
        if not reply.to_email:
            raise SendRefused(f"ticket {reply.ticket_number}: the contact has no e-mail address",
                              NO_ADDRESS)
        message = compose_reply(
            sender=self.sender, to=reply.to_email, subject=mail.subject, text=reply.text,
            message_id=mail.message_id, in_reply_to=mail.in_reply_to,
            references=mail.references, date=reply.created_at, ticket_number=reply.ticket_number)
        return [partial(self._send, message, mail.message_id)]

    async def _send(self, message: EmailMessage, message_id: str) -> str:
        await self.transport.send(message)
        return message_id.strip("<>")


@dataclass(frozen=True, slots=True)
class ChatReplies:
    """A chat channel: the reply's text, cut to the provider's limit, to the ticket's thread."""

    sender: ChatSender

    def pieces(self, reply: OutboundMessage, thread: Thread) -> Sequence[Piece]:
        tagged = self.sender.window.tagged(thread.since)
        parts = self.sender.parts(reply.thread_key, reply.text)
        return [partial(self.sender.send, reply.thread_key, part, tagged=tagged,
                        last_message=thread.last_message) for part in parts]


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


def reply_senders(settings: Settings, sessions: SessionFactory | None = None,
                  clock: Clock | None = None) -> dict[str, ReplySender]:
    """Channel → sender, for every channel whose sending credentials are set (may be empty).

    The Zalo (with ``CSKH_ZALO_APP_SECRET``) and marketplace senders take their token from
    the database (``ingest.tokens``) and send only with ``sessions``; without, the registry
    lists them and never sends."""
    senders: dict[str, ReplySender] = {}
    if (transport := smtp_transport(settings)) is not None:
        senders[EMAIL] = EmailReplies(transport, settings.reply_from or "")
    if settings.facebook_page_token is not None:
        messenger = MessengerSender(settings.facebook_page_token.get_secret_value(),
                                    settings.facebook_graph_url,
                                    human_agent=settings.facebook_human_agent)
        senders[messenger.channel] = ChatReplies(messenger)
    for chat in tokened_senders(settings, sessions, clock or utcnow):
        senders[chat.channel] = ChatReplies(chat)
    if ZALO not in senders and settings.zalo_oa_access_token is not None:
        zalo = ZaloOaSender(settings.zalo_oa_access_token.get_secret_value(),
                            settings.zalo_api_url)
        senders[zalo.channel] = ChatReplies(zalo)
    return senders


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def tokened_senders(settings: Settings, sessions: SessionFactory | None,
                    clock: Clock) -> list[ChatSender]:
    """Zalo (with the app's secret) and the Shopee, Lazada and TikTok Shop senders whose app
    credentials are set; each uses the token stored for the thread's account (refreshed),
    else the ``CSKH_*_ACCESS_TOKEN`` of the settings as it is (without ``sessions``: only
    that one; without it either, the sender only lists its channel)."""
    def tokened(channel: str, make: Callable[[str], ChatSender], refresh: Refresh,
                fallback: SecretStr | None) -> ChatSender:
        if sessions is None:  # no database: the settings' token as it is, or list only
            return make(_secret(fallback)) if fallback else TokenedChat(channel, make, None)
        return TokenedChat(channel, make, TokenStore(sessions, clock, channel, refresh,
                                                     fallback=_secret(fallback)))

    found: list[ChatSender] = []
    if settings.zalo_app_id and settings.zalo_app_secret is not None:
        found.append(tokened(
            ZALO, partial(ZaloOaSender, api_url=settings.zalo_api_url),
            ZaloRefresh(settings.zalo_app_id, _secret(settings.zalo_app_secret),
                        settings.zalo_oauth_url), settings.zalo_oa_access_token))
    if (partner := settings.shopee_partner_id) and (key := _secret(settings.shopee_partner_key)):
        found.append(tokened(
            SHOPEE, lambda token: ShopeeSender(partner, key, token, settings.shopee_api_url),
            ShopeeRefresh(partner, key, settings.shopee_api_url), settings.shopee_access_token))
    if (app := settings.lazada_app_key) and (secret := _secret(settings.lazada_app_secret)):
        found.append(tokened(
            LAZADA, lambda token: LazadaSender(app, secret, token, settings.lazada_api_url),
            LazadaRefresh(app, secret, settings.lazada_auth_url), settings.lazada_access_token))
    if (tts := settings.tiktok_app_key) and (tts_secret := _secret(settings.tiktok_app_secret)) \
            and (cipher := settings.tiktok_shop_cipher):
        found.append(tokened(
            TIKTOK, lambda token: TikTokSender(tts, tts_secret, token, cipher,
                                               settings.tiktok_api_url),
            TikTokRefresh(tts, tts_secret, settings.tiktok_auth_url),
            settings.tiktok_access_token))
    return found


async def _invitation(session: AsyncSession, reply: OutboundMessage, *,
                      lock: bool = False) -> CampaignInvitation | None:
    """The campaign invitation a stored-nowhere message (an ask, a reminder) belongs to."""
    if reply.campaign_invitation is None:
        return None
    query = select(CampaignInvitation).where(
        CampaignInvitation.public_id == reply.campaign_invitation)
    return await session.scalar(query.with_for_update() if lock else query)


def _keys(event_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    # One piece: the event's own id (as before pieces existed); several: one id per piece.
    return [event_id] if count == 1 else [uuid.uuid5(event_id, f"part:{i}") for i in
                                          range(count)]


class SendReplies:
    """Handler of ``cskh.outbound`` batches: send each reply once, on its own channel, and
    record what became of it on the stored message."""

    def __init__(self, sessions: SessionFactory, senders: Mapping[str, ReplySender],
                 clock: Clock, *, handles: Callable[[str], bool] | None = None) -> None:
        """``handles``: which channels' replies this instance acts on (the others are left
        to their own consumer); all by default."""
        self._sessions = sessions
        self._senders = dict(senders)
        self._clock = clock
        self._handles = handles or (lambda _channel: True)

    @classmethod
    def per_channel(cls, sessions: SessionFactory, senders: Mapping[str, ReplySender],
                    clock: Clock) -> dict[str, SendReplies]:
        """One handler per consumer group: each configured channel's (by its channel name),
        and ``OTHER_CHANNELS``, which fails the replies no sender is configured for."""
        handlers = {channel: cls(sessions, {channel: sender}, clock,
                                 handles=partial(str.__eq__, channel))
                    for channel, sender in senders.items()}
        known = frozenset(senders)
        handlers[OTHER_CHANNELS] = cls(sessions, {}, clock,
                                       handles=lambda channel: channel not in known)
        return handlers

    async def _state(self, reply: OutboundMessage) -> tuple[str | None, Thread]:
        """The message's delivery status (once it is settled, or already in the ledger: the
        status "sent") and the customer's side of the ticket."""
        async with self._sessions() as session:
            if reply.message_id == NO_STORED_MESSAGE:  # a campaign's ask: the ledger only
                invitation = await _invitation(session, reply)
                status = FAILED if invitation is not None and invitation.status == MANUAL \
                    else None
            else:
                message = await session.get(Message, reply.message_id)
                if message is None or message.ticket_id != reply.ticket_id:
                    raise LookupError(f"reply {reply.message_id} of ticket "
                                      f"{reply.ticket_number} is not stored: not sent")
                status = message.delivery_status
            if status not in (SENT, FAILED) and await processed(
                    session, ledger(reply.channel), [reply.event_id]):
                status = SENT
            last = await last_customer_message(session, reply.ticket_id)
        if last is None:
            return status, Thread()
        return status, Thread(self._clock() - last.sent_at, last.raw or {})

    async def _done(self, channel: str, keys: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        async with self._sessions() as session:
            return await processed(session, ledger(channel), keys)

    async def _record(self, reply: OutboundMessage, key: uuid.UUID, ref: str | None, *,
                      last: bool) -> None:
        """Part ``key`` accepted as ``ref``: the ledger row and the message's refs in one
        transaction; the ``last`` part makes the message ``sent``."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            keys = {key, reply.event_id} if last else {key}
            for k in keys:
                if await session.get(ProcessedEvent, (ledger(reply.channel), k)) is None:
                    session.add(ProcessedEvent(consumer=ledger(reply.channel), event_id=k,
                                               processed_at=now))
            message = await session.get(Message, reply.message_id, with_for_update=True)
            if message is None:
                return
            if ref:
                message.delivery_ref = " ".join(filter(None, [message.delivery_ref, ref]))
            if last:
                message.delivery_status, message.delivery_code = SENT, None
                message.delivery_reason = None
            message.delivery_updated_at = now

    async def _fail(self, reply: OutboundMessage, code: str, reason: str) -> None:
        async with self._sessions() as session, session.begin():
            if reply.message_id == NO_STORED_MESSAGE:
                invitation = await _invitation(session, reply, lock=True)
                if invitation is not None:  # staff ask by hand, and see why
                    which = "ask" if reply.event_id == uuid.uuid5(
                        invitation.public_id, "campaign:ask") else "reminder"
                    invitation.status = MANUAL
                    invitation.reason = f"{which} failed: {code}"[:64]
                    log.warning(LogEvent.CAMPAIGN_ASK_FAILED, invitation=invitation.id,
                                campaign_id=invitation.campaign_id, code=code,
                                reason=reason[:300])
                return
            message = await session.get(Message, reply.message_id, with_for_update=True)
            if message is not None:
                message.delivery_status, message.delivery_code = FAILED, code
                message.delivery_reason = reason[:REASON_CHARS]
                message.delivery_updated_at = self._clock()

    async def _send(self, reply: OutboundMessage, sender: ReplySender, thread: Thread) -> int:
        pieces = sender.pieces(reply, thread)
        keys = _keys(reply.event_id, len(pieces))
        done = await self._done(reply.channel, keys) if len(keys) > 1 else set()
        for i, (piece, key) in enumerate(zip(pieces, keys, strict=True)):
            if key not in done:
                ref = await piece()
                await self._record(reply, key, ref, last=i == len(keys) - 1)
            elif i == len(keys) - 1:
                await self._record(reply, key, None, last=True)
        return len(pieces)

    async def __call__(self, values: Sequence[bytes]) -> None:
        for value in values:
            reply = OutboundMessage.model_validate_json(value)
            if not self._handles(reply.channel):
                continue
            bound = log.bind(channel=reply.channel, ticket_id=reply.ticket_id,
                             ticket=reply.ticket_number, message_id=reply.message_id)
            status, thread = await self._state(reply)
            if status in (SENT, FAILED):
                continue  # a redelivered event: its outcome is recorded
            sender = self._senders.get(reply.channel)
            if sender is None:
                bound.info(LogEvent.OUTBOUND_NO_SENDER)
                await self._fail(reply, NO_SENDER,
                                 f"no sender is configured for the {reply.channel} channel")
                continue
            try:
                sent = await self._send(reply, sender, thread)
            except SendRefused as exc:
                SENDER_FAILURES.labels(reply.channel, type(exc).__name__).inc()
                bound.warning(LogEvent.OUTBOUND_FAILED, code=exc.code, reason=str(exc)[:500])
                await self._fail(reply, exc.code, str(exc))
                continue
            except Exception as exc:
                SENDER_FAILURES.labels(reply.channel, type(exc).__name__).inc()
                raise
            SENDER_SENT.labels(reply.channel).inc()
            bound.info(LogEvent.OUTBOUND_SENT, parts=sent)
