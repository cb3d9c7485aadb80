"""The customer's side of a ticket's thread: what a chat channel's reply window counts from.

One rule for the senders (``ingest.senders``, which refuse a reply past the window) and the
ticket page (``desk.reply_window``, which says so before the officer types one).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Message


def survey_follow_up(message: Message) -> int | None:
    """The ticket a low rating's follow-up message stands for (``desk.surveys.answer``: the
    rating as the follow-up ticket's first message, written by us, not sent by the customer
    on the channel), else ``None``."""
    raw = message.raw if isinstance(message.raw, dict) else {}
    original = raw.get("follow_up_of")
    return original if "survey" in raw and isinstance(original, int) else None


async def last_customer_message(session: AsyncSession, ticket_id: int,
                                _depth: int = 0) -> Message | None:
    """The ticket's latest inbound message by the time the customer sent it (ties: the one
    stored last); ``None`` when the customer has not written on it. A low rating's follow-up
    counts from what the customer last wrote on the ticket it follows (the same
    conversation), not from the rating, which never came over the channel."""
    rows = list(await session.scalars(
        select(Message).where(Message.ticket_id == ticket_id, Message.direction == "inbound")
        .order_by(Message.sent_at.desc(), Message.id.desc()).limit(5)))
    for message in rows:
        if survey_follow_up(message) is None:
            return message
    originals = [o for m in rows if (o := survey_follow_up(m)) is not None]
    if originals and _depth < 3:
        return await last_customer_message(session, originals[0], _depth + 1)
    return None


def latest_customer_message(messages: Iterable[Message]) -> Message | None:
    """``last_customer_message`` among ``messages`` already read (a page that shows them
    counts from the same ones it shows); ``None`` also when the only one is a follow-up's
    rating (ask ``last_customer_message`` then)."""
    return max((m for m in messages if m.direction == "inbound" and survey_follow_up(m) is None),
               key=lambda m: (m.sent_at, m.id), default=None)
