"""Crash safety: ``cskh serve`` as a real process, killed with SIGKILL mid-stream, restarted.

Every form the service accepted (2xx) must end up as exactly one ticket, assigned; forms the
provider retries (because the kill cut them off, or just twice) must not make a second one.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import create_engine, session_factory
from storage.models import Message, Ticket
from tests.support.service import Service

pytestmark = pytest.mark.slow
FORMS = 300


def form(i: int) -> dict[str, str]:
    return {"name": f"Khách {i}", "email": f"khach{i}@congty{i % 7}.vn",
            "subject": "Giao hàng chậm" if i % 2 else "Hóa đơn sai",
            "message": f"Đơn hàng số {i} giao chậm, đề nghị kiểm tra vận chuyển." if i % 2
            else f"Hóa đơn số {i} ghi sai mã số thuế, xin xuất lại hóa đơn.",
            "submission_id": f"crash-{i}"}


async def post(http: aiohttp.ClientSession, url: str, i: int) -> bool:
    try:
        async with http.post(f"{url}/webhooks/webform", json=form(i)) as resp:
            return resp.status == 202
    except (TimeoutError, aiohttp.ClientError):
        return False


async def counts(database_url: str) -> tuple[int, int, int, int]:
    """(tickets, assigned tickets, messages, distinct external ids)."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            tickets = await s.scalar(select(func.count()).select_from(Ticket)) or 0
            assigned = await s.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.status == "assigned")) or 0
            messages = await s.scalar(select(func.count()).select_from(Message)) or 0
            distinct = await s.scalar(select(func.count(func.distinct(Message.external_id))))
            return tickets, assigned, messages, distinct or 0
    finally:
        await engine.dispose()


async def test_kill_9_mid_stream_loses_nothing_and_duplicates_nothing(
    backend: Any, tmp_path: Path, http: aiohttp.ClientSession,
    wait_for: Callable[..., Any],
) -> None:
    service = Service(backend.env(), tmp_path)
    service.run_cli("migrate")
    service.run_cli("staff", "add", "--name", "Officer All", "--capacity", "1000",
                    *(a for q in ("cskh", "sales", "accounting", "warehouse", "technical")
                      for a in ("--queue", q)))
    await service.start(http)

    accepted: set[int] = set()
    sem = asyncio.Semaphore(16)
    killed = asyncio.Event()

    async def one(i: int) -> None:
        async with sem:
            if killed.is_set():
                return
            if await post(http, service.url, i):
                accepted.add(i)
            if len(accepted) >= FORMS // 3 and not killed.is_set():
                killed.set()
                service.kill()

    await asyncio.gather(*(one(i) for i in range(FORMS)))
    assert killed.is_set() and FORMS // 3 <= len(accepted) < FORMS

    await service.start(http)
    # The provider retries what was not acknowledged, and some acknowledged forms twice.
    retry = [i for i in range(FORMS) if i not in accepted] + sorted(accepted)[:25]
    results = await asyncio.gather(*(post(http, service.url, i) for i in retry))
    assert all(results)

    async def settled() -> bool:
        tickets, assigned, _, _ = await counts(backend.database_url)
        return tickets == FORMS and assigned == FORMS

    await wait_for(settled, attempts=600, interval=0.1)
    assert service.kill(signal.SIGTERM) == 0
    assert await counts(backend.database_url) == (FORMS, FORMS, FORMS, FORMS)


async def test_sigterm_drains_and_exits_cleanly(
    backend: Any, tmp_path: Path, http: aiohttp.ClientSession, wait_for: Callable[..., Any],
) -> None:
    service = Service(backend.env(), tmp_path)
    service.run_cli("migrate")
    service.run_cli("staff", "add", "--name", "Officer", "--queue", "accounting",
                    "--queue", "warehouse", "--capacity", "1000")
    await service.start(http)
    results = await asyncio.gather(*(post(http, service.url, i) for i in range(40)))
    assert all(results)
    assert service.kill(signal.SIGTERM) == 0
    await service.start(http)

    async def settled() -> bool:
        tickets, assigned, _, _ = await counts(backend.database_url)
        return tickets == 40 and assigned == 40

    await wait_for(settled, attempts=600, interval=0.1)
    assert service.kill(signal.SIGTERM) == 0
