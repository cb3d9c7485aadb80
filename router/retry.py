"""An officer retries a reply that failed, once its cause is fixed.

Only a ``failed`` outbound message can be retried, and the change to ``pending`` is one
conditional UPDATE: of two retries at the same moment one wins and the other is told 409, so
the reply is emitted once. The event emitted is the reply's own (same id, ``outbound_event``):
the senders' ledger keeps the parts already accepted from going twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.actions import ActionError, may_act
from router.events import OutboundMessage
from router.outbox import EMITTED, outbound_event
from storage.models import Contact, Message, Staff, Ticket


async def retry_reply(session: AsyncSession, staff: Staff, ticket: Ticket, message_id: int,
                      now: datetime) -> OutboundMessage:
    """Make the failed reply ``message_id`` of ``ticket`` pending again; the event to emit.

    ``ActionError`` 403 for someone who may not act on the ticket, 404 for no such reply on
    it, 409 when it is not ``failed`` (pending, sent, or retried by someone else just now).
    """
    if not may_act(staff, ticket):
        raise ActionError(403, "not_allowed", "only the assignee or a lead may retry a reply")
    found = await session.get(Message, message_id)
    if found is not None and found.ticket_id == ticket.id and (found.raw or {}).get("survey"):
        # the stored row is the thread's note of a survey ask, not the text that was sent
        raise ActionError(409, "not_a_reply", "a survey ask is not retried from here")
    if found is not None and found.ticket_id == ticket.id and (found.raw or {}).get("callback"):
        raise ActionError(409, "not_a_reply", "a callback is not retried: call again and "
                          "record its outcome")
    result = cast(CursorResult[object], await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.ticket_id == ticket.id,
               Message.direction == "outbound", Message.delivery_status == "failed")
        .values(delivery_status="pending", delivery_code=None, delivery_reason=None,
                delivery_attempts=Message.delivery_attempts + 1, delivery_updated_at=now)
        .execution_options(synchronize_session=False)))
    message = await session.get(Message, message_id, populate_existing=True)
    if message is None or message.ticket_id != ticket.id or message.direction != "outbound":
        raise ActionError(404, "not_found", "no such reply on this ticket")
    if result.rowcount != 1:
        raise ActionError(409, "not_failed",
                          f"the reply is {message.delivery_status or 'not tracked'}: only a "
                          "failed reply can be retried")
    message.raw = {**(message.raw or {}), EMITTED: False}  # the outbox emits it if we cannot
    contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    return outbound_event(ticket, message, contact)
