"""The staff API's routes, mounted by the web app."""

from __future__ import annotations

from aiohttp import web

from desk.api import my_queue, ticket_detail
from desk.api_actions import add_action_routes
from desk.api_answers import add_answer_routes
from desk.openapi import openapi
from desk.stream import install, my_stream


def add_routes(app: web.Application) -> None:
    """Mount the staff API (``app`` must hold SESSIONS, CLOCK and PUBLISH_OUTBOUND)."""
    app.router.add_get("/api/v1/queue", my_queue)
    app.router.add_get("/api/v1/tickets/{ticket_id}", ticket_detail)
    add_action_routes(app)
    add_answer_routes(app)
    install(app)
    app.router.add_get("/api/v1/stream", my_stream)
    app.router.add_get("/api/v1/openapi.json", openapi)
