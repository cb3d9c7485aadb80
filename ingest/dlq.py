"""Dead letters: list what is in ``cskh.dlq`` and replay it onto the topic it came from."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

from ingest.bus.base import Bus, Consumer, MeasuresBacklog, OutgoingRecord, Record
from ingest.bus.topics import DLQ
from storage.metrics import DLQ_WAITING

REPLAY_GROUP = "cskh-dlq-replay"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of ``cskh.dlq`` with where it failed and why."""

    record: Record

    def header(self, name: str) -> str:
        value = self.record.header(name)
        return value.decode("utf-8", "replace") if value is not None else ""

    def original(self) -> OutgoingRecord:
        """The record as it was before it failed, headed for its original topic."""
        headers = tuple((k, v) for k, v in self.record.headers if not k.startswith("dlq."))
        return OutgoingRecord(topic=self.header("dlq.topic"), value=self.record.value,
                              key=self.record.key, headers=headers)

    def as_json(self) -> dict[str, Any]:
        value = self.record.value
        try:
            text: str | None = value.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {
            "partition": self.record.partition, "offset": self.record.offset,
            "error": self.header("dlq.error"), "group": self.header("dlq.group"),
            "topic": self.header("dlq.topic"),
            "source": self.header("dlq.source"),  # e.g. a mailbox folder and UID
            "source_partition": self.header("dlq.partition"),
            "source_offset": self.header("dlq.offset"),
            "size": len(value), "value": text,
            "value_base64": None if text is not None else base64.b64encode(value).decode(),
        }


async def _drain(consumer: Consumer) -> list[Record]:
    found: list[Record] = []
    while batch := await consumer.poll(500, 2.0):
        found.extend(batch)
    return found


async def list_dead_letters(bus: Bus) -> list[DeadLetter]:
    """Every dead letter, oldest first per partition; reading them changes nothing."""
    consumer = bus.consumer(f"cskh-dlq-reader-{uuid.uuid4().hex[:12]}", [DLQ])
    await consumer.start()
    try:
        found = await _drain(consumer)
    finally:
        await consumer.close()
    return [DeadLetter(r) for r in sorted(found, key=lambda r: (r.partition, r.offset))]


async def replay_dead_letters(bus: Bus) -> list[DeadLetter]:
    """Append every dead letter not replayed before to its original topic, once.

    Returns those replayed. The consumers' idempotency makes a replay of a message whose effect
    did happen harmless; one that fails again comes back to the dead-letter topic.
    """
    consumer = bus.consumer(REPLAY_GROUP, [DLQ])
    await consumer.start()
    try:
        found = await _drain(consumer)
        letters = [DeadLetter(r) for r in found]
        replayable = [d.original() for d in letters if d.header("dlq.topic")]
        if replayable:
            await bus.send_many(replayable)
        if found:
            await consumer.commit(found)
        return letters
    finally:
        await consumer.close()


async def measure_dead_letters(bus: Bus) -> int | None:
    """Set ``cskh_dlq_records``: dead letters ``cskh dlq replay`` has not replayed yet."""
    if not isinstance(bus, MeasuresBacklog):
        return None
    waiting = await bus.backlog(DLQ, REPLAY_GROUP)
    DLQ_WAITING.set(waiting)
    return waiting
