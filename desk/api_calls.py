"""``POST /api/v1/tickets/{id}/call``: click-to-call a hotline ticket's customer through the
cloud PBX (``CSKH_HOTLINE_CALL_URL``, ``connectors.hotline_call``).

The PBX rings the officer, then the customer; the officer records the outcome afterwards
(``POST …/callback``). Answers ``{"ticket", "number", "call_id"}``; 404 for a ticket the
caller may not see, 403 for who may not act on it, 409 ``not_a_call`` off the hotline,
``no_number`` (a withheld number), ``click_to_call_off`` without a PBX, 502 when the PBX is
away (``pbx_unavailable``) or refuses (``pbx_refused``), its reason as given.

``call_customer`` is the rule itself: the API route and the ticket page's "call" button
(``desk.ticket_page``) both place calls through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.api import SESSIONS, ticket_key
from desk.auth import authenticate, visible
from desk.json_answers import json_response
from desk.ticket_actions import Actor
from router import actions
from router.callbacks import HOTLINE, callback_number
from storage.log_events import LogEvent
from storage.models import Contact, Staff, Ticket

log = structlog.get_logger(__name__)
# (number, officer's name, officer's e-mail, ticket number) → the PBX's call id; raises
# ConnectionError (PBX away) or ValueError (refused).
PlaceCall = Callable[[str, str, str | None, str], Awaitable[str]]
PLACE_CALL: web.AppKey[PlaceCall] = web.AppKey("desk.place_call")
PBX_UNAVAILABLE, PBX_REFUSED = "pbx_unavailable", "pbx_refused"


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """A call the PBX accepted: the ticket's number, the number rung, the PBX's call id."""

    ticket: str
    number: str
    call_id: str


def click_to_call_on(app: web.Application) -> bool:
    """Whether calls can be placed through a PBX (``CSKH_HOTLINE_CALL_URL`` is set)."""
    return app.get(PLACE_CALL) is not None


async def call_customer(app: web.Application, who: Actor, raw_key: str) -> PlacedCall:
    """Ask the PBX to connect the officer ``who`` loads with the customer of hotline ticket
    ``raw_key`` (id or number). Refusals are ``ActionError``s with the codes of the module
    docstring (502 ones carry the PBX's reason as given, never its secret); it records nothing
    on the ticket (the officer records the outcome as a callback)."""
    async with app[SESSIONS]() as session:
        staff = await who(session)
        key = ticket_key(raw_key)
        ticket = None if key is None else await session.scalar(
            select(Ticket).where(Ticket.id == key, visible(staff)))
        if ticket is None:
            raise actions.ActionError(404, "not_found", "no such ticket")
        if ticket.channel != HOTLINE:
            raise actions.ActionError(409, "not_a_call", "only hotline tickets are called")
        if not actions.may_act(staff, ticket):
            raise actions.ActionError(403, "not_allowed",
                                      "only the assignee or a lead may call the customer")
        contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
        number = callback_number(ticket, contact)
        agent, email, reference = staff.name, staff.email, ticket.number
    if number is None:
        raise actions.ActionError(409, "no_number", "the caller's number was withheld")
    place = app.get(PLACE_CALL)
    if place is None:
        raise actions.ActionError(409, "click_to_call_off",
                                  f"no cloud PBX is set (CSKH_HOTLINE_CALL_URL): dial {number}")
    try:
        call_id = await place(number, agent, email, reference)
    except (ConnectionError, ValueError) as exc:
        log.warning(LogEvent.CALL_FAILED, ticket_id=key, reason=str(exc)[:300])
        code = PBX_UNAVAILABLE if isinstance(exc, ConnectionError) else PBX_REFUSED
        raise actions.ActionError(502, code, str(exc)[:500]) from exc
    log.info(LogEvent.CALL_PLACED, ticket_id=key, call_id=call_id, staff=agent)
    return PlacedCall(reference, number, call_id)


async def place_call(request: web.Request) -> web.Response:
    """Place the call; see the module docstring."""
    async def caller(session: AsyncSession) -> Staff:
        return await authenticate(request, session)

    try:
        placed = await call_customer(request.app, caller, request.match_info["ticket_id"])
    except actions.ActionError as exc:
        return json_response({"error": exc.code, "reason": exc.reason}, status=exc.status)
    return json_response({"ticket": placed.ticket, "number": placed.number,
                          "call_id": placed.call_id})


def add_call_routes(app: web.Application, place: PlaceCall | None) -> None:
    """Mount the click-to-call route; ``place`` None: it answers 409 ``click_to_call_off``."""
    if place is not None:
        app[PLACE_CALL] = place
    app.router.add_post("/api/v1/tickets/{ticket_id}/call", place_call)
