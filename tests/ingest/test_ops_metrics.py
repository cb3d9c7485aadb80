"""What an on-call operator reads at /metrics: consumer lag per group and partition, dead
letters waiting, sender failures per channel, puller state; on both backend pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import REGISTRY

from ingest.bus.base import OutgoingRecord, Record
from ingest.bus.loop import ConsumerLoop, dead_letter
from ingest.bus.topics import INBOUND
from ingest.dlq import measure_dead_letters, replay_dead_letters
from ingest.lifecycle import make_bus
from ingest.web.app import metrics


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_lag_per_partition_counts_what_the_group_has_not_committed(
        backend: Any, unique: Any) -> None:
    bus = make_bus(backend.settings())
    await bus.start()
    group = unique("lag-")
    try:
        await bus.send_many([OutgoingRecord(topic=INBOUND, value=f"m{i}".encode(),
                                            key=f"thread-{i}".encode()) for i in range(12)])
        seen: list[bytes] = []

        async def handler(records: Sequence[Record]) -> None:
            seen.extend(r.value for r in records)

        loop = ConsumerLoop(bus, bus.consumer(group, [INBOUND]), group, handler,
                            is_transient=lambda _exc: False)
        await loop.start()
        try:
            before = await loop.report_lag()
            assert sum(before.values()) == 12
            assert len({p for _, p in before}) > 1  # spread over partitions, one figure each
            for (topic, partition), records in before.items():
                assert sample("cskh_consumer_lag_records", group=group, topic=topic,
                              partition=str(partition)) == records
            for _ in range(50):
                if len(seen) >= 12:
                    break
                await loop.run_once()
            assert sorted(seen) == sorted(f"m{i}".encode() for i in range(12))
            after = await loop.report_lag()
            assert set(after) == set(before) and not any(after.values())
            await bus.send_many([OutgoingRecord(topic=INBOUND, value=b"late", key=b"thread-0")])
            assert sum((await loop.report_lag()).values()) == 1
        finally:
            await loop.close()
    finally:
        await bus.close()


async def test_dead_letters_waiting_fall_to_zero_once_replayed(backend: Any) -> None:
    bus = make_bus(backend.settings())
    await bus.start()
    try:
        assert await measure_dead_letters(bus) == 0
        failed = [Record(topic=INBOUND, partition=0, offset=i, key=b"k", value=b"\xffpoison",
                         headers=()) for i in range(3)]
        await bus.send_many([dead_letter(r, "cskh-normalizer", ValueError("bad")) for r in failed])
        assert await measure_dead_letters(bus) == 3
        assert sample("cskh_dlq_records") == 3
        replayed = await replay_dead_letters(bus)
        assert len(replayed) == 3
        assert await measure_dead_letters(bus) == 0
        assert sample("cskh_dlq_records") == 0
    finally:
        await bus.close()


async def test_the_catalogue_is_exposed_at_metrics() -> None:
    response = await metrics(None)  # type: ignore[arg-type]
    assert response.body is not None
    text = bytes(response.body).decode()  # type: ignore[arg-type]
    for name in ("cskh_consumer_lag_records", "cskh_dlq_records", "cskh_sender_failures_total",
                 "cskh_sender_sent_total", "cskh_puller_up",
                 "cskh_puller_last_success_timestamp_seconds", "cskh_puller_failures_total",
                 "cskh_puller_lease_held", "cskh_sla_events_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
