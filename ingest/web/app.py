"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from connectors.base import ChallengeConnector
from desk import api as staff_api
from desk import api_actions, routes
from desk.pages import setup_pages
from desk.surveys.page import add_survey_routes
from ingest.bus.base import BusUnavailable
from ingest.keys import BUS, CLOCK, ENGINE, ROLES, SESSIONS, SETTINGS, Clock
from ingest.lifecycle import bus_ctx, consumers_ctx, storage_ctx
from ingest.pipeline import outbound_publisher
from ingest.pullers import pullers_ctx
from ingest.registry import webhook_connectors
from ingest.senders import reply_senders
from ingest.settings import ALL_ROLES, Role, Settings
from ingest.web.webhooks import challenge_handler, webhook_handler

log = structlog.get_logger(__name__)
MAX_REQUEST_BYTES = 8 * 1024 * 1024


def utcnow() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the bus and the database both answer."""
    problems: dict[str, str] = {}
    try:
        await request.app[BUS].ping()
    except BusUnavailable as exc:
        problems["bus"] = str(exc)[:300]
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        problems["database"] = f"{type(exc).__name__}: {exc}"[:300]
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    roles: tuple[str, ...] = request.app[ROLES]
    return web.json_response({"status": "ready", "roles": list(roles)})


async def metrics(_request: web.Request) -> web.Response:
    """Prometheus text exposition of the default registry."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _share_with_router(app: web.Application) -> None:
    app[staff_api.SESSIONS] = app[SESSIONS]
    app[staff_api.CLOCK] = app[CLOCK]
    app[api_actions.PUBLISH_OUTBOUND] = outbound_publisher(app[BUS])
    app[api_actions.MAIL_DOMAIN] = app[SETTINGS].message_id_domain


def create_app(settings: Settings, roles: Sequence[Role] = ALL_ROLES, *,
               clock: Clock = utcnow) -> web.Application:
    """The daemon as an aiohttp app: routes for ``roles`` and the lifecycles they need."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[SETTINGS] = settings
    app[ROLES] = tuple(roles)
    app[CLOCK] = clock
    app.cleanup_ctx.append(storage_ctx)
    app.cleanup_ctx.append(bus_ctx)
    if {"normalizer", "router"} & set(roles) or ("senders" in roles
                                                  and reply_senders(settings)):
        app.cleanup_ctx.append(consumers_ctx)
    if "pullers" in roles and (settings.hotline_cdr_dir is not None or settings.imap_host):
        app.cleanup_ctx.append(pullers_ctx)
    app.on_startup.append(_share_with_router)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if "webhooks" in roles:
        for connector in webhook_connectors(settings):
            app.router.add_post(f"/webhooks/{connector.name}", webhook_handler(connector))
            if isinstance(connector, ChallengeConnector):
                app.router.add_get(f"/webhooks/{connector.name}", challenge_handler(connector))
        app[staff_api.CALENDARS] = settings.calendars
        routes.add_routes(app)
        setup_pages(app)
        add_survey_routes(app)
    return app
