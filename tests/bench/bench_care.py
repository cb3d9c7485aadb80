"""How long an officer waits for the care pages: ``/customers`` (first page, a search without
diacritics, a later page), ``/customers/{id}``, ``/care`` (first and a later page),
``/warranty`` (first page, a search) and ``/warranty/{serial}``, on each backend pair.

``--accounts`` accounts (a tenth key accounts, a third standard, the rest small; each with a
contact, two tickets, a product in the register, founding and opening days), this year's care
plan built from them (about 12 entries an account) with a budget, and one ``cskh serve --role
webhooks`` process; one signed-in officer fetches each page ``--requests`` times in turn.
Prints p50 and p99 of each, never asserts.

    python -m tests.bench care [--accounts 2000] [--requests 30] [--backend both]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import func, insert, select

from desk.care.plan import build_plan, set_budget
from desk.care.policy import CarePolicy
from desk.passwords import hash_password
from ingest.logging import configure_logging
from normalizer.identity import name_key
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Contact, Customer, Ticket
from storage.models_care import CareEntry, WarrantyItem
from tests.bench.bench_flow import fresh_backend
from tests.bench.bench_inbox import PASSWORD, _pct, serving, sign_in

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
CHUNK = 1_000
MODELS = ("Máy lọc X1", "Máy lọc X2", "Máy nén khí MX200", "Bơm tăng áp P3", "Điều hòa K9")


def _tier(i: int) -> str:
    return "key" if i % 10 == 0 else "standard" if i % 3 == 0 else "small"


async def seed(url: str, accounts: int, year: int) -> tuple[float, int, str]:
    """The directory, the register and the plan; the seconds it took, the plan's entries and
    one account's public id."""
    began = time.perf_counter()
    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        owners = [(await add_staff(session, f"officer-{i:02d}", ["cskh", "technical"],
                                   role="lead" if i == 0 else "agent", capacity=1_000,
                                   password_hash=hash_password(PASSWORD) if i == 0 else None)
                   ).id for i in range(20)]
    now = datetime.now(UTC)
    for start in range(0, accounts, CHUNK):
        numbers = range(start, min(start + CHUNK, accounts))
        rows: list[dict[str, Any]] = [
                {"public_id": uuid.uuid4(), "name": f"Công ty Đại lý số {i:05d}",
                 "name_key": name_key(f"Công ty Đại lý số {i:05d}"),
                 "tax_code": f"03{i:08d}", "tier": _tier(i),
                 "segment": ("xây dựng", "bán lẻ", "nhà hàng")[i % 3],
                 "owner_id": owners[i % len(owners)], "queue_overrides": {}, "active": True,
                 "founded_on": date(2000 + i % 20, 1 + i % 12, 1 + i % 28),
                 "opened_on": date(2010 + i % 10, 1 + (i * 7) % 12, 1 + (i * 3) % 28),
                 "created_at": now} for i in numbers]
        async with sessions() as session, session.begin():
            ids = list(await session.scalars(
                insert(Customer).returning(Customer.id, sort_by_parameter_order=True), rows))
            await session.execute(insert(Contact), [{
                "public_id": uuid.uuid4(), "customer_id": cid, "name": f"Người liên hệ {i}",
                "email": f"kh{i}@daily{i}.vn", "phone": f"+8490{i:07d}", "channel_status": {},
                "created_at": now} for cid, i in zip(ids, numbers, strict=True)])
            await session.execute(insert(Ticket), [{
                "public_id": uuid.uuid4(), "status": "open", "channel": "email",
                "thread_key": f"t{i}-{n}", "category": ("warranty", "invoice")[n],
                "queue": ("technical", "cskh")[n], "priority": "normal",
                "customer_id": cid, "subject": f"Yêu cầu {n} của đại lý {i}",
                "created_at": now - timedelta(days=n), "updated_at": now, "entities": {}}
                for cid, i in zip(ids, numbers, strict=True) for n in (0, 1)])
            await session.execute(insert(WarrantyItem), [{
                "customer_id": cid, "model": MODELS[i % len(MODELS)],
                "model_key": MODELS[i % len(MODELS)].lower(), "serial": f"SN-{i:06d}",
                "delivered_on": date(2024 + i % 3, 1 + i % 12, 1), "warranty_months": 24,
                "maintenance_months": 6 if i % 2 else None, "created_at": now}
                for cid, i in zip(ids, numbers, strict=True)])
    async with sessions() as session, session.begin():
        await build_plan(session, year, CarePolicy(), now)
        await set_budget(session, year, total="5.000.000.000")
    async with sessions() as session:
        entries = int(await session.scalar(select(func.count()).select_from(CareEntry)) or 0)
        one = await session.scalar(select(Customer.public_id).where(
            Customer.tax_code == f"03{accounts // 2:08d}"))
    await engine.dispose()
    return time.perf_counter() - began, entries, str(one)


