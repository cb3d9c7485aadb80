"""The staff API's OpenAPI 3.1 document, served at ``/api/v1/openapi.json``.

Tests keep it true: every ``/api/v1`` route of the app is described here and nothing else is
(``tests/e2e/test_staff_api.py``), and schemathesis drives the running app from it, checking
that every answer's status, content type and body are the documented ones
(``tests/e2e/test_openapi_conformance.py``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from desk.json_answers import json_response
from desk.queue_filters import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    PRIORITIES,
    SCOPES,
    TICKET_STATUSES,
)
from router.callbacks import OUTCOMES
from router.rules import CATEGORIES
from router.staff import STATUSES

_JSON = "application/json"
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_TICKET_REF = {"$ref": "#/components/schemas/Ticket"}
_ERRORS = {
    400: "malformed request: bad JSON, a missing or wrong field, a bad filter",
    401: "no bearer token, or an unknown one",
    403: "the ticket is visible but the action is not yours to take",
    404: "no such ticket (or answer), or one the caller may not see",
    409: "the ticket's state does not allow it (closed, assigned to another, at capacity); "
         "an answer's title already taken in its queue",
    422: "the idempotency key was already used for another reply",
    502: "the cloud PBX is away or refused the call (its reason as given)",
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


DELIVERY = _object(
    ["status", "provider_ids", "code", "reason", "reason_vi", "attempts", "updated_at"],
    status={"enum": ["pending", "sent", "failed"]},
    provider_ids={"type": "array", "items": _STR,
                  "description": "the provider's message ids, one per part sent"},
    code=_nullable({**_STR, "description": "why it failed: refused, window_closed (the "
                    "customer must write first), recipient_unavailable, token_invalid, "
                    "not_allowed, no_address, invalid, no_sender"}),
    reason=_nullable({**_STR, "description": "the failure as the provider gave it"}),
    reason_vi=_nullable({**_STR, "description": "the failure in Vietnamese"}),
    attempts={"type": "integer", "minimum": 0, "description": "retries asked by officers"},
    updated_at=_TIME)

MESSAGE = _object(
    ["id", "direction", "channel", "external_id", "sender", "subject", "text", "attachments",
     "sent_at", "received_at", "delivery"],
    id=_INT, direction={"enum": ["inbound", "outbound", "note"],
                        "description": "note: an internal note, never sent to the customer"},
    channel=_STR, external_id=_STR,
    sender=_object(["name", "email", "phone"], name=_nullable(_STR), email=_nullable(_STR),
                   phone=_nullable(_STR)),
    subject=_nullable(_STR), text=_STR, attachments={"type": "array", "items": {"type": "object"}},
    sent_at=_TIME, received_at=_TIME,
    delivery={**_nullable(DELIVERY), "description": "an outbound message's delivery; null "
              "on inbound messages (and replies stored before it was tracked)"},
    callback={**_nullable(_object(["outcome", "number"], outcome={"enum": list(OUTCOMES)},
                                  number=_nullable(_STR))),
              "description": "a hotline callback's outcome (the message is the officer's "
                             "note); null on other messages"})

TICKET = _object(
    ["id", "number", "status", "channel", "category", "priority", "sentiment", "queue",
     "assignee", "customer", "subject", "created_at", "first_response_due", "resolution_due",
     "messages"],
    id=_INT, number=_STR, status={"enum": list(TICKET_STATUSES)},
    kind={"enum": ["customer", "care", "maintenance"], "description": "customer: a "
          "customer's matter; care: a task of the yearly care plan; maintenance: a "
          "maintenance visit falling due (neither counted in reports)"}, channel=_STR,
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
                                                                       "Message"}},
    callback={**_nullable(_object(["number", "tel", "needed"], number=_nullable(_STR),
                                  tel=_nullable(_STR), needed={"type": "boolean"})),
              "description": "hotline tickets: the number to call back, its tel: link, and "
                             "whether a missed call still waits for a callback that reaches "
                             "the customer (resolving waits for it); null on other channels"},
    merged_into={**_nullable(_STR), "description": "the number of the ticket this one was "
                 "merged into (its messages are there); null when not merged"},
    warranty={"type": "array", "items": {"type": "object"},
              "description": "ticket detail only: the warranty register entries a warranty or "
                             "maintenance ticket names (serial, model, customer, delivered_on, "
                             "warranty_ends, in_warranty, maintenance_months)"},
    articles={"type": "array", "items": {"type": "object"},
              "description": "ticket detail only: suggested knowledge base articles for the "
                             "ticket's category and words (slug, title, category, path under "
                             "CSKH_PUBLIC_URL, text: the Markdown to insert)"})

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


def _errors_only(*errors: int) -> dict[str, Any]:
    return {k: v for k, v in _answers({}, *errors).items() if k != "200"}


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
ANSWER = _object(["id", "queue", "title", "text", "created_by", "updated_at"], id=_INT,
                 queue=_STR, title=_STR,
                 text={**_STR, "description": "may hold {khach_hang}, {so_phieu}, {nhan_vien}"},
                 created_by=_nullable(_INT), updated_at={"type": "string", "format": "date-time"})
_ANSWER_REF = {"$ref": "#/components/schemas/Answer"}
_ANSWER_ID = {"name": "answer_id", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}
_ANSWER_QUERY = [
    _query("q", {"type": "string"}, "words that must all appear in the title or the text "
           "(case and Vietnamese diacritics ignored)"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
           "at most this many"),
]
_ANSWER_BODY = {"type": "object", "required": ["queue", "title", "text"],
                "properties": {"queue": _STR, "title": {**_STR, "maxLength": 200}, "text": _STR}}
_STAFF_BODY = {"type": "object", "required": ["staff"],
               "properties": {"staff": {**_STR, "description": "the officer's name"}}}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "cskh-inbox staff API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Ticket": TICKET, "Message": MESSAGE, "Answer": ANSWER,
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
        "/api/v1/tickets/{ticket_id}/reply": {"post": {
            **_action("Reply on the customer's channel (emitted on cskh.outbound)", 409, 422,
                      body=_TEXT_BODY),
            "parameters": [_TICKET_ID, {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "the same key again (after a lost answer, a second click) "
                               "stores and sends the reply once; with another text: 422",
                "schema": {"type": "string", "minLength": 1, "maxLength": 200}}]}},
        "/api/v1/tickets/{ticket_id}/messages/{message_id}/retry": {"post": {
            **_action("Send a failed reply again, once (its delivery becomes pending); 409 "
                      "when it is not failed", 409),
            "parameters": [_TICKET_ID, {"name": "message_id", "in": "path", "required": True,
                                        "description": "the reply's message id",
                                        "schema": {"type": "string"}}]}},
        "/api/v1/tickets/{ticket_id}/waiting": {"post": _action(
            "Wait on the customer: SLA clocks pause", 409)},
        "/api/v1/tickets/{ticket_id}/resume": {"post": _action(
            "End a wait on the customer: SLA clocks run again", 409)},
        "/api/v1/tickets/{ticket_id}/notes": {"post": _action(
            "An internal note: staff see it in the thread, the customer never gets it",
            body=_TEXT_BODY)},
        "/api/v1/tickets/{ticket_id}/resolve": {"post": _action("Resolve", 409)},
        "/api/v1/tickets/{ticket_id}/reopen": {"post": _action(
            "Open a resolved ticket again: a new SLA cycle", 409)},
        "/api/v1/tickets/{ticket_id}/answers": {"get": {
            "summary": "The canned answers of the ticket's queue, placeholders filled in",
            "parameters": [_TICKET_ID, *_ANSWER_QUERY],
            "responses": _answers(_object(["ticket", "answers"], ticket=_STR, answers={
                "type": "array", "items": {"allOf": [_ANSWER_REF, _object(
                    ["rendered"], rendered=_STR)]}}), 400, 404)}},
        "/api/v1/answers": {
            "get": {"summary": "Canned answers of my queues (an admin: all)",
                    "parameters": [_query("queue", _STR, "only this queue"), *_ANSWER_QUERY],
                    "responses": _answers(_object(["answers"], answers={
                        "type": "array", "items": _ANSWER_REF}), 400)},
            "post": {"summary": "A new canned answer (a lead of the queue, an admin)",
                     "requestBody": _body(_ANSWER_BODY),
                     "responses": {**_errors_only(400, 403, 409), "201": {
                         "description": "created",
                         "content": {_JSON: {"schema": _ANSWER_REF}}}}}},
        "/api/v1/answers/{answer_id}": {
            "patch": {"summary": "Change an answer's title and/or text (a lead, an admin)",
                      "parameters": [_ANSWER_ID],
                      "requestBody": _body({"type": "object", "minProperties": 1,
                                            "properties": {"title": _STR, "text": _STR}}),
                      "responses": _answers(_ANSWER_REF, 400, 403, 404, 409)},
            "delete": {"summary": "Remove an answer (a lead, an admin)",
                       "parameters": [_ANSWER_ID],
                       "responses": {**_errors_only(403, 404),
                                     "204": {"description": "removed"}}}},
        "/api/v1/tickets/{ticket_id}/callback": {"post": _action(
            "Record a hotline callback: reached, no_answer, busy or resolved (on the call: "
            "resolves the ticket), with a note; 409 off the hotline", 409,
            body={"type": "object", "required": ["outcome"], "properties": {
                "outcome": {"enum": list(OUTCOMES)}, "note": _STR}})},
        "/api/v1/tickets/{ticket_id}/call": {"post": {
            "summary": "Click-to-call a hotline ticket's customer through the cloud PBX "
                       "(CSKH_HOTLINE_CALL_URL); 409 off the hotline, for a withheld number or "
                       "without a PBX; 502 when the PBX is away or refuses",
            "parameters": [_TICKET_ID],
            "responses": _answers(_object(["ticket", "number", "call_id"], ticket=_STR,
                                          number=_STR, call_id=_STR), 403, 404, 409, 502)}},
        "/api/v1/tickets/{ticket_id}/merge": {"post": _action(
            "Merge this ticket into another (id or number) the caller may see: its messages "
            "move there, it is closed with merged_into, its conversation continues there; "
            "both must be the caller's to act on (403); 409 when this one is closed or the "
            "other is closed or merged", 409,
            body={"type": "object", "required": ["into"], "properties": {"into": _STR}})},
        "/api/v1/tickets/{ticket_id}/reassign": {"post": _action(
            "Hand to another officer of the queue (leads); 400 for an unknown officer", 409,
            body=_STAFF_BODY)},
        "/api/v1/me/status": {"put": {
            "summary": "My availability; coming online on shift takes queued tickets",
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
    return json_response(DOCUMENT)
