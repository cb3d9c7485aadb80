"""``GET /api/v1/stream``: my new assignments as server-sent events.

Each event carries the assignment's id, so a client that reconnects with ``Last-Event-ID``
misses nothing. A comment line every few seconds keeps proxies from closing the stream. The
stream ends when the service shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web
from sqlalchemy import func, select

from router.api import SESSIONS
from router.auth import authenticate
from storage.models import Assignment, Ticket

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
    """Stream ``assignment`` events for the caller until the client or the service leaves."""
    sessions, stopping = request.app[SESSIONS], request.app[STOPPING]
    async with sessions() as session:
        staff = await authenticate(request, session)
        resume = request.headers.get("Last-Event-ID", "")
        last = int(resume) if resume.isdigit() else int(await session.scalar(
            select(func.coalesce(func.max(Assignment.id), 0))
            .where(Assignment.staff_id == staff.id)) or 0)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b": connected\n\n")
    idle = 0
    while not stopping.is_set():
        async with sessions() as session:
            rows = (await session.execute(
                select(Assignment, Ticket).join(Ticket, Ticket.id == Assignment.ticket_id)
                .where(Assignment.staff_id == staff.id, Assignment.id > last)
                .order_by(Assignment.id))).all()
        for assignment, ticket in rows:
            data = {"ticket_id": ticket.id, "number": ticket.number, "queue": assignment.queue,
                    "reason": assignment.reason, "category": ticket.category,
                    "priority": ticket.priority, "subject": ticket.subject,
                    "assigned_at": assignment.assigned_at.isoformat()}
            await response.write(f"id: {assignment.id}\nevent: assignment\ndata: "
                                 f"{json.dumps(data, ensure_ascii=False)}\n\n".encode())
            last = assignment.id
        idle = 0 if rows else idle + 1
        if idle >= HEARTBEAT_EVERY / POLL_SECONDS:
            await response.write(b": keep-alive\n\n")
            idle = 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), POLL_SECONDS)
    return response
