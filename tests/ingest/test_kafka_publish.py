"""The Kafka bus sends what concurrent callers append as shared batches, and answers each."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ingest.bus.base import BusUnavailable, OutgoingRecord
from ingest.bus.kafka import KafkaBus, kafka_partition
from ingest.bus.topics import INBOUND
from tests.support.bus import poll_until

pytestmark = pytest.mark.kafka


@contextlib.asynccontextmanager
async def started_bus(bootstrap: str, **options: Any) -> AsyncIterator[KafkaBus]:
    """A Kafka bus on topics of its own, closed afterwards."""
    made = KafkaBus(bootstrap, prefix=f"p{uuid.uuid4().hex[:10]}.", partitions=4, **options)
    await made.start()
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def bus(kafka_bootstrap: str) -> AsyncIterator[KafkaBus]:
    async with started_bus(kafka_bootstrap) as made:
        yield made


def lose_first_batch(bus: KafkaBus, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The producer loses the next batch it is handed (never acknowledged), then sends the
    ones after it; returns what became of each batch, "lost" or "sent", as it happens."""
    producer: Any = bus._producer
    real = producer.send_batch
    outcomes: list[str] = []

    async def first_lost(batch: Any, topic: str, *, partition: int) -> Any:
        if not outcomes:
            outcomes.append("lost")
            return asyncio.get_running_loop().create_future()
        outcomes.append("sent")
        return await real(batch, topic, partition=partition)

    monkeypatch.setattr(producer, "send_batch", first_lost)
    return outcomes


def rec(key: str, value: bytes) -> OutgoingRecord:
    return OutgoingRecord(topic=INBOUND, key=key.encode(), value=value)


def batches_sent(bus: KafkaBus, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The partition of each batch the producer is handed from now on."""
    producer: Any = bus._producer
    original = producer.send_batch
    seen: list[int] = []

    async def counting(batch: Any, topic: str, *, partition: int) -> Any:
        seen.append(partition)
        return await original(batch, topic, partition=partition)

    monkeypatch.setattr(producer, "send_batch", counting)
    return seen


async def test_calls_of_one_moment_share_one_batch_per_partition(
        bus: KafkaBus, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = batches_sent(bus, monkeypatch)
    await asyncio.gather(*(bus.send_many([rec(f"k{i}", f"v{i}".encode())]) for i in range(100)))
    # 100 calls, sent as at most one batch per partition (not one batch per call)
    assert 1 <= len(seen) <= 4 and len(seen) == len(set(seen))
    got = await poll_until(bus, f"r-{uuid.uuid4().hex[:8]}", INBOUND, want=100, attempts=40)
    assert sorted(r.value for r in got) == sorted(f"v{i}".encode() for i in range(100))


async def test_a_refused_record_fails_its_caller_only(bus: KafkaBus) -> None:
    # Over the broker's message.max.bytes (1 MiB by default): refused whatever the batch.
    big, small = "big-key", "small-key"
    partitions = [0, 1, 2, 3]
    while kafka_partition(small.encode(), partitions, partitions) == kafka_partition(
            big.encode(), partitions, partitions):
        small += "x"
    outcomes = await asyncio.gather(bus.send_many([rec(big, b"x" * 1_500_000)]),
                                    bus.send_many([rec(small, b"fine")]),
                                    return_exceptions=True)
    assert isinstance(outcomes[0], BusUnavailable)
    assert outcomes[1] is None
    await bus.send_many([rec(big, b"after")])  # the bus goes on
    got = await poll_until(bus, f"r-{uuid.uuid4().hex[:8]}", INBOUND, want=2, attempts=40)
    assert sorted(r.value for r in got) == [b"after", b"fine"]


async def test_closing_sends_what_callers_queued(kafka_bootstrap: str) -> None:
    prefix = f"p{uuid.uuid4().hex[:10]}."
    bus = KafkaBus(kafka_bootstrap, prefix=prefix, partitions=4)
    await bus.start()
    calls = [asyncio.create_task(bus.send_many([rec(f"k{i}", b"queued")])) for i in range(50)]
    await asyncio.sleep(0)  # the calls are queued, not yet sent
    await bus.close()
    assert [c.result() for c in calls] == [None] * 50
    reader = KafkaBus(kafka_bootstrap, prefix=prefix, partitions=4)
    await reader.start()
    try:
        got = await poll_until(reader, f"r-{uuid.uuid4().hex[:8]}", INBOUND, want=50,
                               attempts=40)
        assert len(got) == 50
    finally:
        await reader.close()


async def test_a_batch_that_never_settles_times_out_its_caller_and_not_the_next(
        kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with started_bus(kafka_bootstrap, send_timeout=0.5) as bus:
        outcomes = lose_first_batch(bus, monkeypatch)
        with pytest.raises(BusUnavailable, match="did not acknowledge"):
            await bus.send_many([rec("k", b"lost")])
        await bus.send_many([rec("k", b"next")])
    assert outcomes == ["lost", "sent"]


async def test_a_call_queued_behind_a_lost_round_keeps_its_own_deadline(
        kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The lost round ends at its oldest call's deadline; the call that arrived meanwhile
    # goes in the next round with the rest of its own time, and is acknowledged.
    async with started_bus(kafka_bootstrap, send_timeout=1.0) as bus:
        outcomes = lose_first_batch(bus, monkeypatch)
        lost = asyncio.create_task(bus.send_many([rec("k", b"lost")]))
        await asyncio.sleep(0.3)  # the first round is in flight
        behind = asyncio.create_task(bus.send_many([rec("k", b"behind")]))
        with pytest.raises(BusUnavailable, match="did not acknowledge"):
            await lost
        await behind
    assert outcomes == ["lost", "sent"]


async def test_more_than_a_batch_for_one_partition_goes_as_several_in_order(
        bus: KafkaBus, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = batches_sent(bus, monkeypatch)
    # 100 KiB for one key: more than one batch (16 KiB each by default), sent in order.
    await bus.send_many([rec("one-key", f"{i:04d}".encode() + b"x" * 1024) for i in range(100)])
    assert len(seen) > 1 and len(set(seen)) == 1
    got = await poll_until(bus, f"r-{uuid.uuid4().hex[:8]}", INBOUND, want=100, attempts=40)
    assert [int(r.value[:4]) for r in got] == list(range(100))


async def test_a_producer_the_broker_refuses_for_good_is_replaced(bus: KafkaBus) -> None:
    # What a broker restart or a long stall can leave behind: the broker expects sequence
    # number n of this producer on a partition and gets a later one (the batch in between is
    # lost), answers OUT_OF_ORDER_SEQUENCE_NUMBER (45), and that producer sends nothing more
    # (aiokafka's sender stops). Made here for real: the producer's next sequence number on
    # the record's partition is moved on by 5.
    await bus.send_many([rec("k", b"one")])
    producer: Any = bus._producer
    manager = producer._txn_manager
    (tp,) = [tp for tp in manager._sequence_numbers if manager.sequence_number(tp) > 0]
    manager.increment_sequence_number(tp, 5)
    with pytest.raises(BusUnavailable, match="OutOfOrderSequenceNumber"):
        await bus.send_many([rec("k", b"lost")])
    # the caller was told (a webhook answers 503, a consumer retries); the bus goes on with
    # a new producer, and the next records arrive
    await bus.send_many([rec("k", b"two")])
    await bus.send_many([rec("k", b"three")])
    assert bus._producer is not producer and bus.producers_renewed == 1
    got = await poll_until(bus, f"r-{uuid.uuid4().hex[:8]}", INBOUND, want=3, attempts=40)
    assert [r.value for r in got] == [b"one", b"two", b"three"]
