"""The staff API's OpenAPI 3.1 document, served at ``/api/v1/openapi.json``.

Tests keep it true: every ``/api/v1`` route of the app is described here and nothing else is
(``tests/e2e/test_staff_api.py``), and schemathesis drives the running app from it, checking
that every answer's status, content type and body are the documented ones
(``tests/e2e/test_openapi_conformance.py``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from desk.queue_filters import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    PRIORITIES,
    SCOPES,
    TICKET_STATUSES,
)
from router.rules import CATEGORIES
from router.staff import STATUSES

_JSON = "application/json"
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_TICKET_REF = {"$ref": "#/components/schemas/Ticket"}
_ERRORS = {
    400: "malformed request: bad JSON, a missing or wrong field, a bad filter",
    401: "no bearer token, or an unknown one",
    403: "the ticket is visible but the action is not yours to take",
    404: "no such ticket, or one the caller may not see",
    409: "the ticket's state does not allow it (closed, assigned to another, at capacity)",
}
_TICKET_ID = {"name": "ticket_id", "in": "path", "required": True,
              "description": "numeric id or number (CSKH-000042)", "schema": {"type": "string"}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_STR, _INT, _NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}
_TIME = _nullable({"type": "string", "format": "date-time"})
_NAMED = {"type": "object", "required": ["id", "name"],
          "properties": {"id": _INT, "name": _STR}}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


MESSAGE = _object(
    ["id", "direction", "channel", "external_id", "sender", "subject", "text", "attachments",
     "sent_at", "received_at"],
    id=_INT, direction={"enum": ["inbound", "outbound"]}, channel=_STR, external_id=_STR,
    sender=_object(["name", "email", "phone"], name=_nullable(_STR), email=_nullable(_STR),
                   phone=_nullable(_STR)),
    subject=_nullable(_STR), text=_STR, attachments={"type": "array", "items": {"type": "object"}},
    sent_at=_TIME, received_at=_TIME)

TICKET = _object(
    ["id", "number", "status", "channel", "category", "priority", "sentiment", "queue",
     "assignee", "customer", "subject", "created_at", "first_response_due", "resolution_due",
     "messages"],
    id=_INT, number=_STR, status={"enum": list(TICKET_STATUSES)}, channel=_STR,
    category={"enum": list(CATEGORIES)}, category_confidence=_NUM,
    needs_review={"type": "boolean"}, priority={"enum": list(PRIORITIES)},
    priority_confidence=_NUM, sentiment=_STR, sentiment_confidence=_NUM,
    entities={"type": "object"}, queue=_nullable(_STR), assignee=_nullable(_NAMED),
    customer=_nullable(_object(["id", "name", "tax_code", "tier"], id=_INT, name=_STR,
                               tax_code=_nullable(_STR), tier=_STR)),
    contact=_nullable(_object(["id", "name", "email", "phone"], id=_INT, name=_nullable(_STR),
                              email=_nullable(_STR), phone=_nullable(_STR))),
    subject=_nullable(_STR), created_at=_TIME, updated_at=_TIME, first_response_due=_TIME,
    resolution_due=_TIME, messages={"type": "array", "items": {"$ref": "#/components/schemas/"
                                                                       "Message"}})

QUEUE_PAGE = _object(
    ["staff", "count", "total", "next_offset", "tickets"], staff=_NAMED,
    count={"type": "integer", "minimum": 0}, total={"type": "integer", "minimum": 0},
    next_offset=_nullable({"type": "integer", "minimum": 1}),
    tickets={"type": "array", "items": _TICKET_REF})

MY_STATUS = _object(["id", "name", "status", "shift", "on_shift", "assigned"], id=_INT,
                    name=_STR, status={"enum": list(STATUSES)},
                    shift={**_nullable(_STR), "description": "weekly shift, e.g. "
                           "'mon-sat 07:30-11:30,13:00-17:00'; null: always on shift"},
                    on_shift={"type": "boolean"},
                    assigned={"type": "array", "items": _STR})


def _answers(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": {_JSON: {"schema": ok}}}}
    for status in sorted({401, *errors}):
        out[str(status)] = {"description": _ERRORS[status],
                            "content": {_JSON: {"schema": _ERROR_REF}}}
    return out


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON: {"schema": schema}}}


def _action(summary: str, *errors: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ticket action; every one may answer 400 for a body that is not a JSON object."""
    op: dict[str, Any] = {"summary": summary, "parameters": [_TICKET_ID],
                          "responses": _answers(_TICKET_REF, 400, 403, 404, *errors)}
    if body is not None:
        op["requestBody"] = _body(body)
    return op


def _list(name: str, item: dict[str, Any], what: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "style": "form",
            "explode": False, "description": f"{what} (comma-separated: any of them)",
            "schema": {"type": "array", "items": item, "minItems": 1}}


