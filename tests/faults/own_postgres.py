"""A PostgreSQL server of the fault suite's own, so it can be restarted.

The shared test server (``tests/services/services.sh``: Debian's cluster under
``pg_ctlcluster``) is never touched. This one is a throwaway cluster made with the same
package's ``initdb`` in a folder of its own, on a free port of 127.0.0.1, trust
authentication for the ``cskh`` role (loopback only), and started and stopped with
``pg_ctl`` (as the ``postgres`` user when the suite runs as root, since the server refuses
root). ``restart`` is what an operator's ``systemctl restart postgresql`` does: a fast
shutdown (every session ended, the open transactions rolled back) and a start on the same
data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from tests.support.service import free_port


def binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<v>/bin`` with ``initdb`` and ``pg_ctl``."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else None


class OwnPostgres:
    """One throwaway cluster; ``url(db)`` is a SQLAlchemy asyncpg URL into it."""

    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
        self.bin = bin_dir
        # not under the suite's work folder: that one is root's (0700) and the server runs
        # as postgres
        self.dir = Path(tempfile.mkdtemp(prefix="cskh-faults-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.restarts = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str, timeout: float = 120) -> str:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=self.dir)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")
        return done.stdout

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "cskh", "-A", "trust", "-E", "UTF8",
                  "--locale", "C.UTF-8", "--no-sync")

    def start(self) -> float:
        """Start and wait until it accepts connections; the seconds it took."""
        began = time.monotonic()
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.dir} -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w",
                  "-t", "120", "-o", options, "start")
        return time.monotonic() - began

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    async def restart(self) -> float:
        """A fast shutdown and a start on the same data; the seconds until it answers."""
        began = time.monotonic()
        await asyncio.to_thread(self.stop)
        await asyncio.to_thread(self.start)
        self.restarts += 1
        return time.monotonic() - began

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://cskh@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str) -> str:
        admin = await asyncpg.connect(f"postgresql://cskh@127.0.0.1:{self.port}/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):  # not running
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
