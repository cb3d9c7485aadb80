"""The embedded bus: a durable, partitioned log in a SQLite file.

Appends from many coroutines are grouped into one transaction (group commit) by the bus's
own thread, so a burst of webhooks costs one fsync, not one each. The log has a SQLite file
of its own (beside the tickets' database), so an append never waits behind a ticket
transaction. All its SQL runs on one connection in that thread, so the event loop is never
blocked and nobody waits in SQLite's sleeping busy handler. Consumers are woken as soon as
a batch commits. Members of one
consumer group in this process share the partitions; the embedded bus does not coordinate
groups across processes (run one ``cskh serve``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import json
import queue
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import structlog

from ingest.bus.base import BusUnavailable, OutgoingRecord, Record
from ingest.bus.topics import ALL_TOPICS, DLQ
from storage.log_events import LogEvent
from storage.metrics import BUS_APPENDED

log = structlog.get_logger(__name__)

T = TypeVar("T")
TopicPartition = tuple[str, int]
Row = tuple[str, int, int, bytes | None, bytes, str, int]

# The records sit in a rowid table in append order, so a group commit writes the pages at its
# end; the unique index on the position is what consumers read by. (A clustered WITHOUT ROWID
# table keyed by position, the first layout, rewrote one leaf page per partition per commit
# and kept a statement journal: twice the CPU per append. ``_upgrade`` converts such a file.)
_LOG_TABLE = """CREATE TABLE IF NOT EXISTS bus_log (
        seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, partition INTEGER NOT NULL,
        "offset" INTEGER NOT NULL, key BLOB, value BLOB NOT NULL, headers TEXT NOT NULL,
        ts INTEGER NOT NULL)"""
_SCHEMA = (
    _LOG_TABLE,
    'CREATE UNIQUE INDEX IF NOT EXISTS bus_log_position ON bus_log (topic, partition, "offset")',
    """CREATE TABLE IF NOT EXISTS bus_offsets (
        grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
        "offset" INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID""",
)
_INSERT = 'INSERT INTO bus_log (topic, partition, "offset", key, value, headers, ts) VALUES '
_ROW = "(?, ?, ?, ?, ?, ?, ?)"
_COPY_FIRST_LAYOUT = (
    'INSERT INTO bus_log (topic, partition, "offset", key, value, headers, ts) '
    'SELECT topic, partition, "offset", key, value, headers, ts FROM bus_log_first_layout')
# Rows per INSERT statement (7 parameters each; SQLite allows 32,766 since 3.32). One statement
# for many rows, because the sqlite3 module gives up and takes back the GIL around every
# statement step: row by row, a writer thread waits for a busy event loop once per record.
_ROWS_PER_INSERT = 500
_LAST = 'SELECT MAX("offset") FROM bus_log WHERE topic=? AND partition=?'
_TRIM = ('DELETE FROM bus_log WHERE seq IN (SELECT seq FROM bus_log WHERE topic=? AND '
         'partition=? AND "offset"<? AND ts<? LIMIT ?)')
# Rows deleted per trimming transaction, and per pass, so that the first trim of a long log
# does not keep the webhooks' appends waiting: the rest goes in the next passes, a second apart.
_TRIM_CHUNK = 2000
_TRIM_PASS = 10_000
_READ = ('SELECT "offset", key, value, headers, ts FROM bus_log WHERE topic=? AND '
         'partition=? AND "offset">=? ORDER BY "offset" LIMIT ?')


@functools.cache
def _insert_sql(rows: int) -> str:
    return _INSERT + ", ".join([_ROW] * rows)


def partition_for(key: bytes | None, partitions: int, counter: itertools.count[int]) -> int:
    """The partition of a key: stable for a key, round robin without one."""
    if key is None:
        return next(counter) % partitions
    return zlib.crc32(key) % partitions


@dataclass(slots=True)
class _Append:
    records: Sequence[OutgoingRecord]
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Commit:
    group: str
    offsets: dict[TopicPartition, int]
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Call:
    fn: Callable[[], Any]
    done: asyncio.Future[Any]


_STOP = object()


_COMMIT_HEAD = 'INSERT INTO bus_offsets (grp, topic, partition, "offset") VALUES '
_COMMIT_TAIL = ' ON CONFLICT (grp, topic, partition) DO UPDATE SET "offset"=excluded."offset"'


@functools.cache
def _commit_sql(rows: int) -> str:
    return _COMMIT_HEAD + ", ".join(["(?, ?, ?, ?)"] * rows) + _COMMIT_TAIL


def _upgrade(conn: sqlite3.Connection, path: str) -> None:
    """Convert a log file of the first layout (clustered by position) in one transaction."""
    def first_layout() -> bool:
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type='table' AND name='bus_log'").fetchone()
        return row is not None and "WITHOUT ROWID" in str(row[0]).upper()

    if not first_layout():
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if first_layout():  # another process may have converted it meanwhile
            began = time.perf_counter()
            log.info(LogEvent.BUS_LOG_CONVERTING, path=path)
            conn.execute("ALTER TABLE bus_log RENAME TO bus_log_first_layout")
            for statement in _SCHEMA[:2]:
                conn.execute(statement)
            records = conn.execute(_COPY_FIRST_LAYOUT).rowcount
            conn.execute("DROP TABLE bus_log_first_layout")
            conn.execute("COMMIT")
            log.info(LogEvent.BUS_LOG_CONVERTED, path=path, records=records,
                     seconds=round(time.perf_counter() - began, 2))
        else:
            conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


class _Log:
    """The SQL of the log, run synchronously in the bus's one thread.

    The next offset of each partition is kept in memory between transactions (read once from
    the position index, the highest offset plus one), so a group commit of appends alone is one
    multi-row INSERT, which SQLite commits by itself: one statement, one step, one fsync. Each
    statement gives the GIL back and has to win it again from a busy event loop, so BEGIN and
    COMMIT of their own would cost two more waits; they are only used when a batch needs more
    than one statement (offset commits too, or more than ``_ROWS_PER_INSERT`` records).
    Another process appending to the same file (``cskh dlq replay``) makes the cached offsets
    stale; the unique position index then refuses our rows, and the batch is retried once in
    a ``BEGIN IMMEDIATE`` transaction with the offsets read afresh under the write lock.
    """

    def __init__(self, path: str, synchronous: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", "busy_timeout=30000"):
            self.conn.execute(f"PRAGMA {pragma}")
        _upgrade(self.conn, path)
        for statement in _SCHEMA:
            self.conn.execute(statement)
        self._next: dict[TopicPartition, int] = {}

    def write(self, placed: Sequence[tuple[str, int, OutgoingRecord]],
              commits: Sequence[tuple[str, str, int, int]], now_ms: int) -> None:
        try:
            self._write(placed, commits, now_ms, locked=False)
        except sqlite3.IntegrityError:
            # Our cached offsets were stale: another process appended. Read them and retry.
            self._write(placed, commits, now_ms, locked=True)

    def _write(self, placed: Sequence[tuple[str, int, OutgoingRecord]],
               commits: Sequence[tuple[str, str, int, int]], now_ms: int, *,
               locked: bool) -> None:
        conn = self.conn
        # One statement commits by itself; more need a transaction. ``locked``: take the write
        # lock before reading any offset, so that nobody can take them in between.
        transaction = locked or bool(commits and placed) or len(placed) > _ROWS_PER_INSERT
        if transaction:
            conn.execute("BEGIN IMMEDIATE")
        try:
            next_offsets = dict(self._next)
            rows: list[Row] = []
            for topic, partition, rec in placed:
                tp = (topic, partition)
                offset = next_offsets.get(tp)
                if offset is None:
                    (last,) = conn.execute(_LAST, tp).fetchone()
                    offset = 0 if last is None else last + 1
                next_offsets[tp] = offset + 1
                headers = json.dumps([[k, v.decode("latin-1")] for k, v in rec.headers]
                                     ) if rec.headers else "[]"
                rows.append((topic, partition, offset, rec.key, rec.value, headers, now_ms))
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[start:start + _ROWS_PER_INSERT]
                conn.execute(_insert_sql(len(chunk)), [v for row in chunk for v in row])
            if commits:
                conn.execute(_commit_sql(len(commits)), [v for c in commits for v in c])
            if transaction:
                conn.execute("COMMIT")
        except BaseException:
            self._next = {}
            if transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        self._next = next_offsets

    def trim(self, cutoff_ms: int, *, topics: Iterable[str], partitions: int,
             keep_unconsumed: frozenset[str], max_rows: int) -> int:
        """Delete up to about ``max_rows`` records older than ``cutoff_ms`` that nobody needs;
        returns how many.

        A record goes only when every consumer group that has committed on its topic is past
        it. A topic no group has committed on is trimmed by age alone, except the topics in
        ``keep_unconsumed`` (the dead letters wait for ``cskh dlq replay``). The newest record
        of each partition always stays: the next offset is read from it.
        """
        conn = self.conn
        committed: dict[str, dict[str, dict[int, int]]] = {}
        for grp, topic, partition, offset in conn.execute(
                'SELECT grp, topic, partition, "offset" FROM bus_offsets'):
            committed.setdefault(topic, {}).setdefault(grp, {})[partition] = offset
        deleted = 0
        for topic, partition in itertools.product(sorted({*topics, *committed}),
                                                  range(partitions)):
            (last,) = conn.execute(_LAST, (topic, partition)).fetchone()
            if last is None:
                continue
            groups = committed.get(topic)
            if groups:
                limit = min(positions.get(partition, 0) for positions in groups.values())
            elif topic in keep_unconsumed:
                continue
            else:
                limit = last
            limit = min(limit, last)
            if limit <= 0:
                continue
            while deleted < max_rows:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    gone = conn.execute(_TRIM, (topic, partition, limit, cutoff_ms,
                                                _TRIM_CHUNK)).rowcount
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
                deleted += gone
                if gone < _TRIM_CHUNK:
                    break
            if deleted >= max_rows:
                break
        return deleted

    def read(self, positions: dict[TopicPartition, int], per_partition: int) -> list[Record]:
        out: list[Record] = []
        for (topic, partition), offset in positions.items():
            for off, key, value, headers, ts in self.conn.execute(
                    _READ, (topic, partition, offset, per_partition)):
                out.append(Record(
                    topic=topic, partition=partition, offset=off, key=key, value=value,
                    headers=tuple((k, v.encode("latin-1")) for k, v in json.loads(headers)),
                    timestamp_ms=ts,
                ))
        return out

    def committed(self, group: str) -> dict[TopicPartition, int]:
        rows = self.conn.execute(
            'SELECT topic, partition, "offset" FROM bus_offsets WHERE grp=?', (group,))
        return {(t, p): o for t, p, o in rows}

    def ping(self) -> None:
        self.conn.execute("SELECT 1 FROM bus_offsets LIMIT 1").fetchall()

    def ends(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The next offset of each partition (None: no record is on it now)."""
        out: dict[TopicPartition, int | None] = {}
        for topic, partition in tps:
            (last,) = self.conn.execute(_LAST, (topic, partition)).fetchone()
            out[(topic, partition)] = None if last is None else last + 1
        return out

    def waiting(self, topic: str, partitions: int, group: str) -> int:
        """Records on ``topic`` at or after ``group``'s committed offsets."""
        done = self.committed(group)
        return sum(self.conn.execute(
            'SELECT COUNT(*) FROM bus_log WHERE topic=? AND partition=? AND "offset">=?',
            (topic, p, done.get((topic, p), 0))).fetchone()[0] for p in range(partitions))


class EmbeddedBus:
    """The ``Bus`` backed by the SQLite file at ``path`` with ``partitions`` per topic.

    One thread owns the SQLite connection. Appends and offset commits are handed to it on a
    thread-safe queue; it takes everything waiting (up to ``max_batch`` records) into one
    transaction and settles the whole batch with one wake-up of the event loop. Reads run on
    the same thread, in queue order, between batches.

    ``retention`` (seconds; ``None`` keeps everything): at most every ``trim_every`` seconds,
    after a write, the thread deletes records older than that which every consumer group of
    their topic has committed (see ``_Log.trim``), so the file stops growing; SQLite reuses
    the freed pages.

    ``synchronous="FULL"`` (the default) fsyncs every group commit: an acknowledged append
    survives a power cut. ``"NORMAL"`` fsyncs at checkpoints only: an append survives the
    process being killed but not the machine losing power (like a single Kafka broker, which
    acknowledges from its page cache), for about 10% more webhooks per second (median of six
    bench measurements on two cores, from −5% to +41%: an fsync here takes 0.2 ms).
    """

    def __init__(self, path: str, *, partitions: int = 4, max_batch: int = 1000,
                 synchronous: Literal["FULL", "NORMAL"] = "FULL",
                 retention: float | None = 7 * 24 * 3600, trim_every: float = 600.0) -> None:
        self._path = path
        self._retention = retention
        self._trim_every = trim_every
        self._trimmed_at = time.monotonic()
        self._synchronous = synchronous
        self._partitions = partitions
        self._max_batch = max_batch
        self._ops: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log: _Log | None = None
        self._rr = itertools.count()
        self._appended = asyncio.Event()
        self._groups: dict[str, list[EmbeddedConsumer]] = {}
        self._closed = True

    @property
    def partitions(self) -> int:
        """Partitions per topic."""
        return self._partitions

    @property
    def retention(self) -> float | None:
        """Seconds a record is kept at least (``None``: forever)."""
        return self._retention

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the bus thread after everything queued before it."""
        if self._thread is None or self._loop is None:
            raise BusUnavailable("embedded bus is closed")
        done: asyncio.Future[T] = self._loop.create_future()
        self._ops.put(_Call(functools.partial(fn, *args), done))
        try:
            return await done
        except (sqlite3.Error, OSError) as exc:
            raise BusUnavailable(f"embedded log: {exc}") from exc

    async def start(self) -> None:
        """Open the file, create the log tables if missing and start the bus thread."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._serve, name="embedded-bus", daemon=True)
        self._thread.start()
        try:
            self._log = await self._run(_Log, self._path, self._synchronous)
        except BaseException:
            await self._stop_thread()
            raise
        self._closed = False

    async def close(self) -> None:
        """Finish pending writes, then close. Later sends raise ``BusUnavailable``."""
        self._closed = True  # new appends and commits are refused from here on
        if self._log is not None:
            # Queued behind every append and commit handed over before: those are written.
            with contextlib.suppress(BusUnavailable):
                await self._run(self._log.conn.close)
            self._log = None
        await self._stop_thread()

    async def _stop_thread(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._ops.put(_STOP)
            await asyncio.to_thread(thread.join)

    def _open_log(self) -> _Log:
        if self._closed or self._log is None:
            raise BusUnavailable("embedded bus is closed")
        return self._log

    async def ping(self) -> None:
        """Raise ``BusUnavailable`` unless the log file answers."""
        await self._run(self._open_log().ping)

    async def send_many(self, records: Sequence[OutgoingRecord]) -> None:
        """Durably append ``records`` in one group commit; raise ``BusUnavailable`` on failure."""
        if not records:
            return
        self._open_log()
        assert self._loop is not None
        done: asyncio.Future[None] = self._loop.create_future()
        self._ops.put(_Append(records, done))
        await done

    def consumer(self, group: str, topics: Sequence[str]) -> EmbeddedConsumer:
        """A member of ``group`` reading ``topics``."""
        return EmbeddedConsumer(self, group, tuple(topics))

    # -- the bus thread --------------------------------------------------------------------

    def _serve(self) -> None:
        """The bus thread: calls one by one, appends and commits in batches, until stopped."""
        held: object | None = None
        while True:
            op = held if held is not None else self._ops.get()
            held = None
            if op is _STOP:
                return
            if isinstance(op, _Call):
                self._settle_call(op)
                continue
            assert isinstance(op, _Append | _Commit)
            batch: list[_Append | _Commit] = [op]
            size = len(op.records) if isinstance(op, _Append) else 1
            while size < self._max_batch:
                try:
                    nxt = self._ops.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(nxt, _Append | _Commit):
                    held = nxt
                    break
                batch.append(nxt)
                size += len(nxt.records) if isinstance(nxt, _Append) else 1
            self._write_batch(batch)
            if (self._retention is not None
                    and time.monotonic() - self._trimmed_at >= self._trim_every):
                self._trim(self._retention)

    def _write_batch(self, batch: list[_Append | _Commit]) -> None:
        commits: list[tuple[str, str, int, int]] = []
        placed: list[tuple[str, int, OutgoingRecord]] = []
        for op in batch:
            if isinstance(op, _Commit):
                commits.extend((op.group, t, p, o) for (t, p), o in op.offsets.items())
            else:
                placed.extend((r.topic, partition_for(r.key, self._partitions, self._rr), r)
                              for r in op.records)
        error: BaseException | None = None
        try:
            target = self._log
            if target is None:
                raise BusUnavailable("embedded bus is closed")
            target.write(placed, commits, int(time.time() * 1000))
        except BusUnavailable as exc:
            error = exc
        except Exception as exc:  # any failure fails the batch, never the thread
            error = BusUnavailable(f"embedded log write failed: {exc}")
        else:
            for topic, count in collections.Counter(t for t, _, _ in placed).items():
                BUS_APPENDED.labels(topic).inc(count)
        self._wake(self._settle_batch, batch, error)

    def _trim(self, retention: float) -> None:
        self._trimmed_at = time.monotonic()
        target = self._log
        if target is None:
            return
        began = time.perf_counter()
        try:
            deleted = target.trim(
                int((time.time() - retention) * 1000), topics=ALL_TOPICS,
                partitions=self._partitions, keep_unconsumed=frozenset({DLQ}),
                max_rows=_TRIM_PASS)
        except sqlite3.Error as exc:  # the appends matter more; try again next time
            log.warning(LogEvent.BUS_TRIM_FAILED, error=str(exc)[:300])
            return
        if deleted >= _TRIM_PASS:  # more to go: the next pass soon, between appends
            self._trimmed_at -= max(0.0, self._trim_every - 1.0)
        if deleted:
            log.info(LogEvent.BUS_TRIMMED, records=deleted,
                     seconds=round(time.perf_counter() - began, 2))

    def _settle_call(self, op: _Call) -> None:
        try:
            result = op.fn()
        except BaseException as exc:  # handed to the awaiting coroutine
            self._wake(_settle, op.done, None, exc)
        else:
            self._wake(_settle, op.done, result, None)

    def _wake(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            self._loop.call_soon_threadsafe(fn, *args)

    def _settle_batch(self, batch: list[_Append | _Commit], error: BaseException | None) -> None:
        for op in batch:
            _settle(op.done, None, error)
        if error is None:
            woken, self._appended = self._appended, asyncio.Event()
            woken.set()

    # -- consumer support -----------------------------------------------------------------

    def _join(self, member: EmbeddedConsumer) -> None:
        self._groups.setdefault(member.group, []).append(member)

    def _leave(self, member: EmbeddedConsumer) -> None:
        members = self._groups.get(member.group, [])
        if member in members:
            members.remove(member)

    def _assignment(self, member: EmbeddedConsumer) -> tuple[TopicPartition, ...]:
        members = self._groups.get(member.group, [member])
        index = members.index(member)
        pairs = [(t, p) for t in sorted(member.topics) for p in range(self._partitions)]
        return tuple(tp for i, tp in enumerate(pairs) if i % len(members) == index)

    async def _committed(
        self, group: str, tps: Sequence[TopicPartition]
    ) -> dict[TopicPartition, int]:
        found = await self._run(self._open_log().committed, group)
        return {tp: found.get(tp, 0) for tp in tps}

    async def _ends(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int | None]:
        return await self._run(self._open_log().ends, tps)

    async def backlog(self, topic: str, group: str) -> int:
        """Records on ``topic`` that ``group`` has not committed (e.g. dead letters waiting
        for ``cskh dlq replay``)."""
        return await self._run(self._open_log().waiting, topic, self._partitions, group)

    async def _read(self, positions: dict[TopicPartition, int], limit: int) -> list[Record]:
        per_partition = max(1, -(-limit // max(1, len(positions))))
        return await self._run(self._open_log().read, dict(positions), per_partition)

    async def _commit(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        self._open_log()
        assert self._loop is not None
        done: asyncio.Future[None] = self._loop.create_future()
        self._ops.put(_Commit(group, offsets, done))
        await done


def _settle(done: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(result)
    else:
        done.set_exception(error)


class EmbeddedConsumer:
    """A member of an embedded consumer group."""

    def __init__(self, bus: EmbeddedBus, group: str, topics: tuple[str, ...]) -> None:
        self._bus = bus
        self.group = group
        self.topics = topics
        self._assigned: tuple[TopicPartition, ...] = ()
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        self._bus._join(self)

    async def close(self) -> None:
        self._bus._leave(self)

    async def _sync_assignment(self) -> None:
        assigned = self._bus._assignment(self)
        if assigned != self._assigned:
            self._assigned = assigned
            self._positions = await self._bus._committed(self.group, assigned)

    async def poll(self, max_records: int, max_wait: float) -> list[Record]:
        deadline = time.monotonic() + max_wait
        while True:
            wake = self._bus._appended
            await self._sync_assignment()
            records = await self._bus._read(self._positions, max_records)
            if records:
                for rec in records:
                    self._positions[(rec.topic, rec.partition)] = rec.offset + 1
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            # Appends by another process are not signalled; look again at least every 200 ms.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(remaining, 0.2))

    async def commit(self, records: Sequence[Record]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for rec in records:
            tp = (rec.topic, rec.partition)
            offsets[tp] = max(offsets.get(tp, 0), rec.offset + 1)
        if offsets:
            await self._bus._commit(self.group, offsets)

    async def rewind(self) -> None:
        self._positions = await self._bus._committed(self.group, self._assigned)

    async def lag(self) -> dict[TopicPartition, int]:
        """Per assigned partition: records appended and not committed by the group."""
        await self._sync_assignment()
        ends = await self._bus._ends(self._assigned)
        committed = await self._bus._committed(self.group, self._assigned)
        return {tp: 0 if end is None else max(0, end - committed[tp]) for tp, end in ends.items()}
