"""One officer action on one ticket, the same from the staff API and from the ``cskh`` CLI.

``act_on_ticket`` locks the ticket, runs the action in one transaction and commits; a reply is
emitted on ``cskh.outbound`` only after that commit (``router.outbox.emit_replies``), so the
API and a terminal queue a reply exactly alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.api import ticket_key
from desk.auth import visible
from desk.views import tickets_json
from normalizer.threads import DEFAULT_MAIL_DOMAIN
from router import actions
from router.calendars import Calendars
from router.callbacks import record_callback
from router.deadlines import DEFAULT_CALENDAR
from router.events import OutboundMessage
from router.outbox import Publish, emit_replies
from router.retry import retry_reply
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import Message, Staff, Ticket

log = structlog.get_logger(__name__)

Action = Callable[[AsyncSession, Staff, Ticket, dict[str, Any], datetime],
                  Awaitable[OutboundMessage | None]]
# Who acts, found inside the action's transaction (a bearer token, a CLI ``--as NAME``).
Actor = Callable[[AsyncSession], Awaitable[Staff]]


def text_field(body: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    """``body[field]`` as a string; ``ActionError`` 400 when it is not one."""
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise actions.ActionError(400, "invalid_field", f"{field} must be a string")
    return value


async def claim(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
                now: datetime) -> None:
    await actions.claim(s, staff, t, now)


async def relabel(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
                  now: datetime, calendar: Calendars = DEFAULT_CALENDAR) -> None:
    category = text_field(b, "category", required=False)
    priority = text_field(b, "priority", required=False)
    if category is None and priority is None:
        raise actions.ActionError(400, "nothing_to_change", "give category and/or priority")
    await actions.relabel(s, staff, t, category=category, priority=priority, now=now,
                          calendar=calendar)


# The namespace of replies' envelope ids derived from an idempotency key.
REPLY_KEYS = uuid.UUID("6f1d8a52-3c1e-4f7b-9a0e-2d6c4b8e9f10")
MAX_IDEMPOTENCY_KEY = 200


def idempotency_key(b: dict[str, Any]) -> str | None:
    """``b["idempotency_key"]`` (the API's ``Idempotency-Key`` header, the ticket page's
    per-form token): 1–200 printable ASCII characters, or None when not given."""
    key = text_field(b, "idempotency_key", required=False)
    if key is None:
        return None
    if not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isascii() and key.isprintable()):
        raise actions.ActionError(400, "invalid_idempotency_key",
                                  f"an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} printable "
                                  "ASCII characters")
    return key


async def reply(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any], now: datetime,
                mail_domain: str = DEFAULT_MAIL_DOMAIN) -> OutboundMessage | None:
    """Store and return the reply ``b["text"]``. With an idempotency key, a reply this staff
    member already stored on this ticket under the same key is not stored or sent again: the
    answer is the ticket as it is (a second click, or a post repeated after its answer was lost,
    sends once); the same key with another text is refused (422)."""
    text = text_field(b, "text") or ""
    key = idempotency_key(b)
    envelope_id = None
    if key is not None:
        envelope_id = uuid.uuid5(REPLY_KEYS, f"{t.id}:{staff.id}:{key}")
        earlier = await s.scalar(select(Message).where(Message.envelope_id == envelope_id))
        if earlier is not None:
            if earlier.text != text:
                raise actions.ActionError(422, "idempotency_key_reused",
                                          "this idempotency key was used for another reply")
            log.info(LogEvent.REPLY_REPLAYED, ticket_id=t.id, message_id=earlier.id,
                     staff=staff.name)
            return None
    return await actions.reply(s, staff, t, text, now, mail_domain=mail_domain,
                               envelope_id=envelope_id)


async def wait(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
               now: datetime) -> None:
    await actions.wait_on_customer(s, staff, t, now)


async def note(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
               now: datetime) -> None:
    await actions.note(s, staff, t, text_field(b, "text") or "", now)


async def resume(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
                 now: datetime, calendar: Calendars = DEFAULT_CALENDAR) -> None:
    await actions.resume_waiting(s, staff, t, now, calendar=calendar)


async def reopen(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
                 now: datetime, calendar: Calendars = DEFAULT_CALENDAR) -> None:
    await actions.reopen(s, staff, t, now, calendar=calendar)


async def resolve(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
                  now: datetime, calendar: Calendars = DEFAULT_CALENDAR) -> None:
    await actions.resolve(s, staff, t, now, calendar=calendar)


async def callback(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
                   now: datetime, calendar: Calendars = DEFAULT_CALENDAR) -> None:
    await record_callback(s, staff, t, text_field(b, "outcome") or "",
                          text_field(b, "note", required=False), now, calendar=calendar)


async def reassign(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
                   now: datetime) -> None:
    await actions.reassign(s, staff, t, text_field(b, "staff") or "", now)


async def retry(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
                now: datetime) -> OutboundMessage:
    """Send the failed reply ``b["message_id"]`` again (``router.retry.retry_reply``);
    ``ActionError`` 404 for an id that is not a reply of ``t``."""
    raw = str(b.get("message_id") or "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise actions.ActionError(404, "not_found", "no such reply on this ticket")
    outbound = await retry_reply(s, staff, t, int(raw), now)
    log.info(LogEvent.OUTBOUND_RETRIED, ticket_id=t.id, message_id=outbound.message_id,
             staff=staff.name)
    return outbound


async def merge(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
                now: datetime) -> None:
    """Merge ``t`` into the ticket ``b["into"]`` (id or number) the officer may see
    (``router.actions.merge``); 404 for one they may not."""
    raw = text_field(b, "into") or ""
    key = ticket_key(raw)
    into = None if key is None else await s.scalar(
        select(Ticket).where(Ticket.id == key, visible(staff)).with_for_update())
    if into is None:
        raise actions.ActionError(404, "not_found", f"no ticket {raw[:40]} that you may see")
    await actions.merge(s, staff, t, into, now)
    log.info(LogEvent.TICKET_MERGED, ticket_id=t.id, into=into.id, staff=staff.name)


async def act_on_ticket(sessions: SessionFactory, publish: Publish, key: int | None,
                        actor: Actor, action: Action, body: dict[str, Any], now: datetime, *,
                        visible_only: bool = True) -> dict[str, Any]:
    """Run ``action`` by ``actor`` on ticket ``key``, commit, then emit its reply if any.

    Returns the ticket's new API form. Raises ``ActionError`` (404 ``not_found`` for a ticket
    that does not exist or, with ``visible_only``, that the actor may not see). A reply whose
    emit fails stays committed; the router's outbox emits it later.
    """
    async with sessions() as session, session.begin():
        staff = await actor(session)
        where = [Ticket.id == key]
        if visible_only:
            where.append(visible(staff))
        ticket = None if key is None else await session.scalar(
            select(Ticket).where(*where).with_for_update())
        if ticket is None:
            raise actions.ActionError(404, "not_found", "no such ticket")
        outbound = await action(session, staff, ticket, body, now)
        await session.flush()
        result = (await tickets_json(session, [ticket]))[0]
    if outbound is not None:
        await emit_replies(sessions, publish, [outbound])
    return result
