"""Reading a bus from the tests' side, and a bus that only records what is appended."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from connectors.envelope import InboundEnvelope
from ingest.bus.base import Bus, Consumer, OutgoingRecord, Record
from ingest.bus.topics import INBOUND


async def read_all(bus: Bus, topic: str) -> list[Record]:
    """Every record of ``topic`` so far, read by a consumer group of its own."""
    consumer = bus.consumer(f"reader-{uuid.uuid4().hex[:8]}", [topic])
    await consumer.start()
    found: list[Record] = []
    try:
        while batch := await consumer.poll(500, 0.2):
            found.extend(batch)
    finally:
        await consumer.close()
    return found


async def poll_until(bus: Bus, group: str, topic: str, *, want: int = 1,
                     attempts: int = 20) -> list[Record]:
    """What ``group`` polls from ``topic`` until it has ``want`` records or has polled
    ``attempts`` times (half a second each when nothing comes)."""
    consumer = bus.consumer(group, [topic])
    await consumer.start()
    got: list[Record] = []
    try:
        for _ in range(attempts):
            got.extend(await consumer.poll(10, 0.5))
            if len(got) >= want:
                break
    finally:
        await consumer.close()
    return got


class RecordingBus:
    """A ``Bus`` that only keeps what is appended (for pullers tested without a log)."""

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def send_many(self, records: Sequence[OutgoingRecord]) -> None:
        self.records.extend(records)

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        raise NotImplementedError

    def topics(self) -> set[str]:
        """The topics appended to."""
        return {r.topic for r in self.records}

    def ids(self) -> list[str]:
        """The external ids of the envelopes appended to ``cskh.inbound``, in order."""
        return [InboundEnvelope.model_validate_json(r.value).external_id
                for r in self.records if r.topic == INBOUND]
