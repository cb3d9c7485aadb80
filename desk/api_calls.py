"""``POST /api/v1/tickets/{id}/call``: click-to-call a hotline ticket's customer through the
cloud PBX (``CSKH_HOTLINE_CALL_URL``, ``connectors.hotline_call``).

The PBX rings the officer, then the customer; the officer records the outcome afterwards
(``POST …/callback``). Answers ``{"ticket", "number", "call_id"}``; 404 for a ticket the
caller may not see, 403 for who may not act on it, 409 ``not_a_call`` off the hotline,
``no_number`` (a withheld number), ``click_to_call_off`` without a PBX, 502 when the PBX is
away or refuses (its reason as given).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from sqlalchemy import select

from desk.api import SESSIONS, ticket_key
from desk.auth import authenticate, visible
from desk.json_answers import json_error, json_response
from router import actions
from router.callbacks import HOTLINE, callback_number
from storage.log_events import LogEvent
from storage.models import Contact, Ticket

log = structlog.get_logger(__name__)
# (number, officer's name, officer's e-mail, ticket number) → the PBX's call id; raises
# ConnectionError (PBX away) or ValueError (refused).
PlaceCall = Callable[[str, str, str | None, str], Awaitable[str]]
PLACE_CALL: web.AppKey[PlaceCall] = web.AppKey("desk.place_call")


async def place_call(request: web.Request) -> web.Response:
    """Place the call; see the module docstring."""
    async with request.app[SESSIONS]() as session:
        staff = await authenticate(request, session)
        key = ticket_key(request.match_info["ticket_id"])
        ticket = None if key is None else await session.scalar(
            select(Ticket).where(Ticket.id == key, visible(staff)))
        if ticket is None:
            raise json_error(web.HTTPNotFound, "not_found", "no such ticket")
        if ticket.channel != HOTLINE:
            raise json_error(web.HTTPConflict, "not_a_call", "only hotline tickets are called")
        if not actions.may_act(staff, ticket):
            raise json_error(web.HTTPForbidden, "not_allowed",
                             "only the assignee or a lead may call the customer")
        contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
        number = callback_number(ticket, contact)
        agent, email, reference = staff.name, staff.email, ticket.number
    if number is None:
        raise json_error(web.HTTPConflict, "no_number", "the caller's number was withheld")
    place = request.app.get(PLACE_CALL)
    if place is None:
        raise json_error(web.HTTPConflict, "click_to_call_off",
                         f"no cloud PBX is set (CSKH_HOTLINE_CALL_URL): dial {number}")
    try:
        call_id = await place(number, agent, email, reference)
    except (ConnectionError, ValueError) as exc:
        log.warning(LogEvent.CALL_FAILED, ticket_id=key, reason=str(exc)[:300])
        raise json_error(web.HTTPBadGateway, "pbx_unavailable" if isinstance(
            exc, ConnectionError) else "pbx_refused", str(exc)[:500]) from exc
    log.info(LogEvent.CALL_PLACED, ticket_id=key, call_id=call_id, staff=agent)
    return json_response({"ticket": reference, "number": number, "call_id": call_id})


def add_call_routes(app: web.Application, place: PlaceCall | None) -> None:
    """Mount the click-to-call route; ``place`` None: it answers 409 ``click_to_call_off``."""
    if place is not None:
        app[PLACE_CALL] = place
    app.router.add_post("/api/v1/tickets/{ticket_id}/call", place_call)
