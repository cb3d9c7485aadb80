"""``cskh serve`` as a real subprocess, for tests that kill it (``tests/e2e/test_*crash*``)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

CSKH = str(Path(sys.executable).with_name("cskh"))
_RUNNING: set[Service] = set()


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (read from ``/proc``)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def kill_leftovers() -> None:
    """SIGKILL every service a failed test left running."""
    for service in list(_RUNNING):
        service.kill()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Service:
    """One ``cskh serve`` subprocess on a free port; its output goes to ``cwd/serve.log``."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        # tests post many unsigned forms from 127.0.0.1: no per-address form limit unless
        # ``env`` sets one (the limit has its own tests, tests/e2e/test_webform_page.py)
        self.env = {**os.environ, "CSKH_FORM_RATE_PER_MINUTE": "0", **env,
                    "CSKH_HTTP_PORT": str(self.port),
                    "CSKH_LOG_FORMAT": "json", "CSKH_LOG_LEVEL": "WARNING"}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.orphans: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run_cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``cskh ARGS`` with the service's environment (and ``stdin`` as its standard
        input); its stdout (fails on exit ≠ 0)."""
        done = subprocess.run([CSKH, *args], env=self.env, cwd=self.cwd, capture_output=True,
                              timeout=120, check=False,
                              input=None if stdin is None else stdin.encode())
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    async def start(self, http: aiohttp.ClientSession, *args: str) -> None:
        """Start ``cskh serve ARGS`` and return once ``/readyz`` answers 200."""
        log = (self.cwd / "serve.log").open("ab")
        self.proc = subprocess.Popen([CSKH, "serve", *args], env=self.env, cwd=self.cwd,
                                     stdout=log, stderr=log)
        _RUNNING.add(self)
        for _ in range(600):
            assert self.proc.poll() is None, (self.cwd / "serve.log").read_text()
            try:
                async with http.get(f"{self.url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("service did not become ready")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` and wait for the process to end; its exit code. The processes it had
        started (mail parsers) are kept in ``self.orphans`` for tests to watch them go."""
        assert self.proc is not None
        self.orphans = children(self.proc.pid)
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.proc = None
        _RUNNING.discard(self)
        return code
