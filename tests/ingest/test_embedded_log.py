"""The embedded log's own file: layout upgrade, a second appender on the same file, failures."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from ingest.bus.base import BusUnavailable, OutgoingRecord, Record
from ingest.bus.embedded import EmbeddedBus, partition_for
from ingest.bus.topics import ASSIGNMENTS, DLQ, INBOUND, TICKETS

FIRST_LAYOUT = (
    """CREATE TABLE bus_log (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
        key BLOB, value BLOB NOT NULL, headers TEXT NOT NULL, ts INTEGER NOT NULL,
        PRIMARY KEY (topic, partition, "offset")) WITHOUT ROWID""",
    """CREATE TABLE bus_partitions (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
        PRIMARY KEY (topic, partition)) WITHOUT ROWID""",
    """CREATE TABLE bus_offsets (
        grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
        "offset" INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID""",
)


def rec(key: str, value: str) -> OutgoingRecord:
    return OutgoingRecord(topic=INBOUND, key=key.encode(), value=value.encode())


async def read_all(bus: EmbeddedBus, group: str, want: int) -> list[Record]:
    consumer = bus.consumer(group, [INBOUND])
    await consumer.start()
    got: list[Record] = []
    for _ in range(40):
        got.extend(await consumer.poll(1000, 0.2))
        if len(got) >= want:
            break
    await consumer.commit(got)
    await consumer.close()
    return got


async def test_a_log_file_of_the_first_layout_is_converted_keeping_records_and_offsets(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in FIRST_LAYOUT:
        conn.execute(statement)
    part = partition_for(b"thread-1", 4, itertools.count())
    conn.executemany(
        'INSERT INTO bus_log (topic, partition, "offset", key, value, headers, ts) '
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(INBOUND, part, i, b"thread-1", f"old-{i}".encode(), '[["h", "v"]]', 1000 + i)
         for i in range(5)])
    conn.execute("INSERT INTO bus_partitions VALUES (?, ?, 5)", (INBOUND, part))
    conn.execute("INSERT INTO bus_offsets VALUES ('g', ?, ?, 2)", (INBOUND, part))
    conn.commit()
    conn.close()

    bus = EmbeddedBus(str(path), partitions=4)
    with capture_logs() as logs:
        await bus.start()
    try:
        await bus.send_many([rec("thread-1", "new-5")])
        got = await read_all(bus, "g", 4)
        assert [(r.offset, r.value) for r in got] == [
            (2, b"old-2"), (3, b"old-3"), (4, b"old-4"), (5, b"new-5")]
        assert got[0].headers == (("h", b"v"),)
    finally:
        await bus.close()
    with sqlite3.connect(path) as check:
        (sql,) = check.execute(
            "SELECT sql FROM sqlite_master WHERE type='table' AND name='bus_log'").fetchone()
        tables = {n for (n,) in check.execute("SELECT name FROM sqlite_master")}
    assert "WITHOUT ROWID" not in sql.upper()
    assert "bus_log_first_layout" not in tables
    assert [(e["event"], e.get("records")) for e in logs] == [
        ("bus.log_converting", None), ("bus.log_converted", 5)]


async def test_two_appenders_on_one_file_interleave_without_losing_or_reusing_an_offset(
        tmp_path: Path) -> None:
    # A second appender is what `cskh dlq replay` is while `cskh serve` runs: each keeps its
    # partitions' next offsets in memory, so each must notice the other's appends.
    path = str(tmp_path / "shared.db")
    one, two = EmbeddedBus(path, partitions=1), EmbeddedBus(path, partitions=1)
    await one.start()
    await two.start()
    try:
        for i in range(10):
            await (one if i % 3 else two).send_many([rec("k", f"v{i}"), rec("k", f"w{i}")])
        got = await read_all(one, "g", 20)
    finally:
        await one.close()
        await two.close()
    assert [r.offset for r in got] == list(range(20))
    assert [r.value.decode() for r in got] == [x for i in range(10) for x in (f"v{i}", f"w{i}")]


async def test_a_failed_batch_fails_its_senders_and_the_bus_goes_on(tmp_path: Path) -> None:
    bus = EmbeddedBus(str(tmp_path / "fail.db"), partitions=2)
    await bus.start()
    try:
        bad: Any = {"not": "bytes"}
        with pytest.raises(BusUnavailable):
            await bus.send_many([OutgoingRecord(topic=INBOUND, key=b"k", value=bad)])
        await bus.send_many([rec("k", "after")])
        got = await read_all(bus, "g", 1)
        assert [r.value for r in got] == [b"after"]
        assert got[0].offset == 0  # the failed batch used no offset
    finally:
        await bus.close()
    with pytest.raises(BusUnavailable):
        await bus.send_many([rec("k", "closed")])


async def test_close_writes_every_append_already_handed_over(tmp_path: Path) -> None:
    # Graceful shutdown: appends in flight when close() starts are written, not refused.
    path = str(tmp_path / "close.db")
    bus = EmbeddedBus(path, partitions=2)
    await bus.start()
    sends = [asyncio.create_task(bus.send_many([rec(f"k{i}", f"v{i}")])) for i in range(200)]
    await asyncio.sleep(0)  # every send has queued its records
    await bus.close()
    results = await asyncio.gather(*sends, return_exceptions=True)
    assert [r for r in results if r is not None] == []
    reopened = EmbeddedBus(path, partitions=2)
    await reopened.start()
    try:
        got = await read_all(reopened, "g", 200)
    finally:
        await reopened.close()
    assert sorted(r.value for r in got) == sorted(f"v{i}".encode() for i in range(200))


def positions(path: str) -> dict[str, list[int]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute('SELECT topic, "offset" FROM bus_log ORDER BY topic, "offset"')
        out: dict[str, list[int]] = {}
        for topic, offset in rows:
            out.setdefault(topic, []).append(offset)
        return out


async def test_retention_trims_only_what_every_group_has_read_and_keeps_dead_letters(
        tmp_path: Path) -> None:
    path = str(tmp_path / "trim.db")
    bus = EmbeddedBus(path, partitions=1, retention=0.3, trim_every=0.0)
    await bus.start()
    try:
        await bus.send_many([rec("k", f"in{i}") for i in range(10)])
        await bus.send_many([OutgoingRecord(topic=TICKETS, key=b"t", value=b"t") for _ in range(4)])
        await bus.send_many([OutgoingRecord(topic=DLQ, key=b"d", value=b"d") for _ in range(3)])
        for group, read in (("g1", 6), ("g2", 8)):  # g1 is the slower reader
            consumer = bus.consumer(group, [INBOUND])
            await consumer.start()
            got = await consumer.poll(100, 1.0)
            await consumer.commit(got[:read])
            await consumer.close()
        await asyncio.sleep(0.4)  # everything so far is older than the retention
        with capture_logs() as logs:
            await bus.send_many([OutgoingRecord(topic=ASSIGNMENTS, key=b"a", value=b"a")])
            await bus.ping()  # queued behind the trim that follows that write
        assert positions(path) == {
            INBOUND: [6, 7, 8, 9],   # below both groups' commits: gone; g1 has not read 6-9
            TICKETS: [3],            # nobody consumes it: by age, but the newest stays
            DLQ: [0, 1, 2],          # dead letters wait for `cskh dlq replay`
            ASSIGNMENTS: [0],        # new
        }
        assert [(e["event"], e["records"]) for e in logs] == [("bus.trimmed", 9)]
        # Offsets go on from the newest record, and readers from where they were.
        await bus.send_many([OutgoingRecord(topic=TICKETS, key=b"t", value=b"after")])
        assert positions(path)[TICKETS][-1] == 4
        slow = bus.consumer("g1", [INBOUND])
        await slow.start()
        assert [r.offset for r in await slow.poll(100, 1.0)] == [6, 7, 8, 9]
        await slow.close()
    finally:
        await bus.close()

