"""Leases: one puller at a time fetches a source (a mailbox folder, a call-log directory).

``Lease.hold()`` is asked before every batch: true while this process holds the lease (it
takes it if it is free), false when someone else holds it (the caller skips its turn and asks
again later). A lease is never waited for.

* ``FlockLease``: an exclusive ``flock`` on a file, for one host (the embedded mode).
* ``PgAdvisoryLease``: ``pg_try_advisory_lock(key)`` on a connection of its own, for pullers
  on many hosts sharing one PostgreSQL. The lock lives as long as that connection: when the
  connection dies, PostgreSQL drops the lock and another puller may take it, so ``hold()``
  checks the connection each time and answers false (and reconnects later) when it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
from pathlib import Path
from typing import IO, Any, Protocol

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from storage.log_events import LogEvent

log = structlog.get_logger(__name__)
CHECK_TIMEOUT = 5.0


class Lease(Protocol):
    """Who may fetch one source; see the module docstring for the contract."""

    async def hold(self) -> bool:
        """True while this process holds the lease (taking it if free); never waits for it."""
        ...

    async def release(self) -> None:
        """Give the lease up (idempotent)."""
        ...


def lease_key(*parts: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``parts`` (first 8 bytes of a SHA-256)."""
    digest = hashlib.sha256("\x1f".join(("cskh", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class FlockLease:
    """An exclusive, non-blocking ``flock`` on ``path`` (created if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def _take(self) -> bool:
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    async def hold(self) -> bool:
        return await asyncio.to_thread(self._take)

    def release_now(self) -> None:
        """``release`` for synchronous callers (closing the file drops the lock)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    async def release(self) -> None:
        self.release_now()


def asyncpg_dsn(database_url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg wants, from a SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


class PgAdvisoryLease:
    """``pg_try_advisory_lock(key)`` held on a dedicated connection to ``dsn``."""

    def __init__(self, dsn: str, key: int, *, name: str = "") -> None:
        self._dsn = dsn
        self.key = key
        self.name = name
        self._conn: Any | None = None

    async def _alive(self) -> bool:
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), CHECK_TIMEOUT)
            return True
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False

    async def hold(self) -> bool:
        if self._conn is not None:
            if await self._alive():
                return True
            log.warning(LogEvent.PULLER_LEASE_LOST, lease=self.name, key=self.key)
            await self._drop()
        try:
            conn = await asyncpg.connect(self._dsn, timeout=CHECK_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning(LogEvent.PULLER_FAILED, lease=self.name,
                        error=f"lease connection: {type(exc).__name__}: {exc}"[:300])
            return False
        try:
            got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            got = False
        if not got:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.close(timeout=CHECK_TIMEOUT)
            return False
        self._conn = conn
        log.info(LogEvent.PULLER_LEASE_ACQUIRED, lease=self.name, key=self.key)
        return True

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError,
                                     asyncpg.InterfaceError):
                await conn.close(timeout=CHECK_TIMEOUT)
            if not conn.is_closed():
                conn.terminate()

    async def release(self) -> None:
        """Close the connection: PostgreSQL drops a session's advisory locks with it."""
        await self._drop()
