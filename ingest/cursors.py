"""Where pullers keep their place: small JSON files replaced atomically and durably."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog

from storage.log_events import LogEvent

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
