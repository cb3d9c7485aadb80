"""Everything with a start and a stop, as aiohttp ``cleanup_ctx`` generators.

aiohttp runs them in order on start-up and in reverse on shutdown, after the server has
stopped accepting requests: consumers finish their batch and commit first, then the bus
flushes, then the database closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

import structlog
from aiohttp import web

from desk.care.tasks import CareTaskPolicy, CreateCareTasks
from desk.maintenance import CreateMaintenanceTasks
from desk.reports.mailing import MailReports
from desk.surveys import OfferSurveys, SurveyPolicy
from desk.surveys.campaign_send import SendCampaigns
from ingest.bus.base import Bus
from ingest.bus.embedded import EmbeddedBus
from ingest.bus.kafka import KafkaBus
from ingest.dlq import measure_dead_letters
from ingest.keys import BUS, CLOCK, ENGINE, MODEL_STATE, ROLES, SESSIONS, SETTINGS, ModelState
from ingest.pipeline import consumer_specs, make_loop, outbound_publisher
from ingest.senders import reply_senders, smtp_transport
from ingest.settings import Settings
from normalizer.classifier import Classifier
from normalizer.ingest import Classify, Labels
from router.outbox import EmitPendingReplies
from router.rebalance import Rebalance
from router.sweeper import SweepSla
from storage.db import create_engine, is_sqlite, session_factory, sqlite_path
from storage.log_events import LogEvent
from storage.migrate import current_revision, head_revision, upgrade

log = structlog.get_logger(__name__)


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the one this code needs; run ``cskh migrate``."""


def embedded_bus_path(settings: Settings) -> str:
    """Where the embedded log lives: ``sqlite:///PATH``, else beside the SQLite database.

    ``./cskh.db`` keeps its log in ``./cskh.bus.db``; with PostgreSQL, ``./cskh.bus.db``.
    """
    if settings.bus.startswith("sqlite:///"):
        return settings.bus.removeprefix("sqlite:///")
    database = Path(sqlite_path(settings.database_url) or "./cskh.db")
    return str(database.with_name(f"{database.stem}.bus{database.suffix or '.db'}"))


def make_bus(settings: Settings) -> Bus:
    """The bus ``settings`` name, not yet started."""
    bootstrap = settings.kafka_bootstrap
    if bootstrap:
        return KafkaBus(bootstrap, prefix=settings.kafka_topic_prefix,
                        partitions=settings.bus_partitions,
                        linger_ms=settings.kafka_linger_ms,
                        send_timeout=settings.bus_send_timeout)
    path = embedded_bus_path(settings)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return EmbeddedBus(path, partitions=settings.bus_partitions,
                       synchronous="FULL" if settings.bus_fsync == "full" else "NORMAL",
                       retention=settings.bus_retention_hours * 3600 or None)


async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the database; migrate an embedded one, refuse a PostgreSQL one that is behind."""
    settings = app[SETTINGS]
    path = sqlite_path(settings.database_url)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    try:
        if is_sqlite(settings.database_url):
            revision = await upgrade(engine)
            log.info(LogEvent.MIGRATIONS_APPLIED, revision=revision)
        else:
            current, head = await current_revision(engine), head_revision()
            if current != head:
                raise SchemaOutOfDate(
                    f"database schema is at {current or 'nothing'}, code needs {head}: "
                    "run `cskh migrate`"
                )
        app[ENGINE] = engine
        app[SESSIONS] = session_factory(engine)
        yield
    finally:
        await engine.dispose()


async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the bus (creating Kafka topics if missing); flush and close it last."""
    bus = make_bus(app[SETTINGS])
    await bus.start()
    log.info(LogEvent.BUS_STARTED, bus=type(bus).__name__)
    app[BUS] = bus
    try:
        yield
    finally:
        await bus.close()