def pages(account: str, accounts: int, entries: int) -> dict[str, str]:
    """What the officer opens: a label and its path."""
    return {
        "/customers": "/customers",
        "/customers?q= (no diacritics)": "/customers?q=dai+ly+so+01",
        "/customers?page=last": f"/customers?page={max(1, -(-accounts // 200))}",
        "/customers/{id}": f"/customers/{account}",
        "/care": "/care",
        "/care?page=middle": f"/care?page={max(1, -(-entries // 400))}",
        "/warranty": "/warranty",
        "/warranty?q=": "/warranty?q=may+loc",
        "/warranty/{serial}": f"/warranty/SN-{accounts // 2:06d}",
    }


async def fetch(http: aiohttp.ClientSession, targets: dict[str, str], requests: int
                ) -> dict[str, list[float]]:
    """Each page ``requests`` times, in turn; the latencies."""
    latencies: dict[str, list[float]] = {label: [] for label in targets}
    for _ in range(requests):
        for label, path in targets.items():
            began = time.perf_counter()
            async with http.get(path) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{path}: {resp.status}")
            latencies[label].append(time.perf_counter() - began)
    return latencies


async def run(args: argparse.Namespace) -> int:
    configure_logging("json", "WARNING")
    kinds = ["embedded", "distributed"] if args.backend == "both" else [args.backend]
    if not os.environ.get("CSKH_TEST_POSTGRES_DSN") or not os.environ.get("CSKH_TEST_KAFKA"):
        kinds = [k for k in kinds if k != "distributed"]
    year = datetime.now(LOCAL).year
    for kind in kinds:
        label = "sqlite" if kind == "embedded" else "postgres"
        async with fresh_backend(kind) as (env, url):
            took, entries, account = await seed(url, args.accounts, year)
            print(f"[{label}] seeded {args.accounts:,} accounts, {2 * args.accounts:,} "
                  f"tickets, {args.accounts:,} products and the {year} plan ({entries:,} "
                  f"entries) in {took:.1f}s")
            work = Path(tempfile.mkdtemp(prefix="cskh-bench-care-"))
            async with serving(env, 1, work) as bases, contextlib.AsyncExitStack() as stack:
                http = await stack.enter_async_context(aiohttp.ClientSession(
                    bases[0], cookie_jar=aiohttp.CookieJar(unsafe=True)))
                await sign_in(http, "officer-00")
                targets = pages(account, args.accounts, entries)
                await fetch(http, targets, 1)  # warm up: templates, caches, connections
                for page, values in (await fetch(http, targets, args.requests)).items():
                    print(f"[{label}] GET {page:<30} {len(values)} requests, p50 "
                          f"{statistics.median(values) * 1000:5.0f} ms, p99 "
                          f"{_pct(values, 0.99) * 1000:5.0f} ms")
            shutil.rmtree(work, ignore_errors=True)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench care", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "distributed", "both"),
                        default="both")
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=30)
    return asyncio.run(run(parser.parse_args(argv)))
