"""How long each report takes for a month and for a year, on each storage backend.

One year (2026) of tickets spread over working hours, each answered and resolved within a few
business hours, a fifth of them with a survey answer; 200 officers. Prints, never asserts
(the floor: every monthly report under 2 s on PostgreSQL).

    python -m tests.bench reports [--tickets 1000000] [--answers 200000] [--backend both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from desk.reports import REPORTS, build_report, parse_window
from ingest.logging import configure_logging
from router.calendars import QueueCalendars
from router.rules import CATEGORIES, QUEUES
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Staff, Survey, Ticket
from tests.bench.bench_flow import fresh_backend

YEAR_START = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)  # 08:00 in Asia/Ho_Chi_Minh
CHANNELS = ("email", "zalo", "facebook", "webform", "hotline", "shopee")
CHUNK = 5_000


async def seed(url: str, tickets: int, answers: int, officers: int) -> float:
    """Insert the year; return the seconds it took."""
    began = time.perf_counter()
    rng = random.Random(7)
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await session.execute(insert(Staff), [
            {"name": f"officer-{i:03d}", "token_hash": uuid.uuid4().hex * 2, "role": "agent",
             "status": "online", "capacity": 50} for i in range(officers)])
        staff = list(await session.scalars(select(Staff.id)))
    answer_every = max(1, tickets // max(answers, 1))
    for start in range(0, tickets, CHUNK):
        rows: list[dict[str, Any]] = []
        surveys: list[dict[str, Any]] = []
        for i in range(start, min(start + CHUNK, tickets)):
            day = rng.randrange(365)
            created = YEAR_START + timedelta(days=day, minutes=rng.randrange(540))
            answered = created + timedelta(minutes=rng.randrange(5, 240))
            resolved = answered + timedelta(hours=rng.randrange(1, 30))
            rows.append({
                "public_id": uuid.uuid4(), "status": "resolved",
                "channel": CHANNELS[i % len(CHANNELS)], "thread_key": f"t{i}",
                "category": CATEGORIES[i % len(CATEGORIES)], "queue": QUEUES[i % len(QUEUES)],
                "priority": "normal", "assignee_id": staff[i % len(staff)],
                "created_at": created, "updated_at": resolved,
                "first_responded_at": answered, "resolved_at": resolved,
                "first_response_due": created + timedelta(hours=2),
                "resolution_due": created + timedelta(hours=24), "entities": {}})
        async with sessions() as session, session.begin():
            ids = list(await session.scalars(
                insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True), rows))
            for n, (ticket_id, row) in enumerate(zip(ids, rows, strict=True)):
                if (start + n) % answer_every:
                    continue
                sent = row["resolved_at"] + timedelta(minutes=5)
                surveys.append({
                    "public_id": uuid.uuid4(), "kind": "csat", "ticket_id": ticket_id,
                    "cycle": 0, "officer_id": row["assignee_id"], "channel": row["channel"],
                    "status": "sent", "sent_at": sent, "created_at": sent,
                    "answered_at": sent + timedelta(hours=3), "rating": rng.choice(
                        (1, 2, 3, 4, 4, 5, 5, 5)), "answer_count": 1, "answers": {}})
            if surveys:
                await session.execute(insert(Survey), surveys)
    await engine.dispose()
    return time.perf_counter() - began


async def time_reports(url: str) -> list[tuple[str, str, float, int]]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    calendars = QueueCalendars()
    today = date(2026, 12, 2)
    results = []
    for name in REPORTS:
        for span, window in (("month", parse_window("month", "2026-11-01", None, today)),
                             ("year", parse_window("month", "2026-01-01", "2026-12-31", today))):
            async with sessions() as session:
                began = time.perf_counter()
                report = await build_report(session, name, window, None, calendars)
                results.append((name, span, time.perf_counter() - began, len(report.rows)))
    await engine.dispose()
    return results


async def run(args: argparse.Namespace) -> int:
    configure_logging("json", "WARNING")
    kinds = ["embedded", "distributed"] if args.backend == "both" else [args.backend]
    if not os.environ.get("CSKH_TEST_POSTGRES_DSN") or not os.environ.get("CSKH_TEST_KAFKA"):
        kinds = [k for k in kinds if k != "distributed"]
    for kind in kinds:
        name = "sqlite" if kind == "embedded" else "postgres"
        async with fresh_backend(kind) as (_env, url):
            engine = create_engine(url)
            await upgrade(engine)
            await engine.dispose()
            took = await seed(url, args.tickets, args.answers, args.officers)
            print(f"[{name}] seeded {args.tickets:,} tickets and {args.answers:,} answers "
                  f"in {took:.1f}s")
            for report, span, seconds, rows in await time_reports(url):
                print(f"[{name}] {report:<13} {span:<5} {seconds * 1000:9.0f} ms  "
                      f"({rows} rows)")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench reports", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "distributed", "both"),
                        default="both")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--answers", type=int, default=200_000)
    parser.add_argument("--officers", type=int, default=200)
    return asyncio.run(run(parser.parse_args(argv)))
