"""Parsing fetched mail in worker processes: the same records as in a thread, in mail order;
a mail that kills its worker costs only its own dead letter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.bus.topics import DLQ, INBOUND
from ingest.mail_records import Fetched, MakeRecords, ParsePool
from tests.support.crashing_maker import CrashingMaker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
NAMES = ["plain__best_regards.eml", "html_only__vi.eml", "attachment__pdf.eml",
         "reply__outlook_vi_cp1258.eml", "forward__gmail_inline.eml", "unparseable__binary.eml"]


@pytest.fixture(scope="module")
def pool() -> Iterator[ParsePool]:
    made = ParsePool(2)
    yield made
    made.close()


def fetched() -> Fetched:
    bodies = {uid: (FIXTURES / name).read_bytes() for uid, name in enumerate(NAMES, start=1)}
    return Fetched(7, tuple(bodies), {u: len(b) for u, b in bodies.items()}, bodies, {})


def maker(tmp_path: Path, cls: type[MakeRecords] = MakeRecords, **extra: Any) -> MakeRecords:
    return cls("cskh@congty.vn", "INBOX", "cskh", tmp_path, 40 * 2**20, 10 * 2**20, **extra)


async def test_workers_make_the_records_a_thread_makes_in_mail_order(
        pool: ParsePool, tmp_path: Path) -> None:
    assert all((FIXTURES / name).is_file() for name in NAMES)
    in_thread = maker(tmp_path)(fetched(), NOW)
    in_workers = await pool.make(maker(tmp_path), fetched(), NOW)
    assert in_workers == in_thread
    records, _ = in_workers
    assert [r.topic for r in records] == [INBOUND] * 5 + [DLQ]


async def test_a_mail_that_kills_its_worker_is_dead_lettered_and_the_rest_go_on(
        pool: ParsePool, tmp_path: Path) -> None:
    crashing = maker(tmp_path, CrashingMaker, crash_uid=3)
    records, parked = await pool.make(crashing, fetched(), NOW)
    assert parked == []
    assert [r.topic for r in records] == [INBOUND, INBOUND, DLQ, INBOUND, INBOUND, DLQ]
    dead = records[2]
    assert dead.value == (FIXTURES / NAMES[2]).read_bytes()  # kept whole
    assert b"parser crashed" in dict(dead.headers)["dlq.error"]
    assert dict(dead.headers)["dlq.source"].endswith(b";UIDVALIDITY=7/;UID=3")
    # the pool was renewed: it still works
    again, _ = await pool.make(maker(tmp_path), fetched(), NOW)
    assert [r.topic for r in again] == [INBOUND] * 5 + [DLQ]


def test_a_mail_the_parser_raises_on_is_a_whole_dead_letter_and_the_rest_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.mail_records as records_module
    from connectors.email.parse import parse_email as real

    poison = (FIXTURES / NAMES[1]).read_bytes()

    def parse_email(raw: bytes, **kwargs: Any) -> Any:
        if raw == poison:
            raise RuntimeError("a parser bug")
        return real(raw, **kwargs)

    monkeypatch.setattr(records_module, "parse_email", parse_email)
    made, _ = maker(tmp_path)(fetched(), NOW)
    assert "unparseable__binary.eml" in NAMES  # the other dead letter
    assert [r.topic for r in made] == [DLQ if n in (NAMES[1], "unparseable__binary.eml")
                                       else INBOUND for n in NAMES]
    dead = next(r for r in made if r.topic == DLQ and r.value == poison)
    assert dict(dead.headers)["dlq.error"].startswith(b"parser error: RuntimeError")
