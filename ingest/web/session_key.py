"""The key that encrypts the officers' session cookies.

``CSKH_SESSION_SECRET`` when set (every process serving pages must share it). Otherwise, on
SQLite, 32 random bytes generated once into ``<database>.session-key`` (mode 0600) beside the
database file, so a restart keeps everyone signed in; anywhere else a fresh key per start
(sessions end at restart; a warning says to set the secret).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import structlog
from sqlalchemy.engine import make_url

from ingest.settings import Settings
from storage.log_events import LogEvent

log = structlog.get_logger(__name__)
KEY_BYTES = 32


def key_file(database_url: str) -> Path | None:
    """Where the generated key is kept for ``database_url``; ``None`` if not a SQLite file."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    db = Path(url.database)
    return db.with_name(db.name + ".session-key")


def _read_or_create(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        if len(data) == KEY_BYTES:
            return data
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:  # the first process to get there wins; the others read its key
        os.link(temp, path)
    except FileExistsError:
        existing = path.read_bytes()
        if len(existing) != KEY_BYTES:
            os.replace(temp, path)
            return key
        key = existing
    finally:
        temp.unlink(missing_ok=True)
    log.info(LogEvent.SESSION_KEY_CREATED, path=str(path))
    return key


def session_key(settings: Settings) -> bytes:
    """32 bytes for the cookie cipher (``CSKH_SESSION_SECRET``, the key file, or a fresh one)."""
    if settings.session_secret is not None:
        return hashlib.sha256(settings.session_secret.get_secret_value().encode()).digest()
    path = key_file(settings.database_url)
    if path is not None:
        return _read_or_create(path)
    log.warning(LogEvent.SESSION_KEY_EPHEMERAL,
                reason="CSKH_SESSION_SECRET is unset: page sessions end when this process stops")
    return secrets.token_bytes(KEY_BYTES)


def cookie_secure(settings: Settings) -> bool:
    """Whether the session cookie is Secure (the public address is https)."""
    return (settings.public_url or "").strip().lower().startswith("https://")
