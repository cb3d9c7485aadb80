"""The staff API's OpenAPI 3.1 document, served at ``/api/v1/openapi.json``.

A test checks that every ``/api/v1`` route of the app is described here and nothing else is.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.rules import CATEGORIES

_ERROR = {"type": "object", "required": ["error", "reason"],
          "properties": {"error": {"type": "string"}, "reason": {"type": "string"}}}
_TICKET_REF = {"$ref": "#/components/schemas/Ticket"}
_ID = {"name": "ticket_id", "in": "path", "required": True,
       "description": "numeric id or number (CSKH-000042)", "schema": {"type": "string"}}


def _answers(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK",
                                   "content": {"application/json": {"schema": ok}}}}
    for status in (401, *errors):
        out[str(status)] = {"description": "error",
                            "content": {"application/json": {"schema": _ERROR}}}
    return out


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _action(summary: str, *errors: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "parameters": [_ID],
                          "responses": _answers(_TICKET_REF, 404, *errors)}
    if body is not None:
        op["requestBody"] = _body(body)
    return op


def _text(name: str) -> dict[str, Any]:
    return {"type": "object", "required": [name], "properties": {name: {"type": "string"}}}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "cskh-inbox staff API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Ticket": {"type": "object", "required": [
            "id", "number", "status", "channel", "category", "priority", "sentiment", "queue",
            "assignee", "customer", "subject", "created_at", "first_response_due",
            "resolution_due", "messages"], "properties": {
            "id": {"type": "integer"}, "number": {"type": "string"},
            "status": {"type": "string"}, "channel": {"type": "string"},
            "category": {"enum": list(CATEGORIES)}, "priority": {"type": "string"},
            "sentiment": {"type": "string"}, "queue": {"type": ["string", "null"]},
            "messages": {"type": "array", "items": {"type": "object"}}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/queue": {"get": {
            "summary": "My active tickets, earliest due first",
            "responses": _answers({"type": "object", "properties": {
                "tickets": {"type": "array", "items": _TICKET_REF}}})}},
        "/api/v1/tickets/{ticket_id}": {
            "get": {"summary": "One ticket with its messages", "parameters": [_ID],
                    "responses": _answers(_TICKET_REF, 404)},
            "patch": _action("Correct category and/or priority (a training example)", 400,
                             403, body={"type": "object", "properties": {
                                 "category": {"enum": list(CATEGORIES)},
                                 "priority": {"enum": ["urgent", "high", "normal", "low"]}}}),
        },
        "/api/v1/tickets/{ticket_id}/claim": {"post": _action("Take an unassigned ticket",
                                                              403, 409)},
        "/api/v1/tickets/{ticket_id}/reply": {"post": _action(
            "Reply on the customer's channel (emitted on cskh.outbound)", 400, 403, 409,
            body=_text("text"))},
        "/api/v1/tickets/{ticket_id}/waiting": {"post": _action(
            "Wait on the customer: SLA clocks pause", 403, 409)},
        "/api/v1/tickets/{ticket_id}/resolve": {"post": _action("Resolve", 403, 409)},
        "/api/v1/tickets/{ticket_id}/reassign": {"post": _action(
            "Hand to another officer of the queue (leads)", 400, 403, 409,
            body=_text("staff"))},
        "/api/v1/me/status": {"put": {
            "summary": "My availability; coming online takes waiting tickets",
            "requestBody": _body({"type": "object", "required": ["status"], "properties": {
                "status": {"enum": ["online", "away", "off"]}}}),
            "responses": _answers({"type": "object"}, 400)}},
        "/api/v1/stream": {"get": {
            "summary": "Server-sent events: my new assignments",
            "responses": {"200": {"description": "text/event-stream"},
                          "401": {"description": "error"}}}},
        "/api/v1/openapi.json": {"get": {
            "summary": "This document", "security": [],
            "responses": {"200": {"description": "OK"}}}},
    },
}


async def openapi(_request: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``."""
    return web.json_response(DOCUMENT)
