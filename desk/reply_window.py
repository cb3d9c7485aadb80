"""Whether a reply can still go on the ticket's chat channel, told before the officer types it.

Messenger lets a Page answer within 24 hours of the customer's last message (7 days with the
``HUMAN_AGENT`` tag), Zalo OA within 7 days of the user's last interaction, the marketplaces
only on a conversation the customer opened. The rule is the senders' own: each sender's
``connectors.sending.ChatWindow`` (``REPLY_WINDOWS``, set by the app factory from the senders'
registry), counted from ``router.customer_side.last_customer_message``, as ``ingest.senders``
counts before sending. Past it the page shows why and how else to reach the customer (their
phone, their e-mail) instead of the reply box, and refuses a reply posted anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.sending import ChatWindow, SendRefused
from desk.i18n import gettext
from router.actions import ActionError
from router.customer_side import last_customer_message, latest_customer_message
from storage.models import Contact, Message, Ticket

REPLY_WINDOWS: web.AppKey[Mapping[str, ChatWindow]] = web.AppKey("desk.reply_windows",
                                                                  Mapping)
OTHER_WAYS = 3  # phones and e-mail addresses offered, each
# how the page names a windowed channel (brand names, the same in every language)
CHANNEL_NAMES = {"facebook": "Facebook Messenger", "zalo": "Zalo OA", "shopee": "Shopee",
                 "lazada": "Lazada", "tiktok": "TikTok Shop"}


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    """A reply window that is over: how long it lasts (``None``: only a conversation the
    customer opened can be answered), when the customer last wrote (``None``: never on this
    ticket), and the phones and e-mail addresses to reach them otherwise."""

    channel: str
    limit: timedelta | None
    last_written: datetime | None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    @property
    def channel_name(self) -> str:
        """The channel as the page names it."""
        return CHANNEL_NAMES.get(self.channel, self.channel)

    def limit_text(self) -> str:
        """``limit`` as the page says it ("24 giờ", "7 ngày")."""
        if self.limit is None:
            return ""
        hours = int(self.limit.total_seconds() // 3600)
        if hours >= 48 and hours % 24 == 0:
            return gettext("%(days)d days") % {"days": hours // 24}
        return gettext("%(hours)d hours") % {"hours": hours}


def window_closed(window: ChatWindow | None, last_written: datetime | None,
                  now: datetime) -> bool:
    """Whether a reply sent ``now`` is refused by ``window`` (``None``: no window) when the
    customer last wrote at ``last_written`` (``None``: never) — the senders' check itself."""
    if window is None:
        return False
    try:
        window.tagged(None if last_written is None else now - last_written)
    except SendRefused:
        return True
    return False


async def closed_window(session: AsyncSession, app: web.Application, ticket: Ticket,
                        contact: Contact | None, now: datetime,
                        messages: Sequence[Message] | None = None) -> ClosedWindow | None:
    """The ticket's reply window if its channel's sender would refuse a reply now, with the
    other ways to reach the customer; ``None`` while a reply can go (or the channel has no
    window, or no sender: then the reply is sent by hand). ``messages``: the ticket's, as the
    caller read them (else they are read)."""
    window = app.get(REPLY_WINDOWS, {}).get(ticket.channel)
    if window is None:
        return None
    last = None if messages is None else latest_customer_message(messages)
    if last is None:  # not read yet, or a follow-up's rating: from the database
        last = await last_customer_message(session, ticket.id)
    written = None if last is None else last.sent_at
    if not window_closed(window, written, now):
        return None
    contacts = [contact] if contact is not None else []
    if ticket.customer_id is not None:  # the account's other contacts may answer the phone
        contacts += await session.scalars(
            select(Contact).where(Contact.customer_id == ticket.customer_id,
                                  or_(Contact.phone.is_not(None), Contact.email.is_not(None)))
            .order_by(Contact.id).limit(2 * OTHER_WAYS))
    phones = dict.fromkeys(c.phone for c in contacts if c.phone)
    emails = dict.fromkeys(c.email for c in contacts if c.email)
    return ClosedWindow(ticket.channel, window.tagged_for or window.open_for, written,
                        tuple(phones)[:OTHER_WAYS], tuple(emails)[:OTHER_WAYS])


def refuse_if_closed(closed: ClosedWindow | None) -> None:
    """``ActionError`` 409 ``window_closed`` for a reply past the window."""
    if closed is not None:
        raise ActionError(409, "window_closed",
                          "the customer must write first: the channel's reply window is over")
