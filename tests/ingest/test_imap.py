"""The IMAP puller against a real Dovecot: append, then cursor; resume; resync; park.

Each test appends fixture mail to a fresh folder with imapclient, drives ``run_once`` into the
embedded bus and reads ``cskh.inbound`` / ``cskh.dlq`` back.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.email.imap import ImapMailbox
from connectors.envelope import InboundEnvelope
from ingest.bus.base import BusUnavailable, Consumer, OutgoingRecord
from ingest.bus.embedded import EmbeddedBus
from ingest.bus.topics import DLQ, INBOUND
from ingest.imap import ImapPuller, load_cursor
from ingest.mail_records import ParsePool
from tests.support.bus import read_all
from tests.support.imap import append, login

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (FIXTURES / "expected.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
# Dovecot refuses NUL bytes in a plain APPEND; this is unreadable as mail all the same.
GARBAGE = b"\x89PNG\r\n\x1a garbage \xff\xfe\xfd that is no mail at all\r\n" * 20


def clock() -> datetime:
    return NOW


@pytest.fixture
def folder(mail_folder: str) -> str:
    return mail_folder


@pytest.fixture
def bus(embedded_bus: EmbeddedBus) -> EmbeddedBus:
    return embedded_bus


async def envelopes(bus: EmbeddedBus) -> list[InboundEnvelope]:
    return [InboundEnvelope.model_validate_json(r.value) for r in await read_all(bus, INBOUND)]


def puller(server: Any, folder: str, bus: Any, tmp_path: Path, **kwargs: Any) -> ImapPuller:
    mailbox = ImapMailbox(host=server.host, port=server.port, user=server.user,
                          password=server.password, folder=folder, tls=False)
    return ImapPuller(mailbox, bus, tmp_path / "imap-cursor.json", clock,
                      attachment_dir=tmp_path / "files", **kwargs)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class FlakyBus:
    """Passes appends to ``inner`` but refuses the ``fail_on``-th one, like a broker going away."""

    def __init__(self, inner: EmbeddedBus, fail_on: int) -> None:
        self.inner = inner
        self.calls = 0
        self.fail_on = fail_on

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def send_many(self, records: Sequence[OutgoingRecord]) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise BusUnavailable("broker went away")
        await self.inner.send_many(records)

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        return self.inner.consumer(group, topics)


async def test_every_parseable_mail_becomes_one_envelope_and_garbage_a_dead_letter(
        imap_server: Any, folder: str, bus: EmbeddedBus, tmp_path: Path) -> None:
    names = sorted(n for n, want in EXPECTED.items() if not want.get("none"))
    append(imap_server, folder, *(fixture(n) for n in names), GARBAGE)
    pull = puller(imap_server, folder, bus, tmp_path, batch_size=16)
    try:
        assert await pull.run_once() == len(names)
        assert await pull.run_once() == 0  # nothing new: nothing appended again
    finally:
        pull.close()
    found = await envelopes(bus)
    assert len(found) == len(names)
    by_uid = {e.raw["source"]["uid"]: e for e in found}
    assert sorted(by_uid) == list(range(1, len(names) + 1))
    for uid, name in enumerate(names, start=1):
        want, env = EXPECTED[name], by_uid[uid]
        assert want["new_text"] in env.text or not want["new_text"], name
        if "thread_root" in want:
            assert env.thread_key == want["thread_root"]
    dup_a = next(e for u, e in by_uid.items() if names[u - 1] == "duplicate__a.eml")
    dup_b = next(e for u, e in by_uid.items() if names[u - 1] == "duplicate__b.eml")
    assert dup_a.id == dup_b.id
    (dead,) = await read_all(bus, DLQ)
    assert crlf(dead.value) == crlf(GARBAGE)
    assert (dead.header("dlq.error") or b"").startswith(b"unparseable")
    assert b"UID=%d" % (len(names) + 1) in (dead.header("dlq.source") or b"")
    assert dead.header("dlq.topic") is None  # not replayable onto a topic: it is no record
    cursor = load_cursor(tmp_path / "imap-cursor.json")
    assert cursor is not None and cursor.last_uid == len(names) + 1


async def test_a_crash_between_append_and_cursor_loses_and_duplicates_nothing(
        imap_server: Any, folder: str, bus: EmbeddedBus, tmp_path: Path) -> None:
    names = ["reply__gmail_vi_utf8_base64.eml", "html_only__vi.eml", "attachment__pdf.eml",
             "auto__x_autoreply.eml", "bounce__delivery_status.eml"]
    append(imap_server, folder, *(fixture(n) for n in names))
    flaky = FlakyBus(bus, fail_on=2)
    first = puller(imap_server, folder, flaky, tmp_path, batch_size=2)
    with pytest.raises(BusUnavailable):
        await first.run_once()
    first.close()
    cursor = load_cursor(tmp_path / "imap-cursor.json")
    assert cursor is not None and cursor.last_uid == 2  # only the batch that was appended
    assert len(await envelopes(bus)) == 2

    restarted = puller(imap_server, folder, bus, tmp_path, batch_size=2)
    try:
        assert await restarted.run_once() == 3
    finally:
        restarted.close()
    found = await envelopes(bus)
    assert len(found) == len(names) == len({e.id for e in found})
    assert sorted(e.raw["source"]["uid"] for e in found) == [1, 2, 3, 4, 5]
    flags = {e.external_id: e.raw["auto"] for e in found}
    assert sorted(v for v in flags.values() if v) == ["auto_reply", "bounce"]


async def test_a_uidvalidity_change_resyncs_without_loss(
        imap_server: Any, folder: str, bus: EmbeddedBus, tmp_path: Path) -> None:
    old = [fixture("plain__best_regards.eml"), fixture("reply__quoted_gt.eml")]
    append(imap_server, folder, *old)
    pull = puller(imap_server, folder, bus, tmp_path)
    assert await pull.run_once() == 2
    pull.close()
    before = load_cursor(tmp_path / "imap-cursor.json")
    assert before is not None

    imap = login(imap_server)
    imap.delete_folder(folder)
    imap.create_folder(folder)
    imap.logout()
    append(imap_server, folder, *old, fixture("plain__no_diacritics.eml"))
    try:
        assert await pull.run_once() == 3  # re-read from UID 1: same ids for the old two
    finally:
        pull.close()
    after = load_cursor(tmp_path / "imap-cursor.json")
    assert after is not None and after.uidvalidity != before.uidvalidity
    assert after.last_uid == 3
    found = await envelopes(bus)
    assert len({e.id for e in found}) == 3
    assert {e.external_id for e in found} == {"br7@saomai.vn", "gt5@xyz.vn", "kd49@abc.vn"}


async def test_oversize_mail_is_parked_with_its_headers_not_dropped(
        imap_server: Any, folder: str, bus: EmbeddedBus, tmp_path: Path) -> None:
    payload = uuid.uuid4().bytes * (5 * 1024 * 1024 // 16)  # a 5 MB scan, made here
    big = crlf((
        "From: Kho <kho@abc.vn>\nTo: cskh@congty.vn\nSubject: Scan 5MB\n"
        "Message-ID: <big-5mb@abc.vn>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="big"\n\n'
        "--big\nContent-Type: text/plain; charset=utf-8\n\nBản scan.\n"
        "--big\nContent-Type: application/pdf\n"
        'Content-Disposition: attachment; filename="scan.pdf"\n'
        "Content-Transfer-Encoding: base64\n\n"
    ).encode()) + base64.encodebytes(payload).replace(b"\n", b"\r\n") + b"--big--\r\n"
    append(imap_server, folder, fixture("plain__no_diacritics.eml"), big,
           fixture("attachment__image_png.eml"))
    pull = puller(imap_server, folder, bus, tmp_path, max_message_bytes=1024 * 1024)
    try:
        assert await pull.run_once() == 2
    finally:
        pull.close()
    assert {e.external_id for e in await envelopes(bus)} == {"kd49@abc.vn", "png16@abc.vn"}
    (parked,) = await read_all(bus, DLQ)
    assert parked.header("dlq.parked") == b"oversize"
    assert b"Message-ID: <big-5mb@abc.vn>" in parked.value
    assert len(parked.value) < 4096  # the headers only
    cursor = load_cursor(tmp_path / "imap-cursor.json")
    assert cursor is not None and cursor.last_uid == 3
    assert [(p["uid"], p["message_id"]) for p in cursor.parked] == [(2, "big-5mb@abc.vn")]
    assert cursor.parked[0]["size"] > 5 * 1024 * 1024


async def test_the_password_is_never_in_the_repr() -> None:
    box = ImapMailbox(host="imap.example.vn", user="cskh", password="s3cret-pass")
    assert "s3cret-pass" not in repr(box)


@pytest.mark.parametrize("workers", [0, 1], ids=["thread", "worker_process"])
async def test_a_mail_without_date_is_dated_by_its_internaldate_not_the_fetch(
        imap_server: Any, folder: str, bus: EmbeddedBus, tmp_path: Path, workers: int) -> None:
    arrived = datetime(2026, 11, 20, 8, 45, tzinfo=UTC)  # a week before the puller's clock
    client = login(imap_server)
    try:
        client.append(folder, fixture("missing__no_date.eml"), msg_time=arrived)
        client.append(folder, fixture("plain__best_regards.eml"), msg_time=arrived)
        client.append(folder, fixture("missing__impossible_date.eml"), msg_time=arrived)
    finally:
        client.logout()
    pool = ParsePool(workers) if workers else None  # what crosses to a worker must pickle
    pull = puller(imap_server, folder, bus, tmp_path, parse_pool=pool)
    try:
        assert await pull.run_once() == 3
    finally:
        pull.close()
        if pool is not None:
            pool.close()
    undated, dated, impossible = sorted(await envelopes(bus),
                                        key=lambda e: e.raw["source"]["uid"])
    assert undated.sent_at == arrived and undated.received_at == NOW
    assert dated.sent_at != arrived  # a mail's own Date wins over the server's arrival
    assert impossible.sent_at == arrived  # year 9999 is no sending date
