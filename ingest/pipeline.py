"""Wiring of the consumers: which group reads which topic, what it does, where it emits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ingest.bus.base import Bus, BusUnavailable, OutgoingRecord, Record
from ingest.bus.loop import CommitPolicy, ConsumerLoop, Handler
from ingest.bus.topics import ASSIGNMENTS, INBOUND, OUTBOUND, TICKETS
from ingest.keys import Clock
from ingest.senders import SendReplies, reply_senders, sender_group
from ingest.settings import Role, Settings
from normalizer.events import TicketEvent
from normalizer.ingest import Classify, IngestInboundMessages
from router.assign import AssignTickets
from router.events import AssignmentEvent, OutboundMessage
from storage.db import SessionFactory, database_unavailable

NORMALIZER_GROUP = "cskh-normalizer"
ROUTER_GROUP = "cskh-router"


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` means "try again later" (a dependency is away), not "this input is bad"."""
    if isinstance(exc, BusUnavailable | OSError | asyncio.TimeoutError):
        return True
    return database_unavailable(exc)


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """One consumer group of the pipeline."""

    role: Role
    group: str
    topic: str
    handler: Handler


def _values(records: Sequence[Record]) -> list[bytes]:
    return [r.value for r in records]


def consumer_specs(settings: Settings, bus: Bus, sessions: SessionFactory,
                   clock: Clock, classify: Classify) -> list[ConsumerSpec]:
    """The normalizer's, the router's and (when a reply sender is configured: SMTP, Messenger,
    Zalo) the senders' consumers, one per channel, bound to ``bus``, ``sessions`` and a
    classifier."""

    async def emit_tickets(events: Sequence[TicketEvent]) -> None:
        await bus.send_many([
            OutgoingRecord(topic=TICKETS, key=e.thread_key.encode(),
                           value=e.model_dump_json().encode())
            for e in events
        ])

    async def emit_assignments(events: Sequence[AssignmentEvent]) -> None:
        await bus.send_many([
            OutgoingRecord(topic=ASSIGNMENTS, key=str(e.ticket_id).encode(),
                           value=e.model_dump_json().encode())
            for e in events
        ])

    normalize = IngestInboundMessages(sessions, emit_tickets, classify, clock,
                                      reopen_window=timedelta(days=settings.reopen_days),
                                      own_addresses=settings.own_addresses,
                                      thread_window=timedelta(hours=settings.thread_window_hours),
                                      mail_domains=settings.message_id_domains,
                                      follow_up_secret=(
                                          settings.follow_up_secret.get_secret_value()
                                          if settings.follow_up_secret else None))
    route = AssignTickets(sessions, emit_assignments, clock, overrides=settings.category_queues,
                          calendar=settings.calendars)

    async def normalizer_handler(records: Sequence[Record]) -> None:
        await normalize(_values(records))

    async def router_handler(records: Sequence[Record]) -> None:
        await route(_values(records))

    specs = [
        ConsumerSpec("normalizer", NORMALIZER_GROUP, INBOUND, normalizer_handler),
        ConsumerSpec("router", ROUTER_GROUP, TICKETS, router_handler),
    ]
    senders = reply_senders(settings, sessions, clock)
    if senders:  # one group per channel: a throttled channel holds up no other
        for channel, send in SendReplies.per_channel(sessions, senders, clock).items():
            specs.append(ConsumerSpec("senders", sender_group(channel), OUTBOUND,
                                      _sender_handler(send)))
    return specs


def _sender_handler(send: SendReplies) -> Handler:
    async def handler(records: Sequence[Record]) -> None:
        await send(_values(records))

    return handler


def make_loop(bus: Bus, spec: ConsumerSpec, settings: Settings) -> ConsumerLoop:
    """A consumer loop for ``spec``, not yet started."""
    consumer = bus.consumer(spec.group, [spec.topic])
    return ConsumerLoop(bus, consumer, spec.group, spec.handler, is_transient=is_transient,
                        policy=CommitPolicy(max_records=settings.consumer_batch))


def outbound_publisher(bus: Bus) -> Callable[[Sequence[OutboundMessage]], Awaitable[None]]:
    """Emit staff replies on ``cskh.outbound``, keyed by their ticket's thread."""

    async def publish(messages: Sequence[OutboundMessage]) -> None:
        await bus.send_many([
            OutgoingRecord(topic=OUTBOUND, key=m.thread_key.encode(),
                           value=m.model_dump_json().encode())
            for m in messages
        ])

    return publish
