"""The embedded bus: a durable, partitioned log in a SQLite file.

Appends from many coroutines are grouped into one transaction (group commit) by a single
writer task, so a burst of webhooks costs one fsync, not one each. When the log shares its
file with the tickets it also shares their engine, whose single connection serializes every
writer of the file inside the process: nobody ever waits in SQLite's sleeping busy handler.
Consumers are woken as soon as the writer commits. Members of one consumer group in this
process share the partitions; the embedded bus does not coordinate groups across processes
(run one ``cskh serve``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest.bus.base import BusUnavailable, OutgoingRecord, Record
from storage.db import create_engine
from storage.metrics import BUS_APPENDED

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

TopicPartition = tuple[str, int]


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


_INSERT = text(
    'INSERT INTO bus_log (topic, partition, "offset", key, value, headers, ts) '
    "VALUES (:topic, :partition, :offset, :key, :value, :headers, :ts)"
)
_ADVANCE = text(
    "INSERT INTO bus_partitions (topic, partition, next_offset) VALUES (:topic, :partition, :n) "
    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset=excluded.next_offset"
)
_COMMIT = text(
    'INSERT INTO bus_offsets (grp, topic, partition, "offset") VALUES (:g, :topic, :partition, '
    ':offset) ON CONFLICT (grp, topic, partition) DO UPDATE SET "offset"=excluded."offset"'
)
_READ = text(
    'SELECT "offset", key, value, headers, ts FROM bus_log WHERE topic=:topic AND '
    'partition=:partition AND "offset">=:offset ORDER BY "offset" LIMIT :limit'
)
_ERRORS = (SQLAlchemyError, sqlite3.Error, OSError)


class EmbeddedBus:
    """The ``Bus`` backed by a SQLite file with ``partitions`` per topic.

    Give it the storage ``engine`` when the log lives in the tickets' database file, or a
    ``path`` for a file of its own.
    """

    def __init__(self, path: str | None = None, *, engine: AsyncEngine | None = None,
                 partitions: int = 4, max_batch: int = 1000) -> None:
        if (path is None) == (engine is None):
            raise ValueError("give the embedded bus either a path or an engine")
        self._engine = engine or create_engine(f"sqlite+aiosqlite:///{path}")
        self._owns_engine = engine is None
        self._partitions = partitions
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Append | _Commit] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._rr = itertools.count()
        self._appended = asyncio.Event()
        self._groups: dict[str, list[EmbeddedConsumer]] = {}
        self._closed = True

    @property
    def partitions(self) -> int:
        """Partitions per topic."""
        return self._partitions

    async def start(self) -> None:
        """Open the file, create the log tables if missing and start the writer."""
        try:
            async with self._engine.begin() as conn:
                for statement in _SCHEMA:
                    await conn.execute(text(statement))
        except _ERRORS as exc:
            raise BusUnavailable(f"cannot open the embedded log: {exc}") from exc
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
        if self._owns_engine:
            await self._engine.dispose()

    async def ping(self) -> None:
        """Raise ``BusUnavailable`` unless the log file answers."""
        if self._closed:
            raise BusUnavailable("embedded bus is closed")
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1 FROM bus_partitions LIMIT 1"))
        except _ERRORS as exc:
            raise BusUnavailable(str(exc)) from exc

    async def send_many(self, records: Sequence[OutgoingRecord]) -> None:
        """Durably append ``records`` in one group commit; raise ``BusUnavailable`` on failure."""
        if not records:
            return
        if self._closed:
            raise BusUnavailable("embedded bus is closed")
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
            except (*_ERRORS, ValueError) as exc:
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
        now_ms = int(time.time() * 1000)
        commits: list[dict[str, object]] = []
        placed: list[tuple[str, int, OutgoingRecord]] = []
        for op in ops:
            if isinstance(op, _Commit):
                commits.extend({"g": op.group, "topic": t, "partition": p, "offset": o}
                               for (t, p), o in op.offsets.items())
            else:
                for rec in op.records:
                    placed.append((rec.topic, partition_for(rec.key, self._partitions, self._rr),
                                   rec))
        async with self._engine.begin() as conn:
            next_offsets = await self._next_offsets(conn, {(t, p) for t, p, _ in placed})
            rows: list[dict[str, object]] = []
            for topic, partition, rec in placed:
                offset = next_offsets[(topic, partition)]
                next_offsets[(topic, partition)] = offset + 1
                rows.append({
                    "topic": topic, "partition": partition, "offset": offset, "key": rec.key,
                    "value": rec.value, "ts": now_ms,
                    "headers": json.dumps([[k, v.decode("latin-1")] for k, v in rec.headers]),
                })
            if rows:
                await conn.execute(_INSERT, rows)
                await conn.execute(_ADVANCE, [{"topic": t, "partition": p, "n": n}
                                              for (t, p), n in next_offsets.items()])
            if commits:
                await conn.execute(_COMMIT, commits)
        for topic, _, _ in placed:
            BUS_APPENDED.labels(topic).inc()

    @staticmethod
    async def _next_offsets(conn: AsyncConnection,
                            wanted: set[TopicPartition]) -> dict[TopicPartition, int]:
        result = dict.fromkeys(wanted, 0)
        for topic in {t for t, _ in wanted}:
            rows = await conn.execute(
                text("SELECT partition, next_offset FROM bus_partitions WHERE topic=:topic"),
                {"topic": topic},
            )
            for partition, next_offset in rows.all():
                if (topic, partition) in result:
                    result[(topic, partition)] = int(next_offset)
        return result

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
        result = dict.fromkeys(tps, 0)
        try:
            async with self._engine.connect() as conn:
                rows = await conn.execute(
                    text('SELECT topic, partition, "offset" FROM bus_offsets WHERE grp=:g'),
                    {"g": group},
                )
        except _ERRORS as exc:
            raise BusUnavailable(f"cannot read committed offsets: {exc}") from exc
        for topic, partition, offset in rows.all():
            if (topic, partition) in result:
                result[(topic, partition)] = int(offset)
        return result

    async def _read(self, positions: dict[TopicPartition, int], limit: int) -> list[Record]:
        if self._closed:
            raise BusUnavailable("embedded bus is closed")
        per_partition = max(1, -(-limit // max(1, len(positions))))
        out: list[Record] = []
        fetched = []
        try:
            async with self._engine.connect() as conn:
                for (topic, partition), offset in positions.items():
                    rows = await conn.execute(_READ, {"topic": topic, "partition": partition,
                                                      "offset": offset, "limit": per_partition})
                    fetched.append((topic, partition, rows.all()))
        except _ERRORS as exc:
            raise BusUnavailable(f"cannot read the log: {exc}") from exc
        for topic, partition, found in fetched:
            for off, key, value, headers, ts in found:
                out.append(Record(
                    topic=topic, partition=partition, offset=int(off), key=key, value=value,
                    headers=tuple((k, v.encode("latin-1")) for k, v in json.loads(headers)),
                    timestamp_ms=int(ts),
                ))
        return out

    async def _commit(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        if self._closed and self._task is None:
            raise BusUnavailable("embedded bus is closed")
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
