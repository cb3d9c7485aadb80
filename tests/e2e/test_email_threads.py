"""The benchmark's mailbox, threaded right: ``cskh serve`` reading 1,000 generated mails.

The same generator as ``python -m tests.bench email`` (``tests.support.mail_corpus``): new
conversations, some written by the sender of an earlier one under its very subject (no reply
prefix, no In-Reply-To/References), and replies that say so (``Re:`` and
``In-Reply-To``/``References``). What must hold, on both backend pairs, through the real
pipeline (Dovecot → puller → parse worker → normalizer → router):

* a mail that does not present itself as a reply is a ticket of its own, however alike its
  subject to an earlier one (issue 22: 57 of the 800 first mails used to join an earlier
  ticket by same sender and subject);
* every reply, held back in the mailbox behind its root, is on its root's ticket;
* an out-of-office answer is recorded on its thread and never opens a ticket.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import create_engine, session_factory
from storage.models import Message, Ticket
from tests.support.imap import fresh_folder, login
from tests.support.mail_corpus import corpus
from tests.support.service import Service

pytestmark = pytest.mark.slow
MAILS = 1000


@pytest.fixture
def folder(imap_server: Any) -> Iterator[str]:
    with fresh_folder(imap_server, "cskhthreads") as name:
        yield name


@pytest.fixture
async def db(backend: Any) -> AsyncIterator[Any]:
    engine = create_engine(backend.database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def test_new_conversations_alike_in_subject_stay_apart_and_replies_thread(
        backend: Any, imap_server: Any, folder: str, tmp_path: Path, db: Any,
        http: aiohttp.ClientSession, wait_for: Callable[..., Any]) -> None:
    mails = corpus(MAILS, run=f"t{uuid.uuid4().hex[:8]}")
    roots = {m.thread_root for m in mails}
    client = login(imap_server)
    for start in range(0, len(mails), 100):
        client.multiappend(folder, [m.raw for m in mails[start:start + 100]])
    client.logout()

    service = Service({
        **backend.env(), "CSKH_IMAP_HOST": imap_server.host,
        "CSKH_IMAP_PORT": str(imap_server.port), "CSKH_IMAP_USER": imap_server.user,
        "CSKH_IMAP_PASSWORD": imap_server.password, "CSKH_IMAP_FOLDER": folder,
        "CSKH_IMAP_TLS": "false", "CSKH_IMAP_POLL_SECONDS": "0.2",
        "CSKH_IMAP_CURSOR_PATH": str(tmp_path / "imap-cursor.json"),
        "CSKH_ATTACHMENT_DIR": str(tmp_path / "files"),
    }, tmp_path)
    service.run_cli("migrate")
    await service.start(http)

    async def stored() -> bool:
        async with db() as s:
            return int(await s.scalar(select(func.count()).select_from(Message)) or 0) \
                >= len(mails)

    await wait_for(stored, attempts=1800, interval=0.1)
    service.kill()

    async with db() as s:
        placed = (await s.execute(select(Message.external_id, Ticket.thread_key)
                                  .join(Ticket, Ticket.id == Message.ticket_id))).all()
        keys = list(await s.scalars(select(Ticket.thread_key)))
        contacts = (await s.execute(select(Ticket.thread_key, Ticket.contact_id))).all()
    merged = Counter(roots) - Counter(keys)
    assert not merged, f"{len(merged)} conversations merged into another ticket"
    assert Counter(keys) == Counter(roots)
    assert dict(placed) == {m.message_id: m.thread_root for m in mails}
    assert len(placed) == len(mails)
    # What a subject rule would merge is there: new conversations by the sender of an earlier
    # one under its very subject (else this test could not fail), each on a ticket of its own.
    repeated = {m.message_id: m.repeats for m in mails if m.repeats is not None}
    assert len(repeated) > 20
    contact = {key: who for key, who in contacts}
    assert all(contact[mid] == contact[earlier] for mid, earlier in repeated.items())
    assert set(repeated) <= set(keys)
    machine = {m.message_id for m in mails if m.machine}
    assert machine and not machine & set(keys)
