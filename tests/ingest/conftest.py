"""Helpers of the IMAP puller tests (as fixtures: test modules cannot import each other).

``mail_folder`` makes a fresh folder on the test Dovecot (deleted afterwards, with any
``<folder>-done`` folder a test moved mail to); ``mailbox`` is an ``ImapMailbox`` on it;
``imap`` runs a callable on a logged-in imapclient; ``embedded_bus`` and ``read_topic`` are
the embedded log and a reader of one of its topics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from connectors.email.imap import ImapMailbox
from ingest.bus.base import Record
from ingest.bus.embedded import EmbeddedBus
from tests.support.bus import read_all
from tests.support.imap import fresh_folder, login

Imap = Callable[[Callable[[IMAPClient], Any]], Any]
ReadTopic = Callable[[EmbeddedBus, str], Awaitable[list[Record]]]


@pytest.fixture
def imap(imap_server: Any) -> Imap:
    """``imap(fn)``: ``fn(client)`` on a fresh plain-IMAP login, logged out afterwards."""
    def run(fn: Callable[[IMAPClient], Any]) -> Any:
        client = login(imap_server)
        try:
            return fn(client)
        finally:
            client.logout()
    return run


@pytest.fixture
def mail_folder(imap_server: Any) -> Iterator[str]:
    with fresh_folder(imap_server) as name:
        yield name


@pytest.fixture
def mailbox(imap_server: Any, mail_folder: str) -> Callable[..., ImapMailbox]:
    """``mailbox(**fields)``: the test folder as an ``ImapMailbox`` (plain IMAP)."""
    def make(**fields: Any) -> ImapMailbox:
        values: dict[str, Any] = {"host": imap_server.host, "port": imap_server.port,
                                  "user": imap_server.user, "password": imap_server.password,
                                  "folder": mail_folder, "tls": False}
        values.update(fields)
        return ImapMailbox(**values)
    return make


@pytest.fixture
async def embedded_bus(tmp_path: Path) -> AsyncIterator[EmbeddedBus]:
    bus = EmbeddedBus(str(tmp_path / "bus.db"))
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture
def read_topic() -> ReadTopic:
    """``await read_topic(bus, topic)``: every record of ``topic`` so far."""
    return read_all
