"""A consumer loop: poll a batch, apply the handler's effect, then commit; poison to the DLQ.

The handler receives a whole batch and commits its effect in one transaction. If the batch
fails, the loop retries record by record: a record whose failure is *transient* (the database
or bus is unreachable) stops the loop, rewinds to the last commit and backs off; any other
failure marks that record as poison, and it goes to ``cskh.dlq`` with the error and its
original bytes. Offsets are committed only after the effect (or the dead letter) is durable.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from ingest.bus.base import (
    Bus,
    BusUnavailable,
    Consumer,
    MeasuresLag,
    OutgoingRecord,
    Record,
)
from ingest.bus.topics import DLQ
from storage.log_events import LogEvent
from storage.metrics import (
    CONSUMED,
    CONSUMER_ERRORS,
    CONSUMER_LAG,
    CONSUMER_LAG_BATCH,
    DEAD_LETTERS,
)

Handler = Callable[[Sequence[Record]], Awaitable[None]]
IsTransient = Callable[[BaseException], bool]
Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CommitPolicy:
    """How much to take per step, how long to wait for it, and how long to let it gather."""

    max_records: int = 500
    max_wait: float = 0.5
    linger: float = 0.01
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    lag_every: float = 10.0  # seconds between two lag figures (cskh_consumer_lag_records)


def dead_letter(record: Record, group: str, error: BaseException) -> OutgoingRecord:
    """The DLQ record for ``record``: the original bytes, key and headers plus where and why."""
    reason = f"{type(error).__name__}: {error}"[:2000]
    headers = (
        *record.headers,
        ("dlq.error", reason.encode()),
        ("dlq.topic", record.topic.encode()),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
        ("dlq.group", group.encode()),
    )
    return OutgoingRecord(topic=DLQ, value=record.value, key=record.key, headers=headers)


class ConsumerLoop:
    """Drives ``handler`` over ``consumer`` for ``group``; step it with ``run_once``."""

    def __init__(self, bus: Bus, consumer: Consumer, group: str, handler: Handler, *,
                 is_transient: IsTransient, policy: CommitPolicy | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        self._bus = bus
        self._consumer = consumer
        self._group = group
        self._handler = handler
        self._is_transient = is_transient
        self._policy = policy or CommitPolicy()
        self._sleep = sleep
        self._backoff = self._policy.backoff_initial
        self._lag_due = 0.0
        self._lag_labels: set[tuple[str, int]] = set()

    async def start(self) -> None:
        """Join the consumer group."""
        await self._consumer.start()

    async def close(self) -> None:
        """Leave the consumer group; what was not committed will be delivered again."""
        await self._consumer.close()

    async def run_once(self) -> int:
        """Poll one batch, apply it, commit it. Returns the records committed.

        Raises the transient error (after rewinding) when the effect could not be applied.
        """
        policy = self._policy
        records = await self._consumer.poll(policy.max_records, policy.max_wait)
        if not records:
            return 0
        if len(records) < policy.max_records and policy.linger > 0:
            # A short pause lets a burst gather into one batch: one transaction, not many.
            await self._sleep(policy.linger)
            records += await self._consumer.poll(policy.max_records - len(records), 0)
        started = time.perf_counter()
        try:
            await self._apply(records)
            applied = time.perf_counter()
            await self._consumer.commit(records)
        except BaseException:
            await self._consumer.rewind()
            raise
        log.debug(LogEvent.CONSUMER_BATCH, group=self._group, records=len(records),
                  apply_ms=round((applied - started) * 1000, 1),
                  commit_ms=round((time.perf_counter() - applied) * 1000, 1))
        CONSUMER_LAG_BATCH.labels(self._group).set(len(records))
        for rec in records:
            CONSUMED.labels(self._group, rec.topic).inc()
        return len(records)

    async def report_lag(self) -> dict[tuple[str, int], int]:
        """Set ``cskh_consumer_lag_records`` for the partitions this member holds (and drop
        those it no longer holds). Returns the figures; {} when the consumer cannot tell."""
        if not isinstance(self._consumer, MeasuresLag):
            return {}
        lag = await self._consumer.lag()
        for topic, partition in self._lag_labels - set(lag):
            CONSUMER_LAG.remove(self._group, topic, str(partition))
        for (topic, partition), records in lag.items():
            CONSUMER_LAG.labels(self._group, topic, str(partition)).set(records)
        self._lag_labels = set(lag)
        return lag

    async def _maybe_report_lag(self) -> None:
        now = time.monotonic()
        if now < self._lag_due:
            return
        self._lag_due = now + self._policy.lag_every
        try:
            await self.report_lag()
        except Exception as exc:  # a figure, never a reason to stop consuming
            log.debug(LogEvent.CONSUMER_RETRY, group=self._group, error=str(exc)[:300],
                      error_type=type(exc).__name__, retry_in=self._policy.lag_every,
                      transient=True)

    async def _apply(self, records: Sequence[Record]) -> None:
        try:
            await self._handler(records)
            return
        except Exception as exc:
            if self._is_transient(exc):
                raise
        for record in records:
            try:
                await self._handler([record])
            except Exception as exc:
                if self._is_transient(exc):
                    raise
                await self._to_dlq(record, exc)

    async def _to_dlq(self, record: Record, error: Exception) -> None:
        await self._bus.send_many([dead_letter(record, self._group, error)])
        DEAD_LETTERS.labels(self._group).inc()
        log.error(
            LogEvent.CONSUMER_DEAD_LETTER, group=self._group, topic=record.topic,
            partition=record.partition, offset=record.offset, error=str(error)[:500],
            error_type=type(error).__name__,
            trace="".join(traceback.format_exception(error, limit=3))[-2000:],
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Step until ``stop`` is set; a step in progress always finishes and commits."""
        log.info(LogEvent.CONSUMER_STARTED, group=self._group)
        while not stop.is_set():
            try:
                await self.run_once()
                self._backoff = self._policy.backoff_initial
                await self._maybe_report_lag()
            except Exception as exc:
                # Transient (database or bus away) or unexpected: nothing was committed, so
                # the same records come again after the pause.
                CONSUMER_ERRORS.labels(self._group).inc()
                log.warning(LogEvent.CONSUMER_RETRY, group=self._group, error=str(exc)[:500],
                            error_type=type(exc).__name__, retry_in=self._backoff,
                            transient=self._is_transient(exc) or isinstance(exc, BusUnavailable))
                await self._maybe_report_lag()
                await self._sleep(self._backoff)
                self._backoff = min(self._backoff * 2, self._policy.backoff_max)
        log.info(LogEvent.CONSUMER_STOPPED, group=self._group)
