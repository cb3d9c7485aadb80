"""What ``cskh serve`` guards and says at start-up.

- one ``serve`` per set of embedded files: an exclusive ``flock`` on ``<file>.lock`` beside the
  SQLite database and the embedded log, taken before anything is opened or migrated;
- the listening socket, bound before anything is opened either, so a taken port refuses too;
- which roles have work with these settings (``senders`` without a sender, ``pullers``
  without a mailbox or call log have none);
- the one readable ``service.ready`` line: address, backends, roles, channels, model.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from ingest.keys import ModelState
from ingest.mailboxes import configured
from ingest.registry import webhook_connectors
from ingest.senders import reply_senders
from ingest.settings import Settings
from storage.db import sqlite_path

# Every inbound channel, in the order the ready line lists them.
CHANNELS = ("email", "facebook", "zalo", "shopee", "lazada", "tiktok", "hotline", "webform")


class StartupRefused(RuntimeError):
    """``serve`` cannot start with these settings; the message says why and what to do."""


def embedded_files(settings: Settings) -> list[Path]:
    """The local files this configuration keeps its state in (none with PostgreSQL + Kafka)."""
    from ingest.lifecycle import embedded_bus_path

    files = []
    if (database := sqlite_path(settings.database_url)) is not None:
        files.append(Path(database))
    if not settings.kafka_bootstrap:
        files.append(Path(embedded_bus_path(settings)))
    return files


@contextlib.contextmanager
def single_instance(settings: Settings) -> Iterator[list[Path]]:
    """Hold an exclusive lock beside each embedded file while the body runs.

    ``StartupRefused`` at once, having touched nothing but the lock files, when another
    process holds one. The kernel drops the locks when the process ends, however it ends."""
    held: list[IO[str]] = []
    try:
        for file in embedded_files(settings):
            lock = file.with_name(file.name + ".lock")
            lock.parent.mkdir(parents=True, exist_ok=True)
            handle = lock.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "?"
                handle.close()
                raise StartupRefused(
                    f"another `cskh serve` (pid {holder}) already uses {file} (lock {lock}); "
                    "stop it first, or give this one its own CSKH_DATABASE_URL and CSKH_BUS"
                ) from None
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            held.append(handle)
        yield [Path(h.name) for h in held]
    finally:
        for kept in held:
            kept.close()


@contextlib.contextmanager
def listen(host: str, port: int) -> Iterator[list[socket.socket]]:
    """Listening TCP sockets on every address ``host`` names (``localhost``: IPv4 and IPv6, as
    aiohttp binds them), closed on exit; ``StartupRefused`` when one is taken."""
    sockets: list[socket.socket] = []
    try:
        seen = set()
        for family, _, _, _, address in socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE):
            if (family, address[:2]) in seen:
                continue
            seen.add((family, address[:2]))
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], port, *address[2:]))
            sock.listen(128)
            port = port or sock.getsockname()[1]  # port 0: the others take the same one
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise StartupRefused(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _reply_channels(settings: Settings) -> list[str] | None:
    """The channels replies leave on; ``None`` when a sender is set up wrong (SMTP without its
    From address), which the ``senders`` role refuses with the reason."""
    try:
        return sorted(reply_senders(settings))
    except ValueError:
        return None


def _has_senders(settings: Settings) -> bool:
    return _reply_channels(settings) != []


def has_work(settings: Settings, role: str) -> bool:
    """Whether ``role`` has anything to do with ``settings`` (the other roles always do)."""
    if role == "senders":
        return _has_senders(settings)
    if role == "pullers":
        return settings.hotline_cdr_dir is not None or bool(configured(settings))
    return True


def running_roles(settings: Settings, roles: Sequence[str]) -> list[str]:
    """The roles of ``roles`` that have work with ``settings``, in order."""
    return [r for r in roles if has_work(settings, r)]


def inbound_channels(settings: Settings) -> list[str]:
    """The inbound channels that are on (webhooks with their secrets, mailboxes, call log)."""
    on = {c.name for c in webhook_connectors(settings)}
    if configured(settings):
        on.add("email")
    if settings.hotline_cdr_dir is not None:
        on.add("hotline")
    return [c for c in CHANNELS if c in on]


def backend_pair(settings: Settings) -> str:
    """``sqlite+embedded``, ``postgresql+kafka`` and so on: the database and the bus."""
    database = make_url(settings.database_url).get_backend_name()
    return f"{database}+{'kafka' if settings.kafka_bootstrap else 'embedded'}"


def ready_fields(settings: Settings, address: str, roles: Sequence[str],
                 model: ModelState | None, started_seconds: float) -> dict[str, object]:
    """The fields of the ``service.ready`` event (never a secret)."""
    on = inbound_channels(settings)
    running = running_roles(settings, roles)
    fields: dict[str, object] = {
        "listen": address, "backends": backend_pair(settings), "roles": running,
        "idle_roles": [r for r in roles if r not in running],
        "channels_on": on, "channels_off": [c for c in CHANNELS if c not in on],
        "replies_on": _reply_channels(settings) or [],
        "started_in_s": round(started_seconds, 1),
    }
    if model is not None:
        fields |= {"model": model.how, "model_path": model.path, "model_s": model.seconds}
    return fields
