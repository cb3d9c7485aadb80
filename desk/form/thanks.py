"""The thank-you page's link: the message's reference, signed so that nobody reads the ticket
number of a submission that is not theirs by guessing references.

The reference is the envelope id the web form's webhook answers with; the ticket (and its
number) exists once the normalizer has taken the message, usually within a second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Message, Ticket

_SIG_BYTES = 16


def _sig(key: bytes, ref: uuid.UUID) -> str:
    digest = hmac.new(key, b"cskh-form-thanks\x1f" + ref.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_SIG_BYTES]).rstrip(b"=").decode()


def thanks_token(key: bytes, ref: uuid.UUID) -> str:
    """``<reference>.<signature>``: the last segment of the thank-you page's path."""
    return f"{ref}.{_sig(key, ref)}"


def read_token(key: bytes, token: str) -> uuid.UUID | None:
    """The reference of a token ``thanks_token`` made with ``key``; ``None`` for any other."""
    ref_text, _, sig = token.partition(".")
    try:
        ref = uuid.UUID(ref_text)
    except ValueError:
        return None
    return ref if hmac.compare_digest(sig, _sig(key, ref)) else None


async def ticket_of_reference(session: AsyncSession, ref: uuid.UUID) -> int | None:
    """The id of the ticket the message ``ref`` belongs to, once there is one."""
    ticket_id = await session.scalar(select(Message.ticket_id).where(Message.envelope_id == ref))
    if ticket_id is None:
        return None
    return ticket_id if await session.get(Ticket, ticket_id) is not None else None