async def _every(seconds: float, step: Callable[[], Awaitable[object]],
                 stop: asyncio.Event) -> None:
    """Run ``step`` every ``seconds`` until ``stop``; a failed step is logged and retried."""
    while not stop.is_set():
        try:
            await step()
        except Exception as exc:
            log.warning(LogEvent.PERIODIC_FAILED, task=getattr(step, "__qualname__", "?"),
                        error=str(exc)[:300], error_type=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


def _no_classifier(items: Sequence[object]) -> Sequence[Labels]:
    raise RuntimeError("this process does not run the normalizer role")


def load_model(path: Path) -> tuple[Classifier, ModelState]:
    """The classifier at ``path`` (trained first if missing or unreadable) and how it came."""
    how = "loaded" if Path(path).is_file() else "trained"
    began = time.monotonic()
    model = Classifier.load_or_train(path)
    return model, ModelState(str(path), how, round(time.monotonic() - began, 1))


def survey_policy(settings: Settings) -> SurveyPolicy:
    """Who is asked and how, from the settings: the channels that have a sender carry it."""
    return SurveyPolicy(public_url=settings.customer_url, days=settings.survey_days,
                        min_days=settings.survey_min_days,
                        channels=frozenset(reply_senders(settings)),
                        mail_domain=settings.message_id_domain)


async def consumers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the consumer loops of this process's roles; on shutdown finish, commit, leave."""
    settings, bus = app[SETTINGS], app[BUS]
    classify: Classify = _no_classifier
    if "normalizer" in app[ROLES]:
        # Trains from the shipped data (a few seconds) when the model file is missing.
        model, app[MODEL_STATE] = await asyncio.to_thread(load_model, settings.model_path)
        log.info(LogEvent.MODEL_LOADED, path=app[MODEL_STATE].path, how=app[MODEL_STATE].how,
                 seconds=app[MODEL_STATE].seconds)
        classify = model.classify_many
    specs = [s for s in consumer_specs(settings, bus, app[SESSIONS], app[CLOCK], classify)
             if s.role in app[ROLES]]
    stop = asyncio.Event()
    loops = [make_loop(bus, spec, settings) for spec in specs]
    for loop in loops:
        await loop.start()
    tasks = [asyncio.create_task(loop.run(stop), name=f"consumer-{spec.group}")
             for loop, spec in zip(loops, specs, strict=True)]
    if "router" in app[ROLES]:
        sweep = SweepSla(app[SESSIONS], app[CLOCK], calendar=settings.calendars)
        tasks.append(asyncio.create_task(_every(settings.sla_sweep_seconds, sweep.run_once, stop),
                                         name="sla-sweeper"))
        rebalance = Rebalance(app[SESSIONS], app[CLOCK],
                              grace=timedelta(minutes=settings.release_grace_minutes))
        tasks.append(asyncio.create_task(
            _every(settings.rebalance_seconds, rebalance.run_once, stop), name="rebalance"))
        outbox = EmitPendingReplies(app[SESSIONS], outbound_publisher(bus), app[CLOCK])
        tasks.append(asyncio.create_task(
            _every(settings.rebalance_seconds, outbox.run_once, stop), name="outbox"))
        tasks.append(asyncio.create_task(
            _every(settings.rebalance_seconds, functools.partial(measure_dead_letters, bus), stop),
            name="dlq-gauge"))
        surveys = OfferSurveys(app[SESSIONS], outbound_publisher(bus), app[CLOCK],
                               survey_policy(settings))
        tasks.append(asyncio.create_task(
            _every(settings.survey_seconds, surveys.run_once, stop), name="surveys"))
        campaigns = SendCampaigns(app[SESSIONS], outbound_publisher(bus), app[CLOCK],
                                  survey_policy(settings))
        tasks.append(asyncio.create_task(
            _every(settings.survey_seconds, campaigns.run_once, stop), name="campaigns"))
        care = CreateCareTasks(app[SESSIONS], app[CLOCK], CareTaskPolicy(
            lead_days=settings.care_lead_days, calendars=settings.calendars))
        tasks.append(asyncio.create_task(
            _every(settings.care_seconds, care.run_once, stop), name="care-tasks"))
        visits = CreateMaintenanceTasks(app[SESSIONS], app[CLOCK],
                                        lead_days=settings.care_lead_days,
                                        calendars=settings.calendars)
        tasks.append(asyncio.create_task(
            _every(settings.care_seconds, visits.run_once, stop), name="maintenance-tasks"))
        transport = smtp_transport(settings)
        if settings.report_recipients and transport is not None:
            mailer = MailReports(app[SESSIONS], transport.send, app[CLOCK],
                                 sender=settings.reply_from or "",
                                 recipients=settings.report_recipients,
                                 calendars=settings.calendars,
                                 domain=settings.message_id_domain)
            tasks.append(asyncio.create_task(
                _every(settings.report_mail_seconds, mailer.run_once, stop), name="reports"))
    try:
        yield
    finally:
        stop.set()
        pending: set[asyncio.Task[None]] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=settings.shutdown_timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for loop in loops:
            with contextlib.suppress(Exception):
                await loop.close()
