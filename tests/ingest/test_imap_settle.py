"""Move / flag after ingest, against Dovecot: only mail already on the bus and under the saved
cursor; MOVE where the server has it, else COPY + \\Deleted + (UID) EXPUNGE; a crash between
the cursor and the move is finished by the next pass, without a second envelope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from connectors.email.imap import ImapMailbox, ImapSession, ImapUnavailable
from connectors.envelope import InboundEnvelope
from ingest.bus.embedded import EmbeddedBus
from ingest.bus.topics import INBOUND
from ingest.imap import ImapPuller, load_cursor

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def mail(n: int) -> bytes:
    return (f"From: Kho <kho@abc.vn>\r\nTo: cskh@congty.vn\r\nSubject: Phieu {n}\r\n"
            f"Message-ID: <settle-{n}@abc.vn>\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"\r\nPhiếu xuất kho số {n} thiếu chữ ký.\r\n").encode()


def hiding(*capabilities: str) -> type[IMAPClient]:
    """An imapclient that pretends the server lacks ``capabilities``."""
    class Hiding(IMAPClient):  # type: ignore[misc]
        def has_capability(self, capability: str) -> bool:
            return capability.upper() not in capabilities and bool(
                super().has_capability(capability))
    return Hiding


def contents(imap: Callable[..., Any], folder: str, flags: bool = False) -> Any:
    def look(client: IMAPClient) -> Any:
        if not client.folder_exists(folder):
            return None
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        if not flags:
            return len(uids)
        return {u: set(item[b"FLAGS"]) for u, item in client.fetch(uids, ["FLAGS"]).items()}
    return imap(look)


async def external_ids(bus: EmbeddedBus, read_topic: Any) -> list[str]:
    return sorted(InboundEnvelope.model_validate_json(r.value).external_id
                  for r in await read_topic(bus, INBOUND))


def make(box: ImapMailbox, bus: Any, tmp_path: Path, **kwargs: Any) -> ImapPuller:
    return ImapPuller(box, bus, tmp_path / "cursor.json", lambda: NOW,
                      attachment_dir=tmp_path / "files", **kwargs)


@pytest.mark.parametrize("hidden", [(), ("MOVE",), ("MOVE", "UIDPLUS")],
                         ids=["move", "copy_uid_expunge", "copy_expunge"])
async def test_ingested_mail_is_moved_and_never_read_again(
        hidden: tuple[str, ...], mailbox: Callable[..., ImapMailbox], mail_folder: str,
        imap: Callable[..., Any], embedded_bus: EmbeddedBus, read_topic: Any,
        tmp_path: Path) -> None:
    done = f"{mail_folder}-done"
    box = mailbox(move_to=done)
    imap(lambda c: [c.append(mail_folder, mail(n)) for n in range(1, 4)])
    pull = make(box, embedded_bus, tmp_path, batch_size=2,
                session=ImapSession(box, client_factory=hiding(*hidden)))
    try:
        assert await pull.run_once() == 3
        assert (contents(imap, mail_folder), contents(imap, done)) == (0, 3)
        imap(lambda c: c.append(mail_folder, mail(4)))
        assert await pull.run_once() == 1
        assert await pull.run_once() == 0
    finally:
        pull.close()
    assert (contents(imap, mail_folder), contents(imap, done)) == (0, 4)
    assert await external_ids(embedded_bus, read_topic) == [
        f"settle-{n}@abc.vn" for n in range(1, 5)]


async def test_a_crash_between_cursor_and_move_is_finished_without_a_duplicate(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any],
        embedded_bus: EmbeddedBus, read_topic: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    done = f"{mail_folder}-done"
    box = mailbox(move_to=done)
    imap(lambda c: [c.append(mail_folder, mail(n)) for n in range(1, 3)])
    crashed = make(box, embedded_bus, tmp_path)

    def broken(_uids: list[int]) -> None:
        raise ImapUnavailable("connection reset while moving")

    with monkeypatch.context() as patch:
        patch.setattr(crashed._session, "settle", broken)
        with pytest.raises(ImapUnavailable):
            await crashed.run_once()
    crashed.close()
    cursor = load_cursor(tmp_path / "cursor.json")
    assert cursor is not None and cursor.last_uid == 2  # on the bus, cursor saved, not moved
    assert (contents(imap, mail_folder), contents(imap, done)) == (2, None)

    restarted = make(box, embedded_bus, tmp_path)
    try:
        assert await restarted.run_once() == 0  # nothing fetched again
    finally:
        restarted.close()
    assert (contents(imap, mail_folder), contents(imap, done)) == (0, 2)
    assert await external_ids(embedded_bus, read_topic) == ["settle-1@abc.vn", "settle-2@abc.vn"]


async def test_ingested_mail_is_flagged_and_stays(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any],
        embedded_bus: EmbeddedBus, tmp_path: Path) -> None:
    imap(lambda c: [c.append(mail_folder, mail(n)) for n in range(1, 3)])
    pull = make(mailbox(flag="\\Seen"), embedded_bus, tmp_path)
    try:
        assert await pull.run_once() == 2
    finally:
        pull.close()
    flags = contents(imap, mail_folder, flags=True)
    assert sorted(flags) == [1, 2] and all(b"\\Seen" in f for f in flags.values())


async def test_without_move_or_flag_the_folder_is_only_read(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any],
        embedded_bus: EmbeddedBus, tmp_path: Path) -> None:
    imap(lambda c: c.append(mail_folder, mail(1)))
    box = mailbox()
    assert not box.settles
    pull = make(box, embedded_bus, tmp_path)
    try:
        assert await pull.run_once() == 1
    finally:
        pull.close()
    flags = contents(imap, mail_folder, flags=True)
    assert list(flags) == [1] and flags[1] - {b"\\Recent"} == set()  # not even \\Seen
