"""Assignments per second with 200 officers and 10,000 open tickets, on each storage backend,
and the p99 time of an assignment batch (ticket event → committed assignment).

    python -m tests.bench router [--officers 200] [--open 10000] [--events 5000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import insert

from ingest.logging import configure_logging
from normalizer.events import TicketEvent
from router.assign import AssignTickets
from router.events import AssignmentEvent
from router.rules import CATEGORIES, QUEUES
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.models import Ticket
from tests.bench.bench_flow import fresh_backend, pct

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


async def seed(url: str, officers: int, open_tickets: int, events: int) -> list[int]:
    """Officers spread over the queues, ``open_tickets`` assigned ones, ``events`` new ones."""
    engine = create_engine(url)
    async with session_factory(engine)() as session, session.begin():
        ids = [(await add_staff(session, f"officer-{i:03d}", [QUEUES[i % len(QUEUES)]],
                                capacity=10_000)).id for i in range(officers)]
        rows = [{"public_id": uuid.uuid4(), "status": "assigned", "channel": "email",
                 "thread_key": f"old-{i}", "category": CATEGORIES[i % len(CATEGORIES)],
                 "assignee_id": ids[i % officers], "created_at": NOW, "updated_at": NOW,
                 "entities": {}} for i in range(open_tickets)]
        rows += [{"public_id": uuid.uuid4(), "status": "new", "channel": "zalo",
                  "thread_key": f"new-{i}", "category": CATEGORIES[i % len(CATEGORIES)],
                  "created_at": NOW, "updated_at": NOW, "entities": {}}
                 for i in range(events)]
        for start in range(0, len(rows), 1000):
            await session.execute(insert(Ticket), rows[start:start + 1000])
        new = list((await session.execute(
            Ticket.__table__.select().with_only_columns(Ticket.id)
            .where(Ticket.status == "new").order_by(Ticket.id))).scalars())
    await engine.dispose()
    return new


async def bench(kind: str, args: argparse.Namespace) -> None:
    name = "sqlite" if kind == "embedded" else "postgres"
    async with fresh_backend(kind) as (_env, url):
        from storage.migrate import upgrade

        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        new = await seed(url, args.officers, args.open, args.events)
        engine = create_engine(url)
        sessions = session_factory(engine)
        made: list[AssignmentEvent] = []

        async def emit(events: Sequence[AssignmentEvent]) -> None:
            made.extend(events)

        assign = AssignTickets(sessions, emit, lambda: NOW)
        payloads = [TicketEvent(
            event_id=uuid.uuid4(), kind="created", ticket_id=i, message_id=i,
            envelope_id=uuid.uuid4(), channel="zalo", thread_key=f"new-{i}",
            category="other", priority="normal", sentiment="neutral", customer_id=None,
            created_at=NOW).model_dump_json().encode() for i in new]
        batches: list[float] = []
        tracemalloc.start()
        began = time.perf_counter()
        for start in range(0, len(payloads), args.batch):
            t = time.perf_counter()
            await assign(payloads[start:start + args.batch])
            batches.append((time.perf_counter() - t) * 1000)
        elapsed = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        await engine.dispose()
    print(f"[{name}] {args.officers} officers, {args.open:,} open tickets: {len(made):,} "
          f"assignments in {elapsed:.2f}s = {len(made) / elapsed:,.0f}/s; batch of {args.batch} "
          f"p50 {pct(batches, 0.5):.0f} ms, p99 {pct(batches, 0.99):.0f} ms; "
          f"peak Python memory {peak:.0f} MiB")


async def run(args: argparse.Namespace) -> int:
    configure_logging("json", "WARNING")  # one log line per assignment is not what we measure
    kinds = ["embedded", "distributed"] if args.backend == "both" else [args.backend]
    if not os.environ.get("CSKH_TEST_POSTGRES_DSN") or not os.environ.get("CSKH_TEST_KAFKA"):
        kinds = [k for k in kinds if k != "distributed"]
    for kind in kinds:
        await bench(kind, args)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench router", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "distributed", "both"),
                        default="both")
    parser.add_argument("--officers", type=int, default=200)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    return asyncio.run(run(parser.parse_args(argv)))
