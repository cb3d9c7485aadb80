"""Staff API actions on one ticket, and the caller's own status.

Every route answers the ticket's new API form, 404 for a ticket the caller may not see, 400
for a malformed body and the action's own 403/409 with a JSON reason. The work is
``desk.ticket_actions`` (shared with the CLI): a reply is emitted on ``cskh.outbound`` only
after it is committed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from desk import ticket_actions
from desk.api import CALENDARS, CLOCK, SESSIONS, ticket_key
from desk.auth import authenticate
from desk.text_input import unstorable
from desk.ticket_actions import Action, act_on_ticket
from normalizer.threads import DEFAULT_MAIL_DOMAIN
from router import actions
from router.deadlines import DEFAULT_CALENDAR
from router.events import OutboundMessage
from router.shifts import on_shift
from storage.models import Staff

json_response = web.json_response
PublishOutbound = Callable[[Sequence[OutboundMessage]], Awaitable[None]]
PUBLISH_OUTBOUND: web.AppKey[PublishOutbound] = web.AppKey("router.publish_outbound")
# The domain of our outgoing Message-IDs (``CSKH_MAIL_DOMAIN``); ``cskh.invalid`` when unset.
MAIL_DOMAIN: web.AppKey[str] = web.AppKey("router.mail_domain")


def _error(status: int, code: str, reason: str) -> web.Response:
    return json_response({"error": code, "reason": reason}, status=status)


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


async def _act(request: web.Request, action: Action) -> web.Response:
    body: dict[str, Any] = {}

    async def caller(session: AsyncSession) -> Staff:
        staff = await authenticate(request, session)  # 401 before any 400 for the body
        body.update(await _body(request))
        return staff

    try:
        result = await act_on_ticket(
            request.app[SESSIONS], request.app[PUBLISH_OUTBOUND],
            ticket_key(request.match_info["ticket_id"]), caller, action, body,
            request.app[CLOCK]())
    except actions.ActionError as exc:
        return _error(exc.status, exc.code, exc.reason)
    return json_response(result)


def _route(action: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return await _act(request, action)

    return handler


async def _reply(request: web.Request) -> web.Response:
    domain = request.app.get(MAIL_DOMAIN, DEFAULT_MAIL_DOMAIN)
    return await _act(request, partial(ticket_actions.reply, mail_domain=domain))


async def my_status(request: web.Request) -> web.Response:
    """``PUT /api/v1/me/status`` ``{"status": "online|away|off"}``; online on shift takes the
    backlog; the answer says the caller's shift and whether they are on it."""
    now = request.app[CLOCK]()
    try:
        async with request.app[SESSIONS]() as session, session.begin():
            staff = await authenticate(request, session)
            status = ticket_actions.text_field(await _body(request), "status") or ""
            taken = await actions.set_my_status(session, staff, status, now)
            body = {"id": staff.id, "name": staff.name, "status": staff.status,
                    "shift": staff.shift, "on_shift": on_shift(staff.shift, now),
                    "assigned": [t.number for t in taken]}
    except actions.ActionError as exc:
        return _error(exc.status, exc.code, exc.reason)
    return json_response(body)


def add_action_routes(app: web.Application) -> None:
    """Mount the action routes (``app`` must hold SESSIONS, CLOCK and PUBLISH_OUTBOUND)."""
    base = "/api/v1/tickets/{ticket_id}"
    calendar = app.get(CALENDARS, DEFAULT_CALENDAR)  # deadlines run on the queue's hours
    app.router.add_post(f"{base}/claim", _route(ticket_actions.claim))
    app.router.add_patch(base, _route(partial(ticket_actions.relabel, calendar=calendar)))
    app.router.add_post(f"{base}/reply", _reply)
    app.router.add_post(f"{base}/waiting", _route(ticket_actions.wait))
    app.router.add_post(f"{base}/resolve", _route(partial(ticket_actions.resolve,
                                                          calendar=calendar)))
    app.router.add_post(f"{base}/reassign", _route(ticket_actions.reassign))
    app.router.add_put("/api/v1/me/status", my_status)
