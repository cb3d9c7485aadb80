"""The embedded bus: a durable, partitioned log in a SQLite file.

Appends from many coroutines are grouped into one transaction (group commit) by a single
writer task, so a burst of webhooks costs one fsync, not one each. The log has a SQLite file
of its own (beside the tickets' database), so an append never waits behind a ticket
transaction. All its SQL runs on one connection in one worker thread, each transaction or
read in a single hop, so the event loop is never blocked and nobody waits in SQLite's
sleeping busy handler. Consumers are woken as soon as the writer commits. Members of one
consumer group in this process share the partitions; the embedded bus does not coordinate
groups across processes (run one ``cskh serve``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import sqlite3
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ingest.bus.base import BusUnavailable, OutgoingRecord, Record
from storage.metrics import BUS_APPENDED

T = TypeVar("T")
TopicPartition = tuple[str, int]
Row = tuple[str, int, int, bytes | None, bytes, str, int]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS bus_log (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
        key BLOB, value BLOB NOT NULL, headers TEXT NOT NULL, ts INTEGER NOT NULL,
        PRIMARY KEY (topic, partition, "offset")) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS bus_partitions (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
        PRIMARY KEY (topic, partition)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS bus_offsets (
        grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
        "offset" INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID""",
)
_INSERT = 'INSERT INTO bus_log (topic, partition, "offset", key, value, headers, ts) VALUES '
_ROW = "(?, ?, ?, ?, ?, ?, ?)"
# Rows per INSERT statement (7 parameters each; SQLite allows 32,766 since 3.32). One statement
# for many rows, because the sqlite3 module gives up and takes back the GIL around every
# statement step: row by row, a writer thread waits for a busy event loop once per record.
_ROWS_PER_INSERT = 500
_ADVANCE = ("INSERT INTO bus_partitions (topic, partition, next_offset) VALUES (?, ?, ?) "
            "ON CONFLICT (topic, partition) DO UPDATE SET next_offset=excluded.next_offset")
_COMMIT = ('INSERT INTO bus_offsets (grp, topic, partition, "offset") VALUES (?, ?, ?, ?) '
           'ON CONFLICT (grp, topic, partition) DO UPDATE SET "offset"=excluded."offset"')
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


class _Log:
    """The SQL of the log, run synchronously in the bus's one worker thread."""

    def __init__(self, path: str, synchronous: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", "busy_timeout=30000"):
            self.conn.execute(f"PRAGMA {pragma}")
        for statement in _SCHEMA:
            self.conn.execute(statement)

    def write(self, placed: Sequence[tuple[str, int, OutgoingRecord]],
              commits: Sequence[tuple[str, str, int, int]], now_ms: int) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            next_offsets: dict[TopicPartition, int] = {}
            for topic in {t for t, _, _ in placed}:
                for partition, offset in conn.execute(
                        "SELECT partition, next_offset FROM bus_partitions WHERE topic=?",
                        (topic,)):
                    next_offsets[(topic, partition)] = offset
            rows: list[Row] = []
            for topic, partition, rec in placed:
                offset = next_offsets.get((topic, partition), 0)
                next_offsets[(topic, partition)] = offset + 1
                headers = json.dumps([[k, v.decode("latin-1")] for k, v in rec.headers])
                rows.append((topic, partition, offset, rec.key, rec.value, headers, now_ms))
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[start:start + _ROWS_PER_INSERT]
                conn.execute(_insert_sql(len(chunk)), [v for row in chunk for v in row])
            if rows:
                conn.executemany(_ADVANCE, [(t, p, n) for (t, p), n in next_offsets.items()])
            if commits:
                conn.executemany(_COMMIT, commits)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

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
        self.conn.execute("SELECT 1 FROM bus_partitions LIMIT 1").fetchall()


class EmbeddedBus:
    """The ``Bus`` backed by the SQLite file at ``path`` with ``partitions`` per topic.

    ``synchronous="FULL"`` (the default) fsyncs every group commit: an acknowledged append
    survives a power cut. ``"NORMAL"`` fsyncs at checkpoints only: an append survives the
    process being killed but not the machine losing power (like a single Kafka broker, which
    acknowledges from its page cache), for about a quarter more webhooks per second.
    """

    def __init__(self, path: str, *, partitions: int = 4, max_batch: int = 1000,
                 synchronous: Literal["FULL", "NORMAL"] = "FULL") -> None:
        self._path = path
        self._synchronous = synchronous
        self._partitions = partitions
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Append | _Commit] = asyncio.Queue()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-bus")
        self._log: _Log | None = None
        self._task: asyncio.Task[None] | None = None
        self._rr = itertools.count()
        self._appended = asyncio.Event()
        self._groups: dict[str, list[EmbeddedConsumer]] = {}
        self._closed = True

    @property
    def partitions(self) -> int:
        """Partitions per topic."""
        return self._partitions

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
        except (sqlite3.Error, OSError) as exc:
            raise BusUnavailable(f"embedded log: {exc}") from exc

    async def start(self) -> None:
        """Open the file, create the log tables if missing and start the writer."""
        self._log = await self._run(_Log, self._path, self._synchronous)
        self._closed = False
        self._task = asyncio.create_task(self._write_loop(), name="embedded-bus-writer")

    async def close(self) -> None:
        """Finish pending writes, then close. Later sends raise ``BusUnavailable``."""
        self._closed = True
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._log is not None:
            await self._run(self._log.conn.close)
            self._log = None
        self._thread.shutdown(wait=False)

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
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Append(records, done))
        await done

    def consumer(self, group: str, topics: Sequence[str]) -> EmbeddedConsumer:
        """A member of ``group`` reading ``topics``."""
        return EmbeddedConsumer(self, group, tuple(topics))

    # -- writer ---------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            ops: list[_Append | _Commit] = [first]
            size = len(first.records) if isinstance(first, _Append) else 1
            while size < self._max_batch and not self._queue.empty():
                op = self._queue.get_nowait()
                ops.append(op)
                size += len(op.records) if isinstance(op, _Append) else 1
            try:
                await self._write(ops)
            except (BusUnavailable, ValueError) as exc:
                error = BusUnavailable(f"embedded log write failed: {exc}")
                for op in ops:
                    if not op.done.done():
                        op.done.set_exception(error)
            else:
                for op in ops:
                    if not op.done.done():
                        op.done.set_result(None)
                woken, self._appended = self._appended, asyncio.Event()
                woken.set()
            finally:
                for _ in ops:
                    self._queue.task_done()

    async def _write(self, ops: list[_Append | _Commit]) -> None:
        log = self._log
        if log is None:
            raise BusUnavailable("embedded bus is closed")
        commits: list[tuple[str, str, int, int]] = []
        placed: list[tuple[str, int, OutgoingRecord]] = []
        for op in ops:
            if isinstance(op, _Commit):
                commits.extend((op.group, t, p, o) for (t, p), o in op.offsets.items())
            else:
                placed.extend((r.topic, partition_for(r.key, self._partitions, self._rr), r)
                              for r in op.records)
        await self._run(log.write, placed, commits, int(time.time() * 1000))
        for topic, _, _ in placed:
            BUS_APPENDED.labels(topic).inc()

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

    async def _read(self, positions: dict[TopicPartition, int], limit: int) -> list[Record]:
        per_partition = max(1, -(-limit // max(1, len(positions))))
        return await self._run(self._open_log().read, dict(positions), per_partition)

    async def _commit(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        self._open_log()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Commit(group, offsets, done))
        await done


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
