"""``GET /api/v1/stream``: my new assignments and SLA warnings as server-sent events.

``assignment`` events are the caller's new tickets; ``sla`` events are warnings (80% of a
budget) and breaches on the caller's tickets and, for a lead, on their queues' tickets. Each
event's id is the cursor ``<assignment id>.<sla event id>``, so a client that reconnects with
``Last-Event-ID`` misses nothing. A comment line every few seconds keeps proxies from closing
the stream. The stream ends when the service shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import func, or_, select

from desk.api import SESSIONS
from desk.auth import authenticate
from desk.json_answers import dumps, json_response
from storage.log_events import LogEvent
from storage.models import Assignment, SlaEvent, Ticket

log = structlog.get_logger(__name__)
STOPPING = web.AppKey("router.stopping", asyncio.Event)
POLL_SECONDS = 1.0
HEARTBEAT_EVERY = 15


async def _signal_stop(app: web.Application) -> None:
    app[STOPPING].set()


def install(app: web.Application) -> None:
    """Give ``app`` the shutdown signal the streams listen for."""
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_signal_stop)


async def my_stream(request: web.Request) -> web.StreamResponse:
    """Stream ``assignment`` events for the caller until the client or the service leaves.

    A client that leaves ends its stream quietly: one ``stream.client_left`` event, no
    traceback."""
    sessions = request.app[SESSIONS]
    async with sessions() as session:
        staff = await authenticate(request, session)
        queues = [q.name for q in staff.queues] if staff.role in ("lead", "admin") else []
        mine = or_(SlaEvent.assignee_id == staff.id, SlaEvent.queue.in_(queues))
        if staff.role == "admin":
            mine = SlaEvent.id.is_not(None)
        last_event_id = request.headers.get("Last-Event-ID", "").strip()
        cursor = _cursor(last_event_id)
        if last_event_id and cursor is None:
            # Before the stream starts: an id we never sent is a 400, not a stream cut later.
            return json_response(
                {"error": "invalid_last_event_id",
                 "reason": "Last-Event-ID must be an id of this stream: "
                           "<assignment id>.<sla event id>, each a number below 2^63"},
                status=400)
        if cursor is None:
            cursor = (
                int(await session.scalar(select(func.coalesce(func.max(Assignment.id), 0))
                                         .where(Assignment.staff_id == staff.id)) or 0),
                int(await session.scalar(select(func.coalesce(func.max(SlaEvent.id), 0))
                                         .where(mine)) or 0))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    with client_left_quietly(request, staff.id):
        await _stream(request, response, staff.id, mine, cursor)
    return response


@contextlib.contextmanager
def client_left_quietly(request: web.Request, staff_id: int) -> Iterator[None]:
    """Turn a client that left an event stream into one ``stream.client_left`` info event.

    A closed tab or a dropped connection shows as aiohttp's ``ClientConnectionResetError``
    (a ``ConnectionResetError``) on the next write: normal, never a traceback. Any other
    error still propagates."""
    try:
        yield
    except ConnectionResetError:
        log.info(LogEvent.STREAM_CLIENT_LEFT, staff_id=staff_id, path=request.path)


async def _stream(request: web.Request, response: web.StreamResponse, staff_id: int,
                  mine: Any, cursor: tuple[int, int]) -> None:
    sessions, stopping = request.app[SESSIONS], request.app[STOPPING]
    await response.write(b": connected\n\n")
    last_assignment, last_sla = cursor
    idle = 0
    while not stopping.is_set():
        events: list[tuple[str, dict[str, object]]] = []
        async with sessions() as session:
            for assignment, ticket in (await session.execute(
                    select(Assignment, Ticket).join(Ticket, Ticket.id == Assignment.ticket_id)
                    .where(Assignment.staff_id == staff_id, Assignment.id > last_assignment)
                    .order_by(Assignment.id))).all():
                last_assignment = assignment.id
                events.append(("assignment", {
                    "ticket_id": ticket.id, "number": ticket.number, "queue": assignment.queue,
                    "reason": assignment.reason, "category": ticket.category,
                    "priority": ticket.priority, "subject": ticket.subject,
                    "assigned_at": assignment.assigned_at.isoformat()}))
            for sla, ticket in (await session.execute(
                    select(SlaEvent, Ticket).join(Ticket, Ticket.id == SlaEvent.ticket_id)
                    .where(mine, SlaEvent.id > last_sla).order_by(SlaEvent.id))).all():
                last_sla = sla.id
                events.append(("sla", {
                    "ticket_id": ticket.id, "number": ticket.number, "queue": sla.queue,
                    "clock": sla.clock, "kind": sla.kind, "used": sla.fraction,
                    "priority": ticket.priority, "at": sla.at.isoformat()}))
        for name, data in events:
            await response.write(f"id: {last_assignment}.{last_sla}\nevent: {name}\ndata: "
                                 f"{dumps(data)}\n\n".encode())
        idle = 0 if events else idle + 1
        if idle >= HEARTBEAT_EVERY / POLL_SECONDS:
            await response.write(b": keep-alive\n\n")
            idle = 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), POLL_SECONDS)


MAX_ID = 2**63 - 1  # BIGINT; SQLite's INTEGER too


def _cursor(value: str) -> tuple[int, int] | None:
    """The ``<assignment id>.<sla event id>`` of an event id, or ``None`` if it is none."""
    first, _, second = value.partition(".")
    numbers = []
    for part in (first, second):
        if not (part.isascii() and part.isdigit()) or len(part) > 19 or int(part) > MAX_ID:
            return None
        numbers.append(int(part))
    return numbers[0], numbers[1]
