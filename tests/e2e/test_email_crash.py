"""The mailbox under kill -9: ``cskh serve`` reading a real Dovecot folder, killed twice.

300 mails (new threads, replies to them, out-of-office answers, one that is no mail at all);
the first 260 wait in a fresh folder. The service is killed with SIGKILL first as soon as the
puller has saved its first cursor (200 of the UIDs; it is then fetching the rest, so the kill
falls between a fetch and its acknowledgement), then again once the normalizer has stored a
third of the mail; the last 40 mails arrive while it is down, and it is left to finish. What
must hold, on both backend pairs:

* every mail is exactly one message (counted by Message-ID), on the ticket of its thread;
* every thread is exactly one ticket, assigned; an out-of-office answer never opens one;
* the unreadable mail is in ``cskh.dlq`` and ``cskh dlq ls`` shows it. It may be there more
  than once, honestly: a dead letter is appended with its batch, before the cursor moves, and
  a kill between the two makes the next run append it again (a raw mail has no provider id
  to dedup a dead letter by). So: at least once, at most once per run of the service.
"""

from __future__ import annotations

import base64
import json
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import create_engine, session_factory
from storage.models import Message, PullerCursor, Ticket
from tests.support.imap import fresh_folder, login
from tests.support.mail_corpus import GARBAGE, corpus
from tests.support.service import Service, alive

pytestmark = pytest.mark.slow
MAILS = 300
LATE = 40  # delivered after the second kill
QUEUES = ("cskh", "sales", "accounting", "warehouse", "technical")


@pytest.fixture
def folder(imap_server: Any) -> Iterator[str]:
    """A fresh Dovecot folder, deleted afterwards."""
    with fresh_folder(imap_server, "cskhcrash") as name:
        yield name


@pytest.fixture
async def db(backend: Any) -> AsyncIterator[Any]:
    """Sessions on the backend pair's database (which the service migrates)."""
    engine = create_engine(backend.database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def message_count(db: Any) -> int:
    async with db() as s:
        return int(await s.scalar(select(func.count()).select_from(Message)) or 0)


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


async def test_kill_9_while_pulling_mail_loses_nothing_and_duplicates_nothing(
        backend: Any, imap_server: Any, folder: str, tmp_path: Path, db: Any,
        http: aiohttp.ClientSession, wait_for: Callable[..., Any]) -> None:
    mails = corpus(MAILS - 1, run=f"k{uuid.uuid4().hex[:8]}")
    raws = [m.raw for m in mails]
    raws.insert(250, GARBAGE)  # in the second batch, the one the first kill interrupts
    # The last LATE mails arrive only after the second kill, so that kill always leaves work
    # (how far the normalizer got before it is a matter of timing, and a fast one may be done
    # with what the folder held).
    early, late = raws[:-LATE], raws[-LATE:]

    def deliver(batch: list[bytes]) -> None:
        client = login(imap_server)
        for start in range(0, len(batch), 50):
            client.multiappend(folder, batch[start:start + 50])
        client.logout()

    deliver(early)

    cursor = tmp_path / "imap-cursor.json"
    service = Service({
        **backend.env(), "CSKH_IMAP_HOST": imap_server.host,
        "CSKH_IMAP_PORT": str(imap_server.port), "CSKH_IMAP_USER": imap_server.user,
        "CSKH_IMAP_PASSWORD": imap_server.password, "CSKH_IMAP_FOLDER": folder,
        "CSKH_IMAP_TLS": "false", "CSKH_IMAP_POLL_SECONDS": "0.2",
        "CSKH_IMAP_CURSOR_PATH": str(cursor), "CSKH_ATTACHMENT_DIR": str(tmp_path / "files"),
        "CSKH_CONSUMER_BATCH": "20",  # many small commits: a kill lands between two of them
    }, tmp_path)
    service.run_cli("migrate")
    service.run_cli("staff", "add", "--name", "Hộp thư chung", "--capacity", "1000",
                    *(a for q in QUEUES for a in ("--queue", q)))

    async def saved_uid() -> int | None:
        """The puller's saved cursor: a file on one host, a database row with PostgreSQL."""
        if backend.name == "embedded":
            return json.loads(cursor.read_text())["last_uid"] if cursor.exists() else None
        async with db() as s:
            data = await s.scalar(select(PullerCursor.data))
        return int(data["last_uid"]) if data else None

    # 1. As soon as the puller acknowledged its first batch: it is fetching the next one.
    await service.start(http)
    await wait_for(saved_uid, attempts=3000, interval=0.01)
    service.kill()
    assert service.orphans, "the puller parses in a process of its own"

    async def orphans_gone() -> bool:  # its mail parser does not outlive a kill -9
        return not any(alive(pid) for pid in service.orphans)

    await wait_for(orphans_gone, attempts=100, interval=0.1)
    first = await saved_uid() or 0, await message_count(db)
    assert first[0] < len(early) or first[1] < len(early) - 1, "the kill came after all the work"

    # 2. While the normalizer is half-way through.
    await service.start(http)

    async def progressed() -> bool:
        return await message_count(db) > max(first[1], len(mails) // 3)

    await wait_for(progressed, attempts=3000, interval=0.01)
    service.kill()
    assert await message_count(db) <= len(mails) - LATE

    # 3. The rest of the mail arrives while the service is down; it is left to finish.
    deliver(late)
    await service.start(http)
    roots = {m.thread_root for m in mails}

    async def settled() -> bool:
        async with db() as s:
            assigned = await s.scalar(select(func.count()).select_from(Ticket)
                                      .where(Ticket.assignee_id.is_not(None)))
        return await message_count(db) >= len(mails) and assigned == len(roots)

    await wait_for(settled, attempts=1800, interval=0.1)
    assert service.kill(signal.SIGTERM) == 0

    async with db() as s:
        placed = (await s.execute(select(Message.external_id, Ticket.thread_key)
                                  .join(Ticket, Ticket.id == Message.ticket_id))).all()
        tickets = (await s.execute(select(Ticket.thread_key, Ticket.assignee_id))).all()
    assert Counter(ext for ext, _ in placed) == Counter(m.message_id for m in mails)
    assert dict(placed) == {m.message_id: m.thread_root for m in mails}
    assert Counter(key for key, _ in tickets) == Counter(roots)
    assert all(assignee is not None for _, assignee in tickets)
    assert any(m.machine for m in mails) and not {m.message_id for m in mails if m.machine} & {
        key for key, _ in tickets}

    letters = json.loads(service.run_cli("dlq", "ls", "--json"))
    assert letters and all(d["group"] == "puller:email" for d in letters), letters
    assert all(d["error"].startswith("unparseable") for d in letters)
    assert all(d["source"].startswith("imap://") and folder in d["source"]
               and d["source"].endswith(";UID=251") for d in letters)  # where to find it
    assert all(crlf(base64.b64decode(d["value_base64"])) == crlf(GARBAGE) for d in letters)
    assert 1 <= len(letters) <= 3  # at least once; at most once per run of the service