def _query(name: str, schema: dict[str, Any], what: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": what,
            "schema": schema}


_NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}
QUEUE_PARAMETERS = [
    _query("scope", {"enum": list(SCOPES), "default": "mine"},
           "mine: tickets assigned to me; visible: every ticket I may see (an agent: mine "
           "and those waiting unassigned in my queues; a lead: my queues; an admin: all)"),
    _list("status", {"enum": list(TICKET_STATUSES)},
          "ticket statuses; default the active ones (assigned, open, waiting)"),
    _list("category", {"enum": list(CATEGORIES)}, "categories"),
    _list("priority", {"enum": list(PRIORITIES)}, "priorities"),
    _list("channel", _NAME, "channels"),
    _list("queue", _NAME, "queues"),
    _query("breached", {"enum": ["true", "false"]},
           "true: a deadline has passed unmet (or was met late); false: none has"),
    _query("due_before", {"type": "string", "format": "date-time"},
           "resolution due before this instant (with a UTC offset)"),
    _query("q", {"type": "string", "maxLength": MAX_QUERY_CHARS},
           "words that must all appear in the subject or a message; case and Vietnamese "
           "diacritics are ignored both ways (giao hang finds giao hàng)"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                     "default": DEFAULT_LIMIT}, "page size"),
    _query("offset", {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
           "tickets to skip (next_offset of the previous page)"),
]

_TEXT_BODY = {"type": "object", "required": ["text"], "properties": {"text": _STR}}
_STAFF_BODY = {"type": "object", "required": ["staff"],
               "properties": {"staff": {**_STR, "description": "the officer's name"}}}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "cskh-inbox staff API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Ticket": TICKET, "Message": MESSAGE,
                    "Error": _object(["error", "reason"], error=_STR, reason=_STR)},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/queue": {"get": {
            "summary": "My tickets, filtered, earliest resolution due first",
            "description": "Unknown parameters and bad values answer 400 with the reason.",
            "parameters": QUEUE_PARAMETERS,
            "responses": _answers(QUEUE_PAGE, 400)}},
        "/api/v1/tickets/{ticket_id}": {
            "get": {"summary": "One ticket with its messages", "parameters": [_TICKET_ID],
                    "responses": _answers(_TICKET_REF, 404)},
            "patch": _action("Correct category and/or priority (a training example)",
                             body={"type": "object", "minProperties": 1, "properties": {
                                 "category": {"enum": list(CATEGORIES)},
                                 "priority": {"enum": list(PRIORITIES)}}}),
        },
        "/api/v1/tickets/{ticket_id}/claim": {"post": _action(
            "Take an unassigned ticket of one of my queues", 409)},
        "/api/v1/tickets/{ticket_id}/reply": {"post": _action(
            "Reply on the customer's channel (emitted on cskh.outbound)", 409,
            body=_TEXT_BODY)},
        "/api/v1/tickets/{ticket_id}/waiting": {"post": _action(
            "Wait on the customer: SLA clocks pause", 409)},
        "/api/v1/tickets/{ticket_id}/resolve": {"post": _action("Resolve", 409)},
        "/api/v1/tickets/{ticket_id}/reassign": {"post": _action(
            "Hand to another officer of the queue (leads); 400 for an unknown officer", 409,
            body=_STAFF_BODY)},
        "/api/v1/me/status": {"put": {
            "summary": "My availability; coming online on shift takes waiting tickets",
            "requestBody": _body({"type": "object", "required": ["status"], "properties": {
                "status": {"enum": list(STATUSES)}}}),
            "responses": _answers(MY_STATUS, 400)}},
        "/api/v1/stream": {"get": {
            "summary": "Server-sent events: my new assignments and SLA warnings",
            "parameters": [{"name": "Last-Event-ID", "in": "header", "required": False,
                            "description": "resume after this event id "
                                           "(<assignment id>.<sla event id>)",
                            "schema": {"type": "string", "pattern": r"^\d{1,19}\.\d{1,19}$"}}],
            "responses": {
                "200": {"description": "an endless text/event-stream",
                        "content": {"text/event-stream": {"schema": _STR}}},
                "400": {"description": "Last-Event-ID is not an id of this stream",
                        "content": {_JSON: {"schema": _ERROR_REF}}},
                "401": {"description": _ERRORS[401],
                        "content": {_JSON: {"schema": _ERROR_REF}}}}}},
        "/api/v1/openapi.json": {"get": {
            "summary": "This document", "security": [],
            "responses": {"200": {"description": "OK",
                                  "content": {_JSON: {"schema": {"type": "object"}}}}}}},
    },
}


async def openapi(_request: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``."""
    return web.json_response(DOCUMENT)
