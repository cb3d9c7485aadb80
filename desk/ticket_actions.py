"""One officer action on one ticket, the same from the staff API and from the ``cskh`` CLI.

``act_on_ticket`` locks the ticket, runs the action in one transaction and commits; a reply is
emitted on ``cskh.outbound`` only after that commit (``router.outbox.emit_replies``), so the
API and a terminal queue a reply exactly alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth import visible
from desk.views import tickets_json
from normalizer.threads import DEFAULT_MAIL_DOMAIN
from router import actions
from router.calendars import Calendars
from router.deadlines import DEFAULT_CALENDAR
from router.events import OutboundMessage
from router.outbox import Publish, emit_replies
from storage.db import SessionFactory
from storage.models import Staff, Ticket

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


async def reply(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any], now: datetime,
                mail_domain: str = DEFAULT_MAIL_DOMAIN) -> OutboundMessage:
    return await actions.reply(s, staff, t, text_field(b, "text") or "", now,
                               mail_domain=mail_domain)


async def wait(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
               now: datetime) -> None:
    await actions.wait_on_customer(s, staff, t, now)


async def resolve(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
                  now: datetime, calendar: Calendars = DEFAULT_CALENDAR) -> None:
    await actions.resolve(s, staff, t, now, calendar=calendar)


async def reassign(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
                   now: datetime) -> None:
    await actions.reassign(s, staff, t, text_field(b, "staff") or "", now)


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
