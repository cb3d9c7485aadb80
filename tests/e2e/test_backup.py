"""``cskh backup`` / ``cskh restore`` on the embedded default, with a real ``cskh serve``.

Forms come in, a backup is taken while more are arriving, more come after it; the service is
stopped, the backup restored and the service started again. Everything the backup held is
there exactly once (the restored log's uncommitted records are delivered again and make no
second ticket), and the forms re-driven after it end up exactly once too.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from ingest.cli import main
from storage.db import create_engine, session_factory
from storage.models import Message, Ticket
from tests.support.service import CSKH, Service

pytestmark = pytest.mark.slow
QUEUES = ("cskh", "sales", "accounting", "warehouse", "technical")


def form(i: int) -> dict[str, str]:
    return {"name": f"Khách {i}", "email": f"khach{i}@congty{i % 5}.vn",
            "subject": "Hóa đơn sai" if i % 2 else "Giao hàng chậm",
            "message": f"Hóa đơn số {i} ghi sai mã số thuế, xin xuất lại." if i % 2
            else f"Đơn hàng số {i} giao chậm, đề nghị kiểm tra.",
            "submission_id": f"backup-{i}"}


async def post_all(http: aiohttp.ClientSession, url: str, numbers: range | list[int]) -> None:
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with sem, http.post(f"{url}/webhooks/webform", json=form(i)) as resp:
            assert resp.status == 202, await resp.text()

    await asyncio.gather(*(one(i) for i in numbers))


async def state(database_url: str) -> tuple[int, int, int, set[str]]:
    """(tickets, assigned, messages, distinct external ids)."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            tickets = await s.scalar(select(func.count()).select_from(Ticket)) or 0
            assigned = await s.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.status == "assigned")) or 0
            messages = await s.scalar(select(func.count()).select_from(Message)) or 0
            ids = set(await s.scalars(select(Message.external_id)))
            return tickets, assigned, messages, ids
    finally:
        await engine.dispose()


def cli(service: Service, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CSKH, *args], env=service.env, cwd=service.cwd, capture_output=True,
                          text=True, timeout=300, check=False)


async def test_backup_while_serving_restore_and_carry_on_without_loss_or_duplicates(
        tmp_path: Path, http: aiohttp.ClientSession, wait_for: Callable[..., Any]) -> None:
    work = tmp_path / "site"
    work.mkdir()
    # the embedded default (./cskh.db and ./cskh.bus.db); every form comes from 127.0.0.1
    service = Service({}, work)
    url = f"sqlite+aiosqlite:///{work / 'cskh.db'}"
    service.run_cli("migrate")
    service.run_cli("staff", "add", "--name", "Officer All", "--capacity", "100000",
                    *(a for q in QUEUES for a in ("--queue", q)))
    await service.start(http)

    async def settled(n: int) -> bool:
        tickets, assigned, messages, _ = await state(url)
        return tickets == assigned == messages == n

    await post_all(http, service.url, range(100))
    await wait_for(lambda: settled(100), attempts=900, interval=0.1)

    # the backup is taken online, while forms 100..149 arrive and are being processed
    backup_dir = tmp_path / "backup-1"
    arriving = asyncio.create_task(post_all(http, service.url, range(100, 150)))
    taken = await asyncio.to_thread(cli, service, "backup", str(backup_dir), "--json")
    await arriving
    assert taken.returncode == 0, taken.stderr
    manifest = json.loads(taken.stdout)
    assert {manifest["database"]["file"], manifest["bus"]["file"]} <= {
        p.name for p in backup_dir.iterdir()}
    await wait_for(lambda: settled(150), attempts=900, interval=0.1)

    refused = cli(service, "restore", str(backup_dir))
    assert refused.returncode == 2
    assert "cskh serve` is running" in refused.stderr
    assert await settled(150)  # the refusal touched nothing

    await post_all(http, service.url, range(150, 200))
    await wait_for(lambda: settled(200), attempts=900, interval=0.1)
    assert service.kill(signal.SIGTERM) == 0

    restored = cli(service, "restore", str(backup_dir))
    assert restored.returncode == 0, restored.stderr
    tickets, assigned, messages, ids = await state(url)
    assert 100 <= tickets <= 150  # back to the backup's moment: all of the first hundred
    assert tickets == assigned == messages == len(ids)

    await service.start(http)
    # the providers re-drive what came after the backup, and new forms arrive
    await post_all(http, service.url, [*range(100, 200), *range(200, 230)])
    await wait_for(lambda: settled(230), attempts=900, interval=0.1)
    assert service.kill(signal.SIGTERM) == 0
    tickets, assigned, messages, ids = await state(url)
    assert (tickets, assigned, messages, len(ids)) == (230, 230, 230, 230)


def test_a_serve_does_not_start_while_a_restore_holds_the_files(tmp_path: Path) -> None:
    service = Service({}, tmp_path)
    service.run_cli("migrate")
    with (tmp_path / "cskh.bus.db.lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as `cskh restore` holds it, and says so
        held.write("4242, a `cskh restore`\n")
        held.flush()
        done = subprocess.run([CSKH, "serve"], env=service.env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "(pid 4242, a `cskh restore`) already uses" in done.stderr


def test_bad_requests_are_refused_with_a_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("CSKH_DATABASE_URL", "CSKH_BUS"):
        monkeypatch.delenv(name, raising=False)
    assert main(["migrate"]) == 0
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("mine")
    assert main(["backup", str(tmp_path / "taken")]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert (tmp_path / "taken" / "x").read_text() == "mine"

    assert main(["backup", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    with (tmp_path / "b" / "cskh.db").open("r+b") as f:
        f.seek(200)
        f.write(b"\x00tampered")
    assert main(["restore", str(tmp_path / "b")]) == 2
    assert "does not match its sha256" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "nothing")]) == 2
    assert "is not a backup" in capsys.readouterr().err

    monkeypatch.setenv("CSKH_DATABASE_URL", "postgresql+asyncpg://cskh:pw@db:5432/cskh")
    monkeypatch.setenv("CSKH_BUS", "kafka://kafka:9092")
    assert main(["backup", str(tmp_path / "c")]) == 2
    assert "pg_dump" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
