"""The staff API: bearer-token officers read their queue and their tickets.

An agent sees the tickets assigned to them or waiting in one of their queues; a lead sees their
queues; an admin sees everything. A ticket one may not see answers 404, never 403, so that
ticket numbers cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from sqlalchemy import func, select

from desk.auth import authenticate, visible
from desk.json_answers import json_error, json_response
from desk.kb import suggested, ticket_text
from desk.queue_filters import FilterError, QueueQuery
from desk.views import tickets_json
from desk.warranty import match_ticket
from router.calendars import QueueCalendars
from storage.db import SessionFactory
from storage.models import Ticket

SESSIONS = web.AppKey("router.sessions", SessionFactory)
# sessions that only read (storage.db.read_session_factory); SESSIONS where none is set
READ_SESSIONS = web.AppKey("desk.read_sessions", SessionFactory)


def read_sessions(app: web.Application) -> SessionFactory:
    """The app's read-only sessions, else its ordinary ones."""
    return app.get(READ_SESSIONS) or app[SESSIONS]
Clock = Callable[[], datetime]
CLOCK: web.AppKey[Clock] = web.AppKey("router.clock")
# Optional, set before the routes are added: the SLA calendar of each queue.
CALENDARS: web.AppKey[QueueCalendars] = web.AppKey("router.calendars", QueueCalendars)


async def my_queue(request: web.Request) -> web.Response:
    """``GET /api/v1/queue``: the caller's tickets, filtered, earliest resolution due first.

    Without filters: the caller's active assigned tickets. A bad filter answers 400 with the
    reason; see ``router.queue_filters`` for the parameters.
    """
    params = {name: request.query.getall(name) for name in request.query}
    async with request.app[SESSIONS]() as session:
        staff = await authenticate(request, session)
        try:
            query = QueueQuery.parse(params)
        except FilterError as exc:
            return json_response({"error": "invalid_filter", "reason": str(exc)},
                                     status=400)
        where = query.where(staff, request.app[CLOCK]())
        total = int(await session.scalar(select(func.count(Ticket.id)).where(where)) or 0)
        tickets = list(await session.scalars(
            select(Ticket).where(where)
            .order_by(Ticket.resolution_due.is_(None), Ticket.resolution_due, Ticket.id)
            .limit(query.limit).offset(query.offset)
        ))
        body = await tickets_json(session, tickets)
    end = query.offset + len(body)
    return json_response({"staff": {"id": staff.id, "name": staff.name},
                              "count": len(body), "total": total,
                              "next_offset": end if end < total else None,
                              "tickets": body})


MAX_ID = 2**63 - 1  # BIGINT; SQLite's INTEGER too


def ticket_key(raw: str) -> int | None:
    """The ticket id in a path segment: ``42`` or ``CSKH-000042``; ``None`` if it is no id."""
    value = raw.upper().removeprefix("CSKH-")
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    number = int(value)
    return number if number <= MAX_ID else None


async def ticket_detail(request: web.Request) -> web.Response:
    """``GET /api/v1/tickets/{id}`` (id or number): one ticket with its messages, or 404."""
    async with request.app[SESSIONS]() as session:
        staff = await authenticate(request, session)
        key = ticket_key(request.match_info["ticket_id"])
        ticket = None if key is None else await session.scalar(
            select(Ticket).where(Ticket.id == key, visible(staff))
        )
        if ticket is None:
            raise json_error(web.HTTPNotFound, "not_found", "no such ticket")
        body = (await tickets_json(session, [ticket]))[0]
        body["warranty"] = await match_ticket(session, ticket)
        body["articles"] = await suggested(session, ticket.category, ticket_text(
            ticket.subject, [m["text"] for m in body["messages"]
                             if m["direction"] == "inbound"]))
    return json_response(body)
