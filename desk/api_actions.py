"""Staff API actions on one ticket, and the caller's own status.

Every route answers the ticket's new API form, 404 for a ticket the caller may not see, 400
for a malformed body and the action's own 403/409 with a JSON reason. A reply is emitted on
``cskh.outbound`` only after it is committed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.api import CALENDARS, CLOCK, SESSIONS, ticket_key
from desk.auth import authenticate, visible
from desk.text_input import unstorable
from desk.views import tickets_json
from normalizer.threads import DEFAULT_MAIL_DOMAIN
from router import actions
from router.calendars import Calendars
from router.deadlines import DEFAULT_CALENDAR
from router.events import OutboundMessage
from router.outbox import mark_emitted
from router.shifts import on_shift
from storage.log_events import LogEvent
from storage.models import Staff, Ticket

log = structlog.get_logger(__name__)
PublishOutbound = Callable[[Sequence[OutboundMessage]], Awaitable[None]]
PUBLISH_OUTBOUND: web.AppKey[PublishOutbound] = web.AppKey("router.publish_outbound")
# The domain of our outgoing Message-IDs (``CSKH_MAIL_DOMAIN``); ``cskh.invalid`` when unset.
MAIL_DOMAIN: web.AppKey[str] = web.AppKey("router.mail_domain")

Action = Callable[[AsyncSession, Staff, Ticket, dict[str, Any], datetime],
                  Awaitable[OutboundMessage | None]]


def _error(status: int, code: str, reason: str) -> web.Response:
    return web.json_response({"error": code, "reason": reason}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise actions.ActionError(400, "invalid_json", f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise actions.ActionError(400, "invalid_json", "the body must be a JSON object")
    reason = unstorable(data)
    if reason:
        raise actions.ActionError(400, "invalid_text", reason)
    return data


def _text(body: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise actions.ActionError(400, "invalid_field", f"{field} must be a string")
    return value


async def _act(request: web.Request, action: Action) -> web.Response:
    now = request.app[CLOCK]()
    outbound: OutboundMessage | None = None
    try:
        async with request.app[SESSIONS]() as session, session.begin():
            staff = await authenticate(request, session)
            key = ticket_key(request.match_info["ticket_id"])
            ticket = None if key is None else await session.scalar(
                select(Ticket).where(Ticket.id == key, visible(staff)).with_for_update())
            if ticket is None:
                return _error(404, "not_found", "no such ticket")
            outbound = await action(session, staff, ticket, await _body(request), now)
            await session.flush()
            body = (await tickets_json(session, [ticket]))[0]
    except actions.ActionError as exc:
        return _error(exc.status, exc.code, exc.reason)
    if outbound is not None:
        try:
            await request.app[PUBLISH_OUTBOUND]([outbound])
            await mark_emitted(request.app[SESSIONS], [outbound.message_id])
        except Exception as exc:
            # the router's outbox (router.outbox) emits it once the bus is back.
            log.warning(LogEvent.OUTBOUND_EMIT_DEFERRED, message_id=outbound.message_id,
                        ticket=outbound.ticket_number, error=f"{type(exc).__name__}: {exc}"[:300])
    return web.json_response(body)


async def _claim(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
                 now: datetime) -> None:
    await actions.claim(s, staff, t, now)


async def _relabel(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
                   now: datetime, calendar: Calendars = DEFAULT_CALENDAR) -> None:
    category = _text(b, "category", required=False)
    priority = _text(b, "priority", required=False)
    if category is None and priority is None:
        raise actions.ActionError(400, "nothing_to_change", "give category and/or priority")
    await actions.relabel(s, staff, t, category=category, priority=priority, now=now,
                          calendar=calendar)


async def _reply(request: web.Request) -> web.Response:
    domain = request.app.get(MAIL_DOMAIN, DEFAULT_MAIL_DOMAIN)

    async def reply(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
                    now: datetime) -> OutboundMessage:
        return await actions.reply(s, staff, t, _text(b, "text") or "", now, mail_domain=domain)

    return await _act(request, reply)


async def _wait(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
                now: datetime) -> None:
    await actions.wait_on_customer(s, staff, t, now)


async def _resolve(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
                   now: datetime, calendar: Calendars = DEFAULT_CALENDAR) -> None:
    await actions.resolve(s, staff, t, now, calendar=calendar)


async def _reassign(s: AsyncSession, staff: Staff, t: Ticket, b: dict[str, Any],
                    now: datetime) -> None:
    await actions.reassign(s, staff, t, _text(b, "staff") or "", now)


def _route(action: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return await _act(request, action)

    return handler


async def my_status(request: web.Request) -> web.Response:
    """``PUT /api/v1/me/status`` ``{"status": "online|away|off"}``; online on shift takes the
    backlog; the answer says the caller's shift and whether they are on it."""
    now = request.app[CLOCK]()
    try:
        async with request.app[SESSIONS]() as session, session.begin():
            staff = await authenticate(request, session)
            status = _text(await _body(request), "status") or ""
            taken = await actions.set_my_status(session, staff, status, now)
            body = {"id": staff.id, "name": staff.name, "status": staff.status,
                    "shift": staff.shift, "on_shift": on_shift(staff.shift, now),
                    "assigned": [t.number for t in taken]}
    except actions.ActionError as exc:
        return _error(exc.status, exc.code, exc.reason)
    return web.json_response(body)


def add_action_routes(app: web.Application) -> None:
    """Mount the action routes (``app`` must hold SESSIONS, CLOCK and PUBLISH_OUTBOUND)."""
    base = "/api/v1/tickets/{ticket_id}"
    calendar = app.get(CALENDARS, DEFAULT_CALENDAR)  # deadlines run on the queue's hours
    app.router.add_post(f"{base}/claim", _route(_claim))
    app.router.add_patch(base, _route(partial(_relabel, calendar=calendar)))
    app.router.add_post(f"{base}/reply", _reply)
    app.router.add_post(f"{base}/waiting", _route(_wait))
    app.router.add_post(f"{base}/resolve", _route(partial(_resolve, calendar=calendar)))
    app.router.add_post(f"{base}/reassign", _route(_reassign))
    app.router.add_put("/api/v1/me/status", my_status)
