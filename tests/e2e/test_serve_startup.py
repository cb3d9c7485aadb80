"""``cskh serve`` as a real process: what it says when it is up, and a second one refusing.

On both backend pairs: the first log line is ``service.starting`` and one ``service.ready``
says where it listens, on which backends, with which roles, channels and model; ``/readyz``
lists only the roles that have work. A second ``serve`` on a taken port (and, on the embedded
files, a second ``serve`` on the same files) exits 1 having touched nothing, while the first
keeps serving.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.service import CSKH, Service, free_port

pytestmark = pytest.mark.slow


def events(log: Path) -> list[dict[str, Any]]:
    """The JSON events of a service's log (other lines are left out)."""
    found = []
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def second_serve(env: dict[str, str], cwd: Path,
                 **changes: str) -> subprocess.CompletedProcess[str]:
    """Run another ``cskh serve`` with ``env`` changed by ``changes``, until it exits."""
    return subprocess.run([CSKH, "serve"], env={**env, "CSKH_LOG_LEVEL": "INFO", **changes},
                          cwd=cwd, capture_output=True, text=True, timeout=90, check=False)


async def assert_still_serving(http: aiohttp.ClientSession, service: Service, n: int) -> None:
    async with http.get(f"{service.url}/readyz") as resp:
        assert resp.status == 200
    async with http.post(f"{service.url}/webhooks/webform", json={
            "name": "Chị Lan", "email": "lan@congty.vn", "submission_id": f"still-{n}",
            "message": "Hóa đơn số 12 ghi sai mã số thuế"}) as resp:
        assert resp.status == 202


async def test_serve_says_where_it_listens_and_a_second_one_refuses(
        backend: Any, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    service = Service(backend.env(), tmp_path)
    service.env["CSKH_LOG_LEVEL"] = "INFO"
    service.run_cli("migrate")  # PostgreSQL is migrated by hand; the embedded files by serve
    await service.start(http)

    log = events(tmp_path / "serve.log")
    assert log[0]["event"] == "service.starting"
    (ready,) = [e for e in log if e["event"] == "service.ready"]
    started = [i for i, e in enumerate(log) if e["event"] == "consumer.started"]
    assert len(started) == 2 and max(started) < log.index(ready)  # the last start-up line
    assert ready["listen"] == service.url
    assert ready["backends"] == ("sqlite+embedded" if backend.name == "embedded"
                                 else "postgresql+kafka")
    assert ready["roles"] == ["webhooks", "normalizer", "router"]
    assert ready["idle_roles"] == ["pullers", "senders"]  # no mailbox, call log or sender
    assert ready["channels_on"] == ["webform"]
    assert "email" in ready["channels_off"] and "zalo" in ready["channels_off"]
    assert ready["replies_on"] == [] and ready["model"] == "loaded"
    assert ready["model_path"] and ready["model_s"] >= 0
    async with http.get(f"{service.url}/readyz") as resp:
        assert (await resp.json())["roles"] == ["webhooks", "normalizer", "router"]

    # A taken port: refused before any file is made or any schema migrated.
    other_db = tmp_path / "other" / "cskh.db"
    changes = ({"CSKH_DATABASE_URL": f"sqlite+aiosqlite:///{other_db}", "CSKH_BUS": "sqlite"}
               if backend.name == "embedded" else {})
    taken = second_serve(service.env, tmp_path, **changes)
    assert taken.returncode == 1, taken.stderr
    assert f"cannot serve on 127.0.0.1:{service.port}" in taken.stderr
    assert "storage.migrations_applied" not in taken.stderr
    assert "bus.started" not in taken.stderr
    assert not other_db.exists() and not other_db.with_name("cskh.bus.db").exists()
    await assert_still_serving(http, service, 1)

    if backend.name == "embedded":
        # The same files on another port: the lock beside them refuses it.
        same = second_serve(service.env, tmp_path, CSKH_HTTP_PORT=str(free_port()))
        assert same.returncode == 1, same.stderr
        assert "another `cskh serve`" in same.stderr
        assert f"pid {service.proc.pid if service.proc else '?'}" in same.stderr
        assert "storage.migrations_applied" not in same.stderr
        assert "bus.started" not in same.stderr
        await assert_still_serving(http, service, 2)
    assert service.kill(15) == 0
