"""The staff API: bearer-token officers read their queue and their tickets.

An agent sees the tickets assigned to them or waiting in one of their queues; a lead sees their
queues; an admin sees everything. A ticket one may not see answers 404, never 403, so that
ticket numbers cannot be probed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.staff import ACTIVE_TICKET_STATUSES, staff_by_token
from storage.db import SessionFactory
from storage.models import Contact, Customer, Message, Staff, Ticket

SESSIONS = web.AppKey("router.sessions", SessionFactory)
_STAFF = "router.staff"


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def message_json(message: Message) -> dict[str, Any]:
    """The API form of a message."""
    return {
        "id": message.id,
        "direction": message.direction,
        "channel": message.channel,
        "external_id": message.external_id,
        "sender": {"name": message.sender_name, "email": message.sender_email,
                   "phone": message.sender_phone},
        "subject": message.subject,
        "text": message.text,
        "attachments": message.attachments.get("files", []),
        "sent_at": _iso(message.sent_at),
        "received_at": _iso(message.received_at),
    }


def ticket_json(ticket: Ticket, assignee: Staff | None, customer: Customer | None,
                contact: Contact | None, messages: list[Message]) -> dict[str, Any]:
    """The API form of a ticket, with its messages oldest first."""
    return {
        "id": ticket.id,
        "number": ticket.number,
        "status": ticket.status,
        "channel": ticket.channel,
        "category": ticket.category,
        "category_confidence": ticket.category_confidence,
        "needs_review": ticket.needs_review,
        "priority": ticket.priority,
        "sentiment": ticket.sentiment,
        "entities": ticket.entities,
        "queue": ticket.queue,
        "assignee": None if assignee is None else {"id": assignee.id, "name": assignee.name},
        "customer": None if customer is None else {
            "id": customer.id, "name": customer.name, "tax_code": customer.tax_code,
            "tier": customer.tier},
        "contact": None if contact is None else {
            "id": contact.id, "name": contact.name, "email": contact.email,
            "phone": contact.phone},
        "subject": ticket.subject,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "first_response_due": _iso(ticket.first_response_due),
        "resolution_due": _iso(ticket.resolution_due),
        "messages": [message_json(m) for m in messages],
    }


async def tickets_json(session: AsyncSession, tickets: list[Ticket]) -> list[dict[str, Any]]:
    """The API form of ``tickets``, loading their people and messages in a few queries."""
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    messages: dict[int, list[Message]] = {i: [] for i in ids}
    for m in await session.scalars(
        select(Message).where(Message.ticket_id.in_(ids)).order_by(Message.id)
    ):
        messages[m.ticket_id].append(m)

    async def by_id(model: Any, wanted: set[int | None]) -> dict[int, Any]:
        keys = [k for k in wanted if k is not None]
        if not keys:
            return {}
        return {row.id: row for row in await session.scalars(select(model).where(
            model.id.in_(keys)))}

    staff = await by_id(Staff, {t.assignee_id for t in tickets})
    customers = await by_id(Customer, {t.customer_id for t in tickets})
    contacts = await by_id(Contact, {t.contact_id for t in tickets})
    return [
        ticket_json(t, staff.get(t.assignee_id or 0), customers.get(t.customer_id or 0),
                    contacts.get(t.contact_id or 0), messages[t.id])
        for t in tickets
    ]


def _unauthorized(reason: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=f'{{"error": "unauthorized", "reason": "{reason}"}}',
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="cskh"'},
    )


async def _authenticate(request: web.Request, session: AsyncSession) -> Staff:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("a bearer token is required")
    staff = await staff_by_token(session, token.strip())
    if staff is None:
        raise _unauthorized("unknown token")
    return staff


def _visible(staff: Staff) -> Any:
    """A WHERE clause selecting the tickets ``staff`` may see."""
    if staff.role == "admin":
        return Ticket.id.is_not(None)
    queues = [q.name for q in staff.queues]
    if staff.role == "lead":
        return or_(Ticket.queue.in_(queues), Ticket.assignee_id == staff.id)
    return or_(Ticket.assignee_id == staff.id,
               (Ticket.queue.in_(queues)) & (Ticket.assignee_id.is_(None)))


async def my_queue(request: web.Request) -> web.Response:
    """``GET /api/v1/queue``: the caller's active assigned tickets, earliest due first."""
    async with request.app[SESSIONS]() as session:
        staff = await _authenticate(request, session)
        tickets = list(await session.scalars(
            select(Ticket).where(Ticket.assignee_id == staff.id,
                                 Ticket.status.in_(ACTIVE_TICKET_STATUSES))
            .order_by(Ticket.resolution_due.is_(None), Ticket.resolution_due, Ticket.id)
        ))
        body = await tickets_json(session, tickets)
    return web.json_response({"staff": {"id": staff.id, "name": staff.name},
                              "count": len(body), "tickets": body})


def _ticket_key(raw: str) -> int | None:
    value = raw.upper().removeprefix("CSKH-")
    return int(value) if value.isdigit() else None


async def ticket_detail(request: web.Request) -> web.Response:
    """``GET /api/v1/tickets/{id}`` (id or number): one ticket with its messages, or 404."""
    async with request.app[SESSIONS]() as session:
        staff = await _authenticate(request, session)
        key = _ticket_key(request.match_info["ticket_id"])
        ticket = None if key is None else await session.scalar(
            select(Ticket).where(Ticket.id == key, _visible(staff))
        )
        if ticket is None:
            raise web.HTTPNotFound(text='{"error": "not_found", "reason": "no such ticket"}',
                                   content_type="application/json")
        body = (await tickets_json(session, [ticket]))[0]
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    """Mount the staff API on ``app`` (which must hold ``SESSIONS``)."""
    app.router.add_get("/api/v1/queue", my_queue)
    app.router.add_get("/api/v1/tickets/{ticket_id}", ticket_detail)
