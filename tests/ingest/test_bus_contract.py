"""The bus contract, run against both backends: the embedded SQLite log and a real Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from ingest.bus.base import Bus, BusUnavailable, Consumer, OutgoingRecord, Record
from ingest.bus.embedded import EmbeddedBus
from ingest.bus.kafka import KafkaBus
from ingest.bus.loop import CommitPolicy, ConsumerLoop
from ingest.bus.topics import DLQ, INBOUND, TICKETS
from ingest.pipeline import is_transient


@pytest.fixture(params=["embedded", "embedded-fsync-normal",
                        pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    if request.param.startswith("embedded"):
        made: Bus = EmbeddedBus(str(tmp_path / "bus.db"), partitions=4,
                                synchronous="NORMAL" if "normal" in request.param else "FULL")
    else:
        made = KafkaBus(request.getfixturevalue("kafka_bootstrap"),
                        prefix=f"c{uuid.uuid4().hex[:10]}.", partitions=4)
    await made.start()
    yield made
    await made.close()


async def drain(consumer: Consumer, want: int, *, rounds: int = 60) -> list[Record]:
    """Poll until ``want`` records arrived (or ``rounds`` polls came back)."""
    got: list[Record] = []
    for _ in range(rounds):
        got.extend(await consumer.poll(500, 0.5))
        if len(got) >= want:
            break
    return got


async def read(bus: Bus, group: str, topic: str, want: int) -> list[Record]:
    """What a new member of ``group`` drains from ``topic`` (``want`` records), leaving
    without committing."""
    reader = bus.consumer(group, [topic])
    await reader.start()
    got = await drain(reader, want)
    await reader.close()
    return got


def rec(topic: str, key: str, value: str) -> OutgoingRecord:
    return OutgoingRecord(topic=topic, key=key.encode(), value=value.encode())


def numbers_of(records: Sequence[Record], key: str) -> list[int]:
    """The numbers of ``key``'s records (values ``"<key>:<n>"``), in the order read."""
    return [int(r.value.decode().split(":")[1]) for r in records if r.key == key.encode()]


async def test_per_key_order_is_kept(bus: Bus) -> None:
    # 1,200 records in one append: more than one multi-row INSERT of the embedded log.
    keys = [f"thread-{i}" for i in range(6)]
    await bus.send_many([rec(INBOUND, keys[i % 6], f"{keys[i % 6]}:{i}") for i in range(1200)])
    got = await read(bus, "g-order", INBOUND, 1200)
    assert len(got) == 1200
    for key in keys:
        seq = numbers_of(got, key)
        assert seq == sorted(seq) and len(seq) == 200
    partitions = {r.key: r.partition for r in got}
    assert all(r.partition == partitions[r.key] for r in got)


async def test_concurrent_callers_keep_each_keys_order(bus: Bus) -> None:
    # Webhooks answered together: each append is its own call, started in this order.
    keys = [f"thread-{i}" for i in range(3)]
    await asyncio.gather(*(bus.send_many([rec(INBOUND, keys[i % 3], f"{keys[i % 3]}:{i}")])
                           for i in range(300)))
    got = await read(bus, "g-callers", INBOUND, 300)
    assert len(got) == 300
    for key in keys:
        assert numbers_of(got, key) == list(range(keys.index(key), 300, 3))


async def test_each_group_sees_everything(bus: Bus) -> None:
    await bus.send_many([rec(TICKETS, f"k{i}", str(i)) for i in range(30)])
    for group in ("g-a", "g-b"):
        consumer = bus.consumer(group, [TICKETS])
        await consumer.start()
        got = await drain(consumer, 30)
        await consumer.commit(got)
        await consumer.close()
        assert sorted(int(r.value) for r in got) == list(range(30))


async def test_uncommitted_records_come_again_and_committed_ones_do_not(bus: Bus) -> None:
    await bus.send_many([rec(INBOUND, f"k{i}", str(i)) for i in range(10)])
    first = bus.consumer("g-crash", [INBOUND])
    await first.start()
    got = await drain(first, 10)
    assert len(got) == 10
    await first.close()  # "crashed" before committing

    second = bus.consumer("g-crash", [INBOUND])
    await second.start()
    again = await drain(second, 10)
    assert sorted(r.value for r in again) == sorted(r.value for r in got)
    await second.commit(again)
    await second.close()

    await bus.send_many([rec(INBOUND, "k-new", "new")])
    rest = await read(bus, "g-crash", INBOUND, 1)
    assert [r.value for r in rest] == [b"new"]


