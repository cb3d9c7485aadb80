"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from connectors.base import ChallengeConnector
from connectors.hotline_call import ClickToCall
from connectors.sending import ChatWindow
from connectors.webform import WebformConnector
from desk import api as staff_api
from desk import api_actions, routes
from desk.api_calls import add_call_routes
from desk.care_page import add_care_routes
from desk.customers_page import add_customer_routes
from desk.form.page import add_form_routes
from desk.inbox import add_inbox_routes
from desk.json_answers import json_response
from desk.kb_edit import add_kb_edit_routes
from desk.kb_page import add_kb_routes
from desk.pages import setup_pages
from desk.reply_window import REPLY_WINDOWS
from desk.reports_page import add_reports_routes
from desk.sign_in import add_sign_in_routes
from desk.surveys.by_hand import SURVEY_POLICY
from desk.surveys.page import add_survey_routes
from desk.ticket_page import ATTACHMENT_DIR, REPLY_CHANNELS, add_ticket_routes
from desk.warranty_page import add_warranty_routes
from desk.web_session import setup_sessions
from ingest.bus.base import BusUnavailable
from ingest.keys import BUS, CLOCK, ENGINE, ROLES, SESSIONS, SETTINGS, Clock
from ingest.lifecycle import bus_ctx, consumers_ctx, storage_ctx, survey_policy
from ingest.pipeline import outbound_publisher
from ingest.pullers import pullers_ctx
from ingest.registry import webhook_connectors
from ingest.senders import ChatReplies, ReplySender, reply_senders
from ingest.settings import ALL_ROLES, Role, Settings
from ingest.startup import has_work, running_roles
from ingest.web.form_edge import form_config, form_edge
from ingest.web.session_key import cookie_secure, session_key
from ingest.web.unavailable import unavailable_as_503
from ingest.web.webhooks import challenge_handler, webhook_handler
from storage.db import read_session_factory

log = structlog.get_logger(__name__)
MAX_REQUEST_BYTES = 8 * 1024 * 1024


def utcnow() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


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
        return json_response({"status": "unavailable", "problems": problems}, status=503)
    # The roles that have work: no `senders` without a sender, no `pullers` with nothing to pull.
    roles: tuple[str, ...] = request.app[ROLES]
    return json_response({"status": "ready", "roles": running_roles(request.app[SETTINGS], roles)})


async def metrics(_request: web.Request) -> web.Response:
    """Prometheus text exposition of the default registry."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _share_with_router(app: web.Application) -> None:
    app[staff_api.SESSIONS] = app[SESSIONS]
    app[staff_api.READ_SESSIONS] = read_session_factory(app[ENGINE])
    app[staff_api.CLOCK] = app[CLOCK]
    app[api_actions.PUBLISH_OUTBOUND] = outbound_publisher(app[BUS])
    app[api_actions.MAIL_DOMAIN] = app[SETTINGS].message_id_domain


def _reply_senders(settings: Settings) -> dict[str, ReplySender]:
    """The channels a reply leaves on by itself (the ``senders`` role's registry)."""
    try:
        return reply_senders(settings)
    except ValueError:  # SMTP without a From address: `serve` refuses it with the reason
        return {}


def _reply_windows(senders: dict[str, ReplySender]) -> dict[str, ChatWindow]:
    """Each chat channel's reply window, as its sender checks it before sending."""
    return {channel: sender.sender.window for channel, sender in senders.items()
            if isinstance(sender, ChatReplies)}


def click_to_call(settings: Settings) -> ClickToCall | None:
    """The PBX's click-to-call, when ``CSKH_HOTLINE_CALL_URL`` and the hotline secret are set."""
    if not settings.hotline_call_url or settings.hotline_secret is None:
        return None
    return ClickToCall(settings.hotline_call_url, settings.hotline_secret.get_secret_value())


def create_app(settings: Settings, roles: Sequence[Role] = ALL_ROLES, *,
               clock: Clock = utcnow) -> web.Application:
    """The daemon as an aiohttp app: routes for ``roles`` and the lifecycles they need."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[unavailable_as_503])
    app[SETTINGS] = settings
    app[ROLES] = tuple(roles)
    app[CLOCK] = clock
    app.cleanup_ctx.append(storage_ctx)
    app.cleanup_ctx.append(bus_ctx)
    if {"normalizer", "router"} & set(roles) or ("senders" in roles
                                                  and reply_senders(settings)):
        app.cleanup_ctx.append(consumers_ctx)
    if "pullers" in roles and has_work(settings, "pullers"):  # TOML [[mailboxes]] count too
        app.cleanup_ctx.append(pullers_ctx)
    app.on_startup.append(_share_with_router)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if "webhooks" in roles:
        for connector in webhook_connectors(settings):
            edge = (form_edge(settings, connector, clock)
                    if isinstance(connector, WebformConnector) else None)
            app.router.add_post(f"/webhooks/{connector.name}", webhook_handler(connector, edge))
            if edge is not None:
                app.router.add_route("OPTIONS", f"/webhooks/{connector.name}", edge.preflight)
            if isinstance(connector, ChallengeConnector):
                app.router.add_get(f"/webhooks/{connector.name}", challenge_handler(connector))
        app[staff_api.CALENDARS] = settings.calendars
        routes.add_routes(app)
        add_call_routes(app, click_to_call(settings))
        setup_pages(app)
        add_survey_routes(app)
        add_kb_routes(app)
        setup_sessions(app, session_key(settings), secure=cookie_secure(settings),
                       idle=timedelta(hours=settings.session_hours))
        add_sign_in_routes(app)
        add_inbox_routes(app)
        add_reports_routes(app)
        add_kb_edit_routes(app)
        app[SURVEY_POLICY] = survey_policy(settings)
        senders = _reply_senders(settings)
        app[REPLY_CHANNELS] = frozenset(senders)
        app[REPLY_WINDOWS] = _reply_windows(senders)
        app[ATTACHMENT_DIR] = settings.attachment_dir
        add_ticket_routes(app)
        add_form_routes(app, form_config(settings))
        add_customer_routes(app)
        add_care_routes(app)
        add_warranty_routes(app)
    return app
