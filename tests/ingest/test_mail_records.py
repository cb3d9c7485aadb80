"""Parsing fetched mail in worker processes: started before the first mail and importing only
the parsing code; the same records as in a thread, in mail order; a mail that kills its worker
costs only its own dead letter."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.bus.topics import DLQ, INBOUND
from ingest.mail_records import MAX_RECORD_BYTES, Fetched, MakeRecords, ParsePool
from tests.support import worker_probe
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


async def test_warm_starts_every_worker_with_only_the_parsing_code() -> None:
    pool = ParsePool(2)
    try:
        pids = await pool.warm()
        assert len(set(pids)) == 2 and os.getpid() not in pids
        assert all(Path(f"/proc/{pid}").exists() for pid in pids)  # up before any mail
        loop = asyncio.get_running_loop()
        pid, loaded = await loop.run_in_executor(pool._executor, worker_probe.modules)
        assert pid in pids  # one of the warm workers, no new one
        assert sorted(pool._executor._processes) == pids
        assert "connectors.email.parse" in loaded and "ingest.mail_records" in loaded
        # Not the CLI that started the service, nor what only the service needs.
        assert not loaded & {"ingest.cli", "ingest.web", "desk", "router", "aiohttp",
                             "sqlalchemy", "aiokafka", "sklearn"}
    finally:
        pool.close()


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


SCRIPT = """import asyncio, json, sys
from ingest.cli import as_module
from ingest.mail_records import ParsePool
from tests.support import worker_probe


async def probe() -> None:
    pool = ParsePool(1)
    await pool.warm()
    loop = asyncio.get_running_loop()
    _, loaded = await loop.run_in_executor(pool._executor, worker_probe.modules)
    pool.close()
    print(json.dumps("ingest.cli" in loaded))


if __name__ == "__main__":
    if sys.argv[1:] == ["named"]:
        as_module()
    asyncio.run(probe())
"""


@pytest.mark.slow
def test_the_cskh_script_s_workers_do_not_import_the_cli(tmp_path: Path) -> None:
    """A console script named ``cskh`` (as pip writes it) that imports the CLI: ``spawn``
    re-runs it in each worker unless ``as_module`` names it ``ingest.__main__``."""
    script = tmp_path / "cskh"
    script.write_text(SCRIPT)
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root}

    def worker_imports_cli(*args: str) -> bool:
        done = subprocess.run([sys.executable, str(script), *args], env=env, cwd=root,
                              capture_output=True, text=True, timeout=300, check=True)
        return bool(json.loads(done.stdout.strip().splitlines()[-1]))

    assert worker_imports_cli()  # what spawn does with a script given by path
    assert not worker_imports_cli("named")


def test_a_mail_too_big_for_the_bus_is_parked_not_retried_forever(tmp_path: Path) -> None:
    # An unreadable 1.1 MB mail as a whole dead letter would be over Kafka's default record
    # limit (1 MiB): the broker refuses it on every try and every mail behind it waits. It
    # is parked instead: its header block in the dead-letter topic, the mail left whole in
    # the mailbox, the cursor remembering it; the next mail goes on.
    junk = b"Subject: =?x?Q?==?=\r\nX-Junk: " + bytes(range(1, 32)) * 36_000 + b"\r\n\r\n" \
        + os.urandom(60_000)
    assert 1_100_000 < len(junk) < 1_300_000
    plain = (FIXTURES / NAMES[0]).read_bytes()
    bodies = {1: junk, 2: plain}
    made, parked = maker(tmp_path)(Fetched(7, (1, 2), {1: len(junk), 2: len(plain)}, bodies,
                                           {}), NOW)
    assert [r.topic for r in made] == [DLQ, INBOUND]
    dead = made[0]
    assert len(dead.value) < MAX_RECORD_BYTES and junk.startswith(dead.value)
    headers = dict(dead.headers)
    assert headers["dlq.parked"] == b"record-too-big"
    assert headers["imap.size"] == str(len(junk)).encode()
    assert b"the mail stays in the mailbox" in headers["dlq.error"]
    assert [p["uid"] for p in parked] == [1]