async def test_rewind_returns_to_the_last_commit(bus: Bus) -> None:
    await bus.send_many([rec(INBOUND, "same", str(i)) for i in range(5)])
    consumer = bus.consumer("g-rewind", [INBOUND])
    await consumer.start()
    got = await drain(consumer, 5)
    await consumer.commit(got[:2])
    await consumer.rewind()
    again = await drain(consumer, 3)
    await consumer.close()
    assert [r.value for r in again] == [b"2", b"3", b"4"]


async def test_headers_and_binary_values_survive(bus: Bus) -> None:
    value = "Hóa đơn VAT sai mã số thuế 😡".encode() + b"\x00\xff"
    await bus.send_many([OutgoingRecord(topic=INBOUND, key=None, value=value,
                                        headers=(("x-trace", b"\x01\x02abc"),))])
    got = await read(bus, "g-bytes", INBOUND, 1)
    assert got[0].value == value
    assert got[0].header("x-trace") == b"\x01\x02abc"


class FlakyHandler:
    """Fails on values starting with ``poison``; fails transiently ``transient`` times first."""

    def __init__(self, transient: int = 0) -> None:
        self.transient = transient
        self.applied: list[bytes] = []

    async def __call__(self, records: Sequence[Record]) -> None:
        if self.transient:
            self.transient -= 1
            raise ConnectionError("database went away")
        for r in records:
            if r.value.startswith(b"poison"):
                raise ValueError(f"cannot parse {r.value[:10]!r}")
        self.applied.extend(r.value for r in records)


async def test_poison_goes_to_the_dlq_with_its_bytes_and_the_rest_is_applied(bus: Bus) -> None:
    values = [b"ok-1", b"poison-\xff\xfe", b"ok-2", b"ok-3"]
    await bus.send_many([OutgoingRecord(topic=INBOUND, key=b"one", value=v) for v in values])
    handler = FlakyHandler()
    consumer = bus.consumer("g-poison", [INBOUND])
    await consumer.start()
    loop = ConsumerLoop(bus, consumer, "g-poison", handler, is_transient=is_transient,
                        policy=CommitPolicy(max_records=10, max_wait=1.0))
    processed = 0
    for _ in range(20):
        processed += await loop.run_once()
        if processed >= 4:
            break
    await consumer.close()
    assert handler.applied == [b"ok-1", b"ok-2", b"ok-3"]
    dead = await read(bus, "g-dlq-reader", DLQ, 1)
    assert [d.value for d in dead] == [b"poison-\xff\xfe"]
    assert b"ValueError" in (dead[0].header("dlq.error") or b"")
    assert dead[0].header("dlq.topic") == INBOUND.encode()
    assert dead[0].header("dlq.group") == b"g-poison"

    after = bus.consumer("g-poison", [INBOUND])
    await after.start()
    assert await after.poll(10, 0.5) == []
    await after.close()


async def test_transient_failure_commits_nothing_and_retries(bus: Bus) -> None:
    await bus.send_many([rec(INBOUND, "k", v) for v in ("a", "b")])
    handler = FlakyHandler(transient=1)
    consumer = bus.consumer("g-transient", [INBOUND])
    await consumer.start()
    loop = ConsumerLoop(bus, consumer, "g-transient", handler, is_transient=is_transient,
                        policy=CommitPolicy(max_records=10, max_wait=1.0))
    with pytest.raises(ConnectionError):
        for _ in range(20):
            await loop.run_once()
    processed = 0
    for _ in range(20):
        processed += await loop.run_once()
        if processed >= 2:
            break
    await consumer.close()
    assert handler.applied == [b"a", b"b"]


async def test_a_closed_bus_refuses_to_append(tmp_path: Path) -> None:
    bus = EmbeddedBus(str(tmp_path / "closed.db"))
    await bus.start()
    await bus.close()
    with pytest.raises(BusUnavailable):
        await bus.send_many([rec(INBOUND, "k", "v")])
    with pytest.raises(BusUnavailable):
        await bus.ping()


async def test_members_of_one_embedded_group_share_partitions(tmp_path: Path) -> None:
    bus = EmbeddedBus(str(tmp_path / "share.db"), partitions=4)
    await bus.start()
    await bus.send_many([rec(INBOUND, f"k{i}", str(i)) for i in range(40)])
    one, two = bus.consumer("g-share", [INBOUND]), bus.consumer("g-share", [INBOUND])
    await one.start()
    await two.start()
    got_one = await drain(one, 40, rounds=2)
    got_two = await drain(two, 40, rounds=2)
    await bus.close()
    assert got_one and got_two
    assert {(r.partition, r.offset) for r in got_one}.isdisjoint(
        {(r.partition, r.offset) for r in got_two})
    assert len(got_one) + len(got_two) == 40
