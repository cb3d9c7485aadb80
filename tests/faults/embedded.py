"""The embedded default's fault: a second ``cskh serve`` on the same files.

One process owns the embedded log (its consumer groups are not coordinated across
processes), so a second ``serve`` on the same ``cskh.db``/``cskh.bus.db`` must be refused at
once, having opened nothing, while the first carries on without losing a message.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from storage.db import create_engine, session_factory
from storage.models import Message, Ticket
from tests.support.service import CSKH, Service, free_port

QUEUES = ("cskh", "sales", "accounting", "warehouse", "technical")


@dataclass(frozen=True)
class SecondServe:
    exit_code: int
    message: str  # its last line on stderr
    listened: bool  # whether its port ever answered
    first_still_ready: bool
    forms: int  # posted to the first, before and after
    tickets: int  # tickets of the first at the end (each form one)
    seconds: float  # how long the second took to give up


def _form(i: int) -> dict[str, str]:
    return {"name": f"Khách {i}", "email": f"kh{i}@cty.vn", "subject": "Giao hàng",
            "message": f"Đơn {i} giao chậm", "submission_id": f"embedded-{i}"}


async def _post(http: aiohttp.ClientSession, url: str, numbers: range) -> None:
    for i in numbers:
        async with http.post(f"{url}/webhooks/webform", json=_form(i)) as resp:
            if resp.status != 202:
                raise RuntimeError(f"form {i}: {resp.status} {await resp.text()}")


async def _tickets(database_url: str) -> tuple[int, int]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            tickets = await s.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.status.in_(("assigned", "queued")))) or 0
            messages = await s.scalar(select(func.count()).select_from(Message)) or 0
            return tickets, messages
    finally:
        await engine.dispose()


async def second_serve(work: Path | None = None, forms: int = 20) -> SecondServe:
    """Start ``cskh serve`` on the embedded default, then another on the same files."""
    work = work or Path(tempfile.mkdtemp(prefix="cskh-faults-embedded-"))
    env = {"CSKH_DATABASE_URL": "sqlite+aiosqlite:///./cskh.db",
           "CSKH_BUS": "sqlite"}
    first = Service(env, work)
    first.run_cli("migrate")
    first.run_cli("staff", "add", "--name", "Officer", "--capacity", "1000",
                  *(a for q in QUEUES for a in ("--queue", q)))
    url = f"sqlite+aiosqlite:///{work / 'cskh.db'}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        await first.start(http)
        try:
            await _post(http, first.url, range(forms // 2))
            port = free_port()
            began = time.monotonic()
            second = subprocess.Popen([CSKH, "serve"], env={**first.env,
                                                            "CSKH_HTTP_PORT": str(port)},
                                      cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            listened = False
            while second.poll() is None and time.monotonic() - began < 120:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        listened = listened or resp.status < 500
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            if second.poll() is None:
                second.kill()
            _, err = second.communicate(timeout=30)
            seconds = time.monotonic() - began
            async with http.get(f"{first.url}/readyz") as resp:
                still_ready = resp.status == 200
            await _post(http, first.url, range(forms // 2, forms))
            for _ in range(600):
                tickets, messages = await _tickets(url)
                if tickets == messages == forms:
                    break
                await asyncio.sleep(0.1)
        finally:
            first.kill()
    lines = err.decode().strip().splitlines()
    return SecondServe(second.returncode, lines[-1] if lines else "", listened, still_ready,
                       forms, tickets, seconds)
