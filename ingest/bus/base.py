"""The bus contract both backends keep (the embedded SQLite log and Kafka).

* ``send``/``send_many`` return only once every record is durably appended (Kafka: acked by
  all in-sync replicas; embedded: committed to the SQLite file); otherwise they raise
  ``BusUnavailable`` and nothing may be assumed appended.
* Records with the same key land in the same partition and are delivered in append order.
* Each consumer group sees every record; members of one group share the partitions.
* Delivery is at least once: a consumer restarts from its group's last committed offset, so
  whatever it had not committed is delivered again. Effects must be idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class BusUnavailable(Exception):
    """The bus could not durably append (or read); the caller should answer 503 or retry."""


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A record to append; ``topic`` is the logical name (e.g. ``cskh.inbound``)."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Record:
    """A record as delivered to a consumer."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0

    def header(self, name: str) -> bytes | None:
        """The first header called ``name``, if any."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Consumer(Protocol):
    """One member of a consumer group, reading some partitions of some topics."""

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Leave the group. Uncommitted records will be delivered again to someone."""

    async def poll(self, max_records: int, max_wait: float) -> list[Record]:
        """Up to ``max_records`` records after the current position; waits up to ``max_wait`` s."""

    async def commit(self, records: Sequence[Record]) -> None:
        """Mark ``records`` (and everything before them in their partitions) as processed."""

    async def rewind(self) -> None:
        """Move back to the last committed offsets, so uncommitted records come again."""


class Bus(Protocol):
    """Producer side plus a factory of consumers, for one backend."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def send_many(self, records: Sequence[OutgoingRecord]) -> None:
        """Durably append all ``records``, or raise ``BusUnavailable``."""

    async def ping(self) -> None:
        """Return if the bus can be written to now; raise ``BusUnavailable`` otherwise."""

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        """A new, not yet started member of ``group`` reading ``topics``."""


async def send(bus: Bus, topic: str, value: bytes, key: bytes | None = None,
               headers: tuple[tuple[str, bytes], ...] = ()) -> None:
    """Durably append one record (see ``Bus.send_many``)."""
    await bus.send_many([OutgoingRecord(topic=topic, value=value, key=key, headers=headers)])


@runtime_checkable
class MeasuresLag(Protocol):
    """A consumer that can tell its lag (both backends' consumers do)."""

    async def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned (topic, partition): records appended and not committed by the group."""


@runtime_checkable
class MeasuresBacklog(Protocol):
    """A bus that can count what a group has not committed on a topic (both backends do)."""

    async def backlog(self, topic: str, group: str) -> int:
        """Records on ``topic`` at or after ``group``'s committed offsets."""
