"""Staff API of canned answers: officers read their queues' answers, leads keep them.

``GET /api/v1/answers`` lists what the caller may insert (their queues; an admin: all);
``POST``, ``PATCH /{id}`` and ``DELETE /{id}`` are for a lead of the answer's queue or an
admin (403 otherwise). An answer of a queue the caller does not serve answers 404, like a
ticket. ``GET /api/v1/tickets/{id}/answers`` gives the answers of the ticket's queue with the
placeholders filled for that ticket and the caller.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.answers import (
    AnswerError,
    answer_json,
    create_answer,
    delete_answer,
    find_answers,
    readable_queues,
    render_answer,
    update_answer,
    visible_answer,
)
from desk.api import CLOCK, SESSIONS, ticket_key
from desk.auth import authenticate, visible
from desk.json_answers import json_response
from desk.text_input import unstorable
from storage.models import Contact, Customer, Staff, Ticket

MAX_LIMIT = 200


def _error(exc: AnswerError) -> web.Response:
    return json_response({"error": exc.code, "reason": exc.reason}, status=exc.status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.read() or b"{}")
    except (ValueError, RecursionError) as exc:
        raise AnswerError(400, "invalid_json", f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AnswerError(400, "invalid_json", "the body must be a JSON object")
    reason = unstorable(data)
    if reason:
        raise AnswerError(400, "invalid_text", reason)
    return data


def _query(request: web.Request) -> tuple[str, int]:
    for name, value in request.query.items():
        reason = unstorable(value, where=name)
        if reason:
            raise AnswerError(400, "invalid_filter", reason)
    text = request.query.get("q", "")
    raw = request.query.get("limit", "50")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise AnswerError(400, "invalid_filter", f"limit must be 1..{MAX_LIMIT}")
    return text, int(raw)


def _answer_id(request: web.Request) -> int:
    raw = request.match_info["answer_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise AnswerError(404, "not_found", "no such answer")
    return int(raw)


async def list_answers(request: web.Request) -> web.Response:
    """``GET /api/v1/answers[?queue=Q][&q=words][&limit=N]``: answers the caller may insert."""
    try:
        async with request.app[SESSIONS]() as session:
            staff = await authenticate(request, session)
            text, limit = _query(request)
            queues = readable_queues(staff)
            wanted = request.query.get("queue")
            if wanted is not None:
                queues = [wanted] if queues is None or wanted in queues else []
            found = await find_answers(session, queues, text, limit=limit)
            return json_response({"answers": [answer_json(a) for a in found]})
    except AnswerError as exc:
        return _error(exc)


Change = Callable[[AsyncSession, Staff, web.Request], Awaitable[web.Response]]


async def _change(request: web.Request, change: Change) -> web.Response:
    try:
        async with request.app[SESSIONS]() as session, session.begin():
            staff = await authenticate(request, session)
            return await change(session, staff, request)
    except AnswerError as exc:
        return _error(exc)


async def _create(session: AsyncSession, staff: Staff, request: web.Request) -> web.Response:
    answer = await create_answer(session, staff, await _body(request), request.app[CLOCK]())
    return json_response(answer_json(answer), status=201)


async def _update(session: AsyncSession, staff: Staff, request: web.Request) -> web.Response:
    answer = await visible_answer(session, staff, _answer_id(request))
    answer = await update_answer(session, staff, answer, await _body(request),
                                 request.app[CLOCK]())
    return json_response(answer_json(answer))


async def _delete(session: AsyncSession, staff: Staff, request: web.Request) -> web.Response:
    await delete_answer(session, staff, await visible_answer(session, staff, _answer_id(request)))
    return web.Response(status=204)


async def placeholder_values(session: AsyncSession, ticket: Ticket,
                             staff: Staff) -> dict[str, str | None]:
    """What the placeholders of an answer stand for on ``ticket`` answered by ``staff``: the
    customer's company (else the contact's name), the ticket number, the officer's name."""
    customer = await session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    name = customer.name if customer else contact.name if contact else None
    return {"khach_hang": name, "so_phieu": ticket.number, "nhan_vien": staff.name}


async def rendered_answers(session: AsyncSession, staff: Staff, ticket: Ticket, query: str,
                           limit: int) -> list[dict[str, Any]]:
    """The answers of ``ticket``'s queue matching ``query``, filled in for it (each with
    ``rendered``); the page's answer search calls this too."""
    found = await find_answers(session, [ticket.queue or "cskh"], query, limit=limit)
    values = await placeholder_values(session, ticket, staff)
    return [{**answer_json(a), "rendered": render_answer(a.text, values)} for a in found]


async def ticket_answers(request: web.Request) -> web.Response:
    """``GET /api/v1/tickets/{id}/answers[?q=words]``: the ticket's queue's answers, filled in."""
    try:
        async with request.app[SESSIONS]() as session:
            staff = await authenticate(request, session)
            text, limit = _query(request)
            key = ticket_key(request.match_info["ticket_id"])
            ticket = None if key is None else await session.scalar(
                select(Ticket).where(Ticket.id == key, visible(staff)))
            if ticket is None:
                raise AnswerError(404, "not_found", "no such ticket")
            body = await rendered_answers(session, staff, ticket, text, limit)
            return json_response({"ticket": ticket.number, "answers": body})
    except AnswerError as exc:
        return _error(exc)


def _route(change: Change) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return await _change(request, change)

    return handler


def add_answer_routes(app: web.Application) -> None:
    """Mount the canned-answer routes (``app`` must hold SESSIONS and CLOCK)."""
    app.router.add_get("/api/v1/answers", list_answers)
    app.router.add_post("/api/v1/answers", _route(_create))
    app.router.add_patch("/api/v1/answers/{answer_id}", _route(_update))
    app.router.add_delete("/api/v1/answers/{answer_id}", _route(_delete))
    app.router.add_get("/api/v1/tickets/{ticket_id}/answers", ticket_answers)
