"""Who is calling the staff API, and which tickets they may see."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession

from desk.json_answers import json_error
from router.staff import staff_by_token
from storage.models import Staff, Ticket


def unauthorized(reason: str) -> web.HTTPUnauthorized:
    return json_error(web.HTTPUnauthorized, "unauthorized", reason,
                      headers={"WWW-Authenticate": 'Bearer realm="cskh"'})


async def authenticate(request: web.Request, session: AsyncSession) -> Staff:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("a bearer token is required")
    staff = await staff_by_token(session, token.strip())
    if staff is None:
        raise unauthorized("unknown token")
    return staff


def visible(staff: Staff) -> Any:
    """A WHERE clause selecting the tickets ``staff`` may see."""
    if staff.role == "admin":
        return Ticket.id.is_not(None)
    queues = [q.name for q in staff.queues]
    if staff.role == "lead":
        return or_(Ticket.queue.in_(queues), Ticket.assignee_id == staff.id)
    return or_(Ticket.assignee_id == staff.id,
               (Ticket.queue.in_(queues)) & (Ticket.assignee_id.is_(None)))
