"""The email puller: new mail of one IMAP folder → ``cskh.inbound`` (or ``cskh.dlq``).

Order of effects, per batch (at most ``batch_size`` UIDs after the cursor), as for the CDR
puller: read the persisted cursor → fetch sizes, then the messages → append every record
durably in one ``send_many`` → only then persist the cursor (temporary file, fsync, rename).
A crash in between fetches the same UIDs again; their envelope ids derive from the
Message-ID, so the normalizer makes no second ticket of them. A UIDVALIDITY change reads the
folder from UID 1 again, for the same reason harmlessly.

Parsing (``ingest.mail_records``) runs in a worker thread, or in worker processes when a
``parse_pool`` is given (``CSKH_IMAP_PARSE_WORKERS``).

* Mail that parses → one envelope on ``cskh.inbound``, keyed by its thread root.
* Mail in which nothing can be read → ``cskh.dlq`` with its whole raw bytes.
* Mail over ``max_message_bytes`` (by ``RFC822.SIZE``) is *parked*: never fetched whole,
  its headers go to ``cskh.dlq`` and the cursor remembers it. Nothing is dropped silently.

Dead letters from here have no ``dlq.topic`` (the raw mail is no bus record, so
``cskh dlq replay`` leaves them alone); ``dlq.source`` says which mailbox, folder and UID.

When the mailbox moves or flags ingested mail (``move_to``, ``flag``), that happens only to
UIDs at or below the saved cursor, i.e. after the durable append *and* the cursor: every pass
first settles whatever the cursor covers and is still in the folder (parked mail stays), so a
crash between the cursor and the move is finished by the next pass, without a second fetch.

With a ``lease``, every batch first asks ``lease.hold()``; a puller without it fetches
nothing. ``run`` loops: a pass, then IDLE where the server offers it (a new mail wakes it at
once) or a sleep of ``interval``; failures back off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import structlog

from connectors.email import CHANNEL
from connectors.email.imap import ImapCursor, ImapMailbox, ImapSession, ImapUnavailable
from connectors.email.parse import DEFAULT_MAX_ATTACHMENT_BYTES
from ingest.backoff import Backoff
from ingest.bus.base import Bus, BusUnavailable
from ingest.bus.topics import INBOUND
from ingest.cursors import CursorStore, FileCursor, load_json_cursor
from ingest.keys import Clock
from ingest.lease import Lease
from ingest.mail_records import Fetched, MakeRecords, ParsePool
from storage.log_events import LogEvent
from storage.metrics import PULLER_FAILURES, PULLER_LAST_SUCCESS, PULLER_LEASE, PULLER_UP

log = structlog.get_logger(__name__)
DEFAULT_BATCH = 200
DEFAULT_MAX_MESSAGE_BYTES = 40 * 1024 * 1024


def load_cursor(path: Path) -> ImapCursor | None:
    """The cursor saved at ``path``; ``None`` if there is none (or it is unreadable)."""
    return load_json_cursor(path, ImapCursor.from_json, channel=CHANNEL)


async def _load(store: CursorStore) -> ImapCursor | None:
    data = await store.load()
    if data is None:
        return None
    try:
        return ImapCursor.from_json(data)
    except (KeyError, ValueError, TypeError) as exc:
        log.warning(LogEvent.PULLER_FAILED, channel=CHANNEL,
                    error=f"unreadable cursor, starting over: {exc}"[:300])
        return None


class ImapPuller:
    """Moves new mail of ``mailbox`` to the bus, one ``run_once`` at a time."""

    def __init__(self, mailbox: ImapMailbox, bus: Bus, cursor: Path | CursorStore,
                 clock: Clock, *,
                 attachment_dir: Path | None = None, batch_size: int = DEFAULT_BATCH,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
                 session: ImapSession | None = None, lease: Lease | None = None,
                 parse_pool: ParsePool | None = None, authserv_id: str | None = None) -> None:
        self.mailbox = mailbox
        self.lease = lease
        self.holding = lease is None
        self._bus = bus
        # A path is a cursor file (one host); a store may be a database row (many hosts).
        self.cursor: CursorStore = (FileCursor(cursor, channel=CHANNEL)
                                    if isinstance(cursor, Path) else cursor)
        self._clock = clock
        self._batch = batch_size
        self._max_message = max_message_bytes
        self._make = MakeRecords(mailbox.name, mailbox.folder, mailbox.queue, attachment_dir,
                                 max_message_bytes, max_attachment_bytes,
                                 authserv_id=authserv_id)
        self._pool = parse_pool  # None: parse in a worker thread
        self._session = session or ImapSession(mailbox)

    def _start(self, cursor: ImapCursor | None, uidvalidity: int) -> ImapCursor:
        box = self.mailbox
        if cursor is not None and (cursor.mailbox, cursor.folder) == (box.name, box.folder):
            if cursor.uidvalidity == uidvalidity:
                return cursor
            log.warning(LogEvent.PULLER_ROTATED, channel=CHANNEL, mailbox=box.name,
                        folder=box.folder, uidvalidity=uidvalidity,
                        previous=cursor.uidvalidity, reason="UIDVALIDITY changed: resync")
            return ImapCursor(box.name, box.folder, uidvalidity, 0, cursor.parked)
        return ImapCursor(box.name, box.folder, uidvalidity, 0)

    async def _hold(self) -> bool:
        if self.lease is not None:
            self.holding = await self.lease.hold()
            if not self.holding:
                log.debug(LogEvent.PULLER_LEASE_BUSY, channel=CHANNEL, mailbox=self.mailbox.name,
                          folder=self.mailbox.folder)
        return self.holding

    async def _settle(self, cursor: ImapCursor) -> None:
        """Move or flag the mail the saved ``cursor`` covers (parked mail stays)."""
        session = self._session
        parked = [int(p["uid"]) for p in cursor.parked if "uid" in p]
        uids = await asyncio.to_thread(session.unsettled, cursor.last_uid, parked)
        if uids:
            await asyncio.to_thread(session.settle, uids)
            log.info(LogEvent.PULLER_SETTLED, channel=CHANNEL, mailbox=self.mailbox.name,
                     folder=self.mailbox.folder, count=len(uids), move_to=self.mailbox.move_to,
                     flag=self.mailbox.flag)

    async def run_once(self) -> int:
        """Append all mail after the cursor; return how many envelopes were appended.

        Appends nothing while another puller holds the lease. Raises ``ImapUnavailable`` and
        ``BusUnavailable`` (the cursor stays where the last durable append left it) and
        ``OSError`` from the file system.
        """
        if not await self._hold():
            return 0
        session = self._session
        appended = 0
        uidvalidity = await asyncio.to_thread(session.select)
        while True:
            stored = await _load(self.cursor)
            cursor = self._start(stored, uidvalidity)
            await self._settle(cursor)
            uids = await asyncio.to_thread(session.uids_after, cursor.last_uid)
            if not uids:
                if cursor != stored:
                    await self.cursor.save(cursor.to_json())
                return appended
            batch = uids[: self._batch]
            sizes = await asyncio.to_thread(session.sizes, batch)
            big = [u for u in batch if sizes.get(u, 0) > self._max_message]
            small = [u for u in batch if u not in big]
            bodies, arrived = await asyncio.to_thread(session.mail, small, sizes)
            heads = await asyncio.to_thread(session.headers, big)
            fetched = Fetched(uidvalidity, tuple(batch), sizes, bodies, heads, arrived)
            if self._pool is not None:
                records, parked = await self._pool.make(self._make, fetched, self._clock())
            else:
                records, parked = await asyncio.to_thread(self._make, fetched, self._clock())
            if not await self._hold():
                return appended  # the lease went away while we fetched: someone else goes on
            if records:
                await self._bus.send_many(records)
            envelopes = sum(1 for r in records if r.topic == INBOUND)
            appended += envelopes
            log.info(LogEvent.PULLER_APPENDED, channel=CHANNEL, mailbox=self.mailbox.name,
                     folder=self.mailbox.folder, uids=f"{batch[0]}:{batch[-1]}",
                     envelopes=envelopes, dead_letters=len(records) - envelopes,
                     parked=len(parked))
            await self.cursor.save(cursor.advanced(batch[-1], parked).to_json())

    async def _wait(self, stop: asyncio.Event, halt: threading.Event, interval: float,
                    idle: bool) -> None:
        """Until new mail (IDLE), ``interval`` seconds, or ``stop``."""
        session = self._session
        if idle and self.holding and await asyncio.to_thread(session.capable, "IDLE"):
            if await asyncio.to_thread(session.idle_wait, interval, halt):
                log.debug(LogEvent.PULLER_IDLE, channel=CHANNEL, mailbox=self.mailbox.name,
                          folder=self.mailbox.folder)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)

    async def run(self, stop: asyncio.Event, interval: float, *, idle: bool = True,
                  backoff: Backoff | None = None) -> None:
        """Passes until ``stop``: after each, IDLE (if ``idle`` and the server can) or sleep
        ``interval``. Failures are logged and retried after an exponential, jittered delay
        (reset by the next success); a certificate the CA file does not vouch for is logged
        as ``puller.tls_verify_failed``. Returns within ``IDLE_TICK`` of ``stop``."""
        backoff = backoff or Backoff()
        halt = threading.Event()

        async def relay() -> None:
            await stop.wait()
            halt.set()

        relayed = asyncio.create_task(relay())
        box = self.mailbox
        source = f"{box.name}/{box.folder}"
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                    PULLER_UP.labels(CHANNEL, source).set(1)
                    PULLER_LEASE.labels(CHANNEL, source).set(1 if self.holding else 0)
                    PULLER_LAST_SUCCESS.labels(CHANNEL, source).set(time.time())
                    if backoff.failures:
                        log.info(LogEvent.PULLER_RECOVERED, channel=CHANNEL, mailbox=box.name,
                                 folder=box.folder, failures=backoff.failures)
                    backoff.reset()
                    await self._wait(stop, halt, interval, idle)
                    continue
                except (ImapUnavailable, BusUnavailable, OSError) as exc:
                    PULLER_UP.labels(CHANNEL, source).set(0)
                    PULLER_FAILURES.labels(CHANNEL, source).inc()
                    tls = isinstance(exc, ImapUnavailable) and exc.tls
                    log.warning(LogEvent.PULLER_TLS_FAILED if tls else LogEvent.PULLER_FAILED,
                                channel=CHANNEL, mailbox=box.name, folder=box.folder,
                                error=f"{type(exc).__name__}: {exc}"[:300])
                delay = backoff.next_delay()
                log.info(LogEvent.PULLER_BACKOFF, channel=CHANNEL, mailbox=box.name,
                         folder=box.folder, delay=round(delay, 2), failures=backoff.failures)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        finally:
            relayed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relayed

    def close(self) -> None:
        """Log out of the server (blocking; call from a thread in async code)."""
        self._session.close()

    async def aclose(self) -> None:
        """Log out and give the lease up."""
        await asyncio.to_thread(self._session.close)
        if self.lease is not None:
            await self.lease.release()
            self.holding = False
