"""The CDR puller, one ``run_once`` at a time: append first, then the cursor; resume; lease."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.asterisk import MASTER, CdrTailer
from connectors.envelope import InboundEnvelope
from ingest import pullers
from ingest.bus.base import BusUnavailable, Consumer, OutgoingRecord
from ingest.bus.topics import INBOUND
from ingest.lifecycle import make_bus
from ingest.pullers import CdrPuller, load_cursor
from tests.support.bus import poll_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def line(name: str) -> bytes:
    return (FIXTURES / f"{name}.csv").read_bytes()


class FakeBus:
    """Records what is appended; ``down`` makes it refuse like an unreachable broker."""

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []
        self.down = False
        self.appended = asyncio.Event()

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def send_many(self, records: Sequence[OutgoingRecord]) -> None:
        if self.down:
            raise BusUnavailable("broker unreachable")
        self.records.extend(records)
        self.appended.set()

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        raise NotImplementedError

    def envelopes(self) -> list[InboundEnvelope]:
        return [InboundEnvelope.model_validate_json(r.value) for r in self.records]


@pytest.fixture
def cdr(tmp_path: Path) -> Path:
    directory = tmp_path / "cdr-csv"
    directory.mkdir()
    return directory


def append(directory: Path, data: bytes) -> None:
    with (directory / MASTER).open("ab") as out:
        out.write(data)


def puller(directory: Path, bus: Any) -> CdrPuller:
    return CdrPuller(CdrTailer(directory), bus, directory / ".cskh-cdr-cursor.json", clock)


async def test_new_calls_are_appended_then_the_cursor_is_saved(cdr: Path) -> None:
    bus = FakeBus()
    append(cdr, line("missed__no_answer") + line("answered__no_note") + line("missed__busy"))
    step = puller(cdr, bus)
    assert await step.run_once() == 2
    assert [(r.topic, r.key) for r in bus.records] == [
        (INBOUND, b"+84912345678"), (INBOUND, b"+842838234567")]
    assert [e.external_id for e in bus.envelopes()] == ["1795745700.298", "1795746005.304"]
    assert all(e.received_at == NOW for e in bus.envelopes())
    saved = json.loads((cdr / ".cskh-cdr-cursor.json").read_text())
    assert saved["offset"] == (cdr / MASTER).stat().st_size
    assert saved["inode"] == (cdr / MASTER).stat().st_ino
    assert await step.run_once() == 0  # nothing new: nothing appended
    assert len(bus.records) == 2


async def test_a_restart_resumes_at_the_right_byte(cdr: Path) -> None:
    bus = FakeBus()
    append(cdr, line("missed__no_answer"))
    first = puller(cdr, bus)
    assert await first.run_once() == 1
    first.release()
    append(cdr, line("abandoned__queue"))
    assert await puller(cdr, bus).run_once() == 1  # a new process, the saved cursor
    assert [e.external_id for e in bus.envelopes()] == ["1795745700.298", "1795746670.320"]


async def test_bus_down_keeps_the_cursor_so_nothing_is_lost(cdr: Path) -> None:
    bus = FakeBus()
    append(cdr, line("missed__voicemail"))
    step = puller(cdr, bus)
    bus.down = True
    with pytest.raises(BusUnavailable):
        await step.run_once()
    assert not (cdr / ".cskh-cdr-cursor.json").exists()
    bus.down = False
    assert await step.run_once() == 1
    assert [e.external_id for e in bus.envelopes()] == ["1795774200.448"]


async def test_a_crash_before_the_cursor_is_saved_repeats_the_same_ids(
    cdr: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = FakeBus()
    append(cdr, line("missed__no_answer"))

    def crash(_path: Path, _cursor: object) -> None:
        raise OSError("disk full")

    crashed = puller(cdr, bus)
    with monkeypatch.context() as patch:
        patch.setattr(pullers, "save_cursor", crash)
        with pytest.raises(OSError):
            await crashed.run_once()
    crashed.release()  # the process died: the kernel drops its lock
    assert await puller(cdr, bus).run_once() == 1
    first, again = bus.envelopes()
    assert first.id == again.id  # the normalizer makes one ticket of both


async def test_a_rotated_file_is_not_read_again(cdr: Path) -> None:
    bus = FakeBus()
    append(cdr, line("missed__no_answer"))
    step = puller(cdr, bus)
    await step.run_once()
    append(cdr, line("missed__busy"))
    os.rename(cdr / MASTER, cdr / f"{MASTER}.1")
    append(cdr, line("abandoned__queue"))
    assert await step.run_once() == 2  # the old file's last line, then the new file
    assert await step.run_once() == 0
    assert [e.external_id for e in bus.envelopes()] == [
        "1795745700.298", "1795746005.304", "1795746670.320"]


async def test_one_puller_per_directory_holds_the_lease(cdr: Path) -> None:
    bus = FakeBus()
    append(cdr, line("missed__no_answer"))
    holder, other = puller(cdr, bus), puller(cdr, bus)
    assert await holder.run_once() == 1
    append(cdr, line("missed__busy"))
    assert await other.run_once() == 0  # skips its turn while the lease is held
    holder.release()
    assert await other.run_once() == 1
    other.release()
    assert len(bus.records) == 2


async def test_an_unreadable_cursor_starts_over(cdr: Path) -> None:
    bus = FakeBus()
    append(cdr, line("missed__no_answer"))
    (cdr / ".cskh-cdr-cursor.json").write_text("{not json")
    assert load_cursor(cdr / ".cskh-cdr-cursor.json") is None
    assert await puller(cdr, bus).run_once() == 1


async def test_run_steps_until_stopped(cdr: Path) -> None:
    bus = FakeBus()
    append(cdr, line("missed__no_answer"))
    stop = asyncio.Event()
    task = asyncio.create_task(puller(cdr, bus).run(stop, interval=3600))
    await bus.appended.wait()
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert len(bus.records) == 1


async def test_appends_reach_the_real_bus(backend: Any, cdr: Path) -> None:
    bus = make_bus(backend.settings())
    await bus.start()
    try:
        append(cdr, line("missed__no_answer") + line("abandoned__queue"))
        assert await puller(cdr, bus).run_once() == 2
        got = await poll_until(bus, "test-pullers", INBOUND, want=2, attempts=40)
    finally:
        await bus.close()
    envelopes = sorted(InboundEnvelope.model_validate_json(r.value).external_id for r in got)
    assert envelopes == ["1795745700.298", "1795746670.320"]
