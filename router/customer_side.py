"""The customer's side of a ticket's thread: what a chat channel's reply window counts from.

One rule for the senders (``ingest.senders``, which refuse a reply past the window) and the
ticket page (``desk.reply_window``, which says so before the officer types one).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Message


async def last_customer_message(session: AsyncSession, ticket_id: int) -> Message | None:
    """The ticket's latest inbound message by the time the customer sent it (ties: the one
    stored last); ``None`` when the customer has not written on it."""
    found: Message | None = await session.scalar(
        select(Message).where(Message.ticket_id == ticket_id, Message.direction == "inbound")
        .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1))
    return found


def latest_customer_message(messages: Iterable[Message]) -> Message | None:
    """``last_customer_message`` among ``messages`` already read (a page that shows them
    counts from the same ones it shows)."""
    return max((m for m in messages if m.direction == "inbound"),
               key=lambda m: (m.sent_at, m.id), default=None)
