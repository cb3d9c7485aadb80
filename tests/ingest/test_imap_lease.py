"""One puller per mailbox folder: a PostgreSQL advisory lock (distributed) or a ``flock``
(one host). Two pullers on one folder: only the holder fetches; when it goes, the other takes
over; nothing reaches the bus twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from connectors.email.imap import ImapMailbox
from ingest.bus.topics import INBOUND
from ingest.cursors import DbCursor
from ingest.imap import ImapPuller
from ingest.lease import FlockLease, Lease, PgAdvisoryLease, asyncpg_dsn, lease_key
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from tests.support.bus import RecordingBus

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def mail(n: int) -> bytes:
    return (f"From: An <an@abc.vn>\r\nTo: cskh@congty.vn\r\nSubject: Cong no {n}\r\n"
            f"Message-ID: <lease-{n}@abc.vn>\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"\r\nĐối chiếu công nợ quý {n}.\r\n").encode()


def test_lease_keys_are_stable_signed_64_bit_and_distinct() -> None:
    key = lease_key("imap", "cskh", "INBOX")
    assert key == lease_key("imap", "cskh", "INBOX")
    assert -(2**63) <= key < 2**63
    assert key != lease_key("imap", "cskh", "Khach hang") != lease_key("imap", "ketoan", "INBOX")


def two_pullers(box: ImapMailbox, bus: RecordingBus, tmp_path: Path,
                leases: tuple[Lease, Lease]) -> tuple[ImapPuller, ImapPuller]:
    """Two pullers of one folder sharing one cursor file (a shared volume between hosts):
    only the lease keeps them from fetching together."""
    first, second = (ImapPuller(box, bus, tmp_path / "cursor.json", lambda: NOW, lease=lease)
                     for lease in leases)
    return first, second


async def take_over(box: ImapMailbox, imap: Callable[..., Any], folder: str,
                    bus: RecordingBus, holder: ImapPuller, other: ImapPuller) -> None:
    imap(lambda c: [c.append(folder, mail(n)) for n in (1, 2)])
    assert await holder.run_once() == 2
    imap(lambda c: c.append(folder, mail(3)))
    assert await other.run_once() == 0  # the lease is held elsewhere: it skips its turn
    assert not other.holding
    assert await holder.run_once() == 1
    imap(lambda c: c.append(folder, mail(4)))
    await holder.aclose()  # the holder stops
    assert await other.run_once() == 1  # it takes over where the holder's cursor stopped
    assert other.holding


async def test_postgres_advisory_lock_lets_one_puller_fetch_and_hands_over(
        postgres_url: str, mailbox: Callable[..., ImapMailbox], mail_folder: str,
        imap: Callable[..., Any], tmp_path: Path) -> None:
    """Two hosts: no shared file, the cursor is a row of the database both use."""
    box = mailbox()
    bus = RecordingBus()
    key = lease_key("imap", box.name, mail_folder)
    engines = [create_engine(postgres_url) for _ in range(2)]
    await upgrade(engines[0])
    holder, other = (
        ImapPuller(box, bus, DbCursor(session_factory(engine), f"imap:{box.name}/{mail_folder}"),
                   lambda: NOW, lease=PgAdvisoryLease(asyncpg_dsn(postgres_url), key))
        for engine in engines)
    try:
        await take_over(box, imap, mail_folder, bus, holder, other)
    finally:
        await holder.aclose()
        await other.aclose()
        for engine in engines:
            await engine.dispose()
    assert bus.ids() == [f"lease-{n}@abc.vn" for n in (1, 2, 3, 4)]  # each exactly once
    assert bus.topics() == {INBOUND}


async def test_a_dead_lock_connection_stops_fetching_until_the_lease_is_back(
        postgres_url: str, mailbox: Callable[..., ImapMailbox], mail_folder: str,
        imap: Callable[..., Any], tmp_path: Path) -> None:
    box = mailbox()
    bus = RecordingBus()
    lease = PgAdvisoryLease(asyncpg_dsn(postgres_url), lease_key("imap", box.name, mail_folder))
    pull = ImapPuller(box, bus, tmp_path / "cursor.json", lambda: NOW, lease=lease)
    rival = PgAdvisoryLease(asyncpg_dsn(postgres_url), lease.key)
    admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        assert await pull.run_once() == 0 and pull.holding
        await admin.execute(  # the lease's connection dies (a network cut, a DB restart)
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()")
        assert await rival.hold()  # PostgreSQL dropped the lock: someone else has it now
        imap(lambda c: c.append(mail_folder, mail(1)))
        assert await pull.run_once() == 0 and not pull.holding
        await rival.release()
        assert await pull.run_once() == 1 and pull.holding
    finally:
        await admin.close()
        await rival.release()
        await pull.aclose()
    assert bus.ids() == ["lease-1@abc.vn"]
    assert bus.topics() == {INBOUND}


async def test_flock_lets_one_puller_per_host_fetch(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any],
        tmp_path: Path) -> None:
    box = mailbox()
    bus = RecordingBus()
    lock = tmp_path / "cursor.json.lock"
    holder, other = two_pullers(box, bus, tmp_path, (FlockLease(lock), FlockLease(lock)))
    try:
        await take_over(box, imap, mail_folder, bus, holder, other)
    finally:
        await holder.aclose()
        await other.aclose()
    assert bus.ids() == [f"lease-{n}@abc.vn" for n in (1, 2, 3, 4)]
    assert bus.topics() == {INBOUND}


@pytest.mark.parametrize("url", ["postgresql+asyncpg://u:p%40ss@db.example:5433/cskh"])
def test_asyncpg_dsn_keeps_the_password(url: str) -> None:
    assert asyncpg_dsn(url) == "postgresql://u:p%40ss@db.example:5433/cskh"
