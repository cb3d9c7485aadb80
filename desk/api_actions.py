"""Staff API actions on one ticket, and the caller's own status.

Every route answers the ticket's new API form, 404 for a ticket the caller may not see, 400
for a malformed body and the action's own 403/409 with a JSON reason. The work is
``desk.ticket_actions`` (shared with the CLI): a reply is emitted on ``cskh.outbound`` only
after it is committed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from desk import ticket_actions
from desk.api import CALENDARS, CLOCK, SESSIONS, ticket_key
from desk.auth import authenticate
from desk.json_answers import json_response
from desk.text_input import unstorable
from desk.ticket_actions import Action, Actor, act_on_ticket
from normalizer.threads import DEFAULT_MAIL_DOMAIN
from router import actions
from router.deadlines import DEFAULT_CALENDAR
from router.events import OutboundMessage
from router.shifts import on_shift
from storage.models import Staff, Ticket

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
        if "Idempotency-Key" in request.headers:  # a reply posted again is stored once
            body["idempotency_key"] = request.headers["Idempotency-Key"]
        return staff

    try:
        result = await act_on_ticket(
            request.app[SESSIONS], request.app[PUBLISH_OUTBOUND],
            ticket_key(request.match_info["ticket_id"]), caller, action, body,
            request.app[CLOCK]())
    except actions.ActionError as exc:
        return _error(exc.status, exc.code, exc.reason)
    return json_response(result)


async def perform(request: web.Request, who: Actor, raw_key: str, action: Action,
                  body: dict[str, Any]) -> dict[str, Any]:
    """Run ``action`` on the ticket ``raw_key`` (id or number) as the staff member ``who``
    loads (``desk.ticket_actions.act_on_ticket``): the ticket page acts through this, like
    the API routes and the CLI."""
    return await act_on_ticket(request.app[SESSIONS], request.app[PUBLISH_OUTBOUND],
                               ticket_key(raw_key), who, action, body, request.app[CLOCK]())


async def _retry(request: web.Request) -> web.Response:
    raw = request.match_info["message_id"]

    async def retry(s: AsyncSession, staff: Staff, t: Ticket, _b: dict[str, Any],
                    now: datetime) -> OutboundMessage:
        return await ticket_actions.retry(s, staff, t, {"message_id": raw}, now)

    return await _act(request, retry)


def _route(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    # The action is looked up per request: the mail domain and calendars are put on the app
    # at startup, after the routes are mounted.
    async def handler(request: web.Request) -> web.Response:
        return await _act(request, actions_by_name(request.app)[name])

    return handler


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


def actions_by_name(app: web.Application) -> dict[str, Action]:
    """Every ticket action by name, with the app's calendars and mail domain: what the API
    routes and the ticket page's forms run."""
    calendar = app.get(CALENDARS, DEFAULT_CALENDAR)
    domain = app.get(MAIL_DOMAIN, DEFAULT_MAIL_DOMAIN)
    ta = ticket_actions
    return {"claim": ta.claim, "relabel": partial(ta.relabel, calendar=calendar),
            "reply": partial(ta.reply, mail_domain=domain), "note": ta.note,
            "waiting": ta.wait, "resume": partial(ta.resume, calendar=calendar),
            "resolve": partial(ta.resolve, calendar=calendar),
            "reopen": partial(ta.reopen, calendar=calendar), "reassign": ta.reassign,
            "retry": ta.retry, "merge": ta.merge,
            "callback": partial(ta.callback, calendar=calendar)}


def add_action_routes(app: web.Application) -> None:
    """Mount the action routes (by the time a request comes, ``app`` must hold SESSIONS,
    CLOCK and PUBLISH_OUTBOUND; the actions are ``actions_by_name``'s, read per request)."""
    base = "/api/v1/tickets/{ticket_id}"
    app.router.add_patch(base, _route("relabel"))
    app.router.add_post(f"{base}/messages/{{message_id}}/retry", _retry)
    for name, path in (("claim", "claim"), ("reply", "reply"), ("waiting", "waiting"),
                       ("resume", "resume"), ("note", "notes"), ("reopen", "reopen"),
                       ("resolve", "resolve"), ("reassign", "reassign"),
                       ("callback", "callback"), ("merge", "merge")):
        app.router.add_post(f"{base}/{path}", _route(name))
    app.router.add_put("/api/v1/me/status", my_status)
