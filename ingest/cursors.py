"""Where pullers keep their place: a small JSON document per source.

On one host (the embedded mode) a file replaced atomically and durably (``FileCursor``); with
PostgreSQL, a row of ``puller_cursors`` (``DbCursor``), so that a puller on another host that
takes the source's lease over goes on from the same place instead of from the start. Either is
written only after what it counts is durably on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import structlog

from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import PullerCursor

T = TypeVar("T")
log = structlog.get_logger(__name__)


def load_json_cursor(path: Path, parse: Callable[[Any], T], *, channel: str) -> T | None:
    """The cursor saved at ``path`` parsed by ``parse``; ``None`` if there is none, or if it is
    unreadable (logged: the puller then starts over, and dedup makes that harmless)."""
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        log.warning(LogEvent.PULLER_FAILED, channel=channel, path=str(path),
                    error=f"unreadable cursor, starting over: {exc}"[:300])
        return None


def save_json_cursor(path: Path, data: Any) -> None:
    """Replace the file at ``path`` with ``data`` as JSON: written aside, fsynced, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable where we can
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class CursorStore(Protocol):
    """One source's saved place, as a JSON object."""

    async def load(self) -> dict[str, Any] | None:
        """The saved document; ``None`` if there is none (or it is unreadable)."""
        ...

    async def save(self, data: dict[str, Any]) -> None:
        """Replace the saved document durably."""
        ...


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("a cursor is a JSON object")
    return data


class FileCursor:
    """The cursor in the file at ``path``."""

    def __init__(self, path: Path, *, channel: str) -> None:
        self.path = path
        self._channel = channel

    async def load(self) -> dict[str, Any] | None:
        return await asyncio.to_thread(load_json_cursor, self.path, _object,
                                       channel=self._channel)

    async def save(self, data: dict[str, Any]) -> None:
        await asyncio.to_thread(save_json_cursor, self.path, data)


class DbCursor:
    """The cursor in the ``puller_cursors`` row named ``source`` (e.g. ``imap:box/INBOX``)."""

    def __init__(self, sessions: SessionFactory, source: str) -> None:
        self.source = source
        self._sessions = sessions

    async def load(self) -> dict[str, Any] | None:
        async with self._sessions() as session:
            row = await session.get(PullerCursor, self.source)
            return dict(row.data) if row is not None else None

    async def save(self, data: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            row = await session.get(PullerCursor, self.source, with_for_update=True)
            if row is None:
                session.add(PullerCursor(source=self.source, data=data, updated_at=now))
            else:
                row.data, row.updated_at = data, now
