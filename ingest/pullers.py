"""The ``pullers`` role: sources we fetch from instead of being called by.

The on-prem PBX: ``CdrPuller`` tails Asterisk's ``Master.csv`` (through the pure
``connectors.asterisk.CdrTailer``) and appends each new call's envelope to ``cskh.inbound``;
and the mailboxes: one ``ingest.imap.ImapPuller`` per (mailbox, folder) (same order of
effects, its own cursor, its own lease from ``ingest.lease``).

Order of effects, per step: read from the persisted cursor → append the envelopes durably →
only then persist the new cursor (written to a temporary file, fsynced, renamed). A crash
in between re-reads at most the lines not yet acknowledged; their envelope ids are derived
from the call's ``uniqueid``, so the normalizer makes no second ticket of them.

Two pullers on one host would read the same file: an exclusive ``flock`` on ``<cursor>.lock``
(``ingest.lease.FlockLease``) is the lease; whoever does not hold it skips its turn. A mailbox
folder's lease is a PostgreSQL advisory lock when the database is PostgreSQL (pullers on many
hosts), else the same kind of ``flock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from aiohttp import web

from connectors.asterisk import CdrCursor, CdrTailer
from connectors.email.imap import ImapMailbox
from ingest.bus.base import Bus, BusUnavailable, OutgoingRecord
from ingest.bus.topics import INBOUND
from ingest.cursors import CursorStore, DbCursor, load_json_cursor, save_json_cursor
from ingest.imap import ImapPuller
from ingest.keys import BUS, CLOCK, ROLES, SESSIONS, SETTINGS, Clock
from ingest.lease import FlockLease, Lease, PgAdvisoryLease, asyncpg_dsn, lease_key
from ingest.mail_records import ParsePool
from ingest.mailboxes import MailboxConfig, configured, cursor_path
from ingest.registry import cdr_tailer
from ingest.settings import Settings
from storage.db import SessionFactory, is_sqlite
from storage.log_events import LogEvent
from storage.metrics import PULLER_FAILURES, PULLER_LAST_SUCCESS, PULLER_UP

log = structlog.get_logger(__name__)
CHANNEL = "hotline"


def load_cursor(path: Path) -> CdrCursor | None:
    """The cursor saved at ``path``; ``None`` if there is none (or it is unreadable)."""
    return load_json_cursor(path, CdrCursor.from_json, channel=CHANNEL)


def save_cursor(path: Path, cursor: CdrCursor) -> None:
    """Replace the cursor at ``path`` atomically and durably."""
    save_json_cursor(path, cursor.to_json())


class CdrPuller:
    """Moves new CDR lines to the bus, one ``run_once`` at a time."""

    def __init__(self, tailer: CdrTailer, bus: Bus, cursor_path: Path, clock: Clock) -> None:
        self._tailer = tailer
        self._bus = bus
        self._cursor_path = cursor_path
        self._clock = clock
        self._lease = FlockLease(cursor_path.with_name(cursor_path.name + ".lock"))

    def release(self) -> None:
        """Give the lease up (closing the file drops the lock)."""
        self._lease.release_now()

    async def run_once(self) -> int:
        """Append what is new since the cursor; return how many envelopes were appended.

        Raises ``BusUnavailable`` (nothing persisted; the same lines come again next time)
        and ``OSError`` from the file system.
        """
        if not await self._lease.hold():
            log.debug(LogEvent.PULLER_LEASE_BUSY, channel=CHANNEL)
            return 0
        appended = 0
        while True:  # until a read finds nothing more (a backlog comes in bounded reads)
            cursor = await asyncio.to_thread(load_cursor, self._cursor_path)
            batch = await asyncio.to_thread(self._tailer.read, cursor,
                                            received_at=self._clock())
            if batch.rotated:
                log.info(LogEvent.PULLER_ROTATED, channel=CHANNEL)
            if batch.skipped:
                log.warning(LogEvent.PULLER_SKIPPED_LINES, channel=CHANNEL,
                            count=len(batch.skipped), first=batch.skipped[0])
            if batch.envelopes:
                await self._bus.send_many([
                    OutgoingRecord(topic=INBOUND, key=e.thread_key.encode(),
                                   value=e.to_json_bytes())
                    for e in batch.envelopes
                ])
                appended += len(batch.envelopes)
                log.info(LogEvent.PULLER_APPENDED, channel=CHANNEL, calls=batch.calls,
                         message_id=[str(e.id) for e in batch.envelopes])
            if batch.cursor is None or batch.cursor == cursor:
                return appended
            await asyncio.to_thread(save_cursor, self._cursor_path, batch.cursor)

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """``run_once`` every ``interval`` seconds until ``stop``; failures are logged, retried."""
        source = str(self._tailer.directory)
        while not stop.is_set():
            try:
                await self.run_once()
                PULLER_UP.labels(CHANNEL, source).set(1)
                PULLER_LAST_SUCCESS.labels(CHANNEL, source).set(time.time())
            except (BusUnavailable, OSError) as exc:
                PULLER_UP.labels(CHANNEL, source).set(0)
                PULLER_FAILURES.labels(CHANNEL, source).inc()
                log.warning(LogEvent.PULLER_FAILED, channel=CHANNEL,
                            error=f"{type(exc).__name__}: {exc}"[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def _mailbox(box: MailboxConfig, folder: str) -> ImapMailbox:
    context = ssl.create_default_context(cafile=str(box.ca_file)) if box.ca_file else None
    return ImapMailbox(host=box.host, user=box.user, password=box.password.get_secret_value(),
                       port=box.port, folder=folder, tls=box.tls, ssl_context=context,
                       label=box.name, queue=box.queue, move_to=box.move_to, flag=box.flag)


def imap_pullers(settings: Settings, bus: Bus, clock: Clock,
                 sessions: SessionFactory | None = None,
                 parse_pool: ParsePool | None = None) -> list[ImapPuller]:
    """One puller per configured (mailbox, folder), each with its cursor and its lease.

    With PostgreSQL (pullers may run on several hosts): a PostgreSQL advisory lock and the
    cursor in the database (``sessions``), so whoever takes the lease over goes on from the
    same place. Otherwise a cursor file and a ``flock`` beside it. ``ValueError`` for a
    configuration that names one mailbox twice."""
    pullers: list[ImapPuller] = []
    postgres = not is_sqlite(settings.database_url)
    for box, legacy in configured(settings):
        for folder in box.folders:
            cursor = cursor_path(settings.imap_cursor_path, box.name, folder, legacy=legacy)
            lease: Lease = (
                PgAdvisoryLease(asyncpg_dsn(settings.database_url),
                                lease_key("imap", box.name, folder), name=f"{box.name}/{folder}")
                if postgres else FlockLease(cursor.with_name(cursor.name + ".lock")))
            store: Path | CursorStore = cursor
            if postgres:
                if sessions is None:
                    raise ValueError("pullers on PostgreSQL keep their cursors in the database")
                store = DbCursor(sessions, f"imap:{box.name}/{folder}")
            pullers.append(ImapPuller(_mailbox(box, folder), bus, store, clock,
                                      attachment_dir=settings.attachment_dir, lease=lease,
                                      parse_pool=parse_pool,
                                      authserv_id=settings.imap_authserv_id))
    if pullers:
        settings.attachment_dir.mkdir(parents=True, exist_ok=True)
    return pullers


async def pullers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the configured pullers while the app runs (role ``pullers``); stop them first.

    The Asterisk call-log tailer when ``CSKH_HOTLINE_CDR_DIR`` is set; a puller per folder of
    each mailbox (``CSKH_IMAP_HOST`` and the TOML file's ``[[mailboxes]]``).
    """
    settings = app[SETTINGS]
    if "pullers" not in app[ROLES]:
        yield
        return
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    cdr: CdrPuller | None = None
    configured = cdr_tailer(settings)
    if configured is not None:
        tailer, cursor_path = configured
        cdr = CdrPuller(tailer, app[BUS], cursor_path, app[CLOCK])
        tasks.append(asyncio.create_task(cdr.run(stop, settings.hotline_cdr_poll_seconds),
                                         name="puller-hotline-cdr"))
        log.info(LogEvent.PULLER_STARTED, channel=CHANNEL, directory=str(tailer.directory))
    has_mail = bool(settings.imap_host or settings.mailboxes)
    pool = ParsePool(settings.imap_parse_workers) if has_mail and settings.imap_parse_workers \
        else None
    if pool is not None:  # before the first pass and its IDLE: the first batch waits for none
        await pool.warm()
    imaps = imap_pullers(settings, app[BUS], app[CLOCK], app[SESSIONS], pool)
    for imap in imaps:
        box = imap.mailbox
        tasks.append(asyncio.create_task(
            imap.run(stop, settings.imap_poll_seconds, idle=settings.imap_idle),
            name=f"puller-imap-{box.name}-{box.folder}"))
        log.info(LogEvent.PULLER_STARTED, channel="email", mailbox=box.name, folder=box.folder,
                 tls=box.tls, queue=box.queue)
    try:
        yield
    finally:
        stop.set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=settings.shutdown_timeout)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if cdr is not None:
            cdr.release()
            log.info(LogEvent.PULLER_STOPPED, channel=CHANNEL)
        for imap in imaps:
            await imap.aclose()
            log.info(LogEvent.PULLER_STOPPED, channel="email", mailbox=imap.mailbox.name,
                     folder=imap.mailbox.folder)
        if pool is not None:
            await asyncio.to_thread(pool.close)
