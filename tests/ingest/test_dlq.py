"""``cskh dlq ls|replay`` on both backends: dead letters are listed whole and replayed once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ingest.bus.base import Record
from ingest.bus.loop import dead_letter
from ingest.bus.topics import INBOUND
from ingest.cli import main
from ingest.lifecycle import make_bus
from tests.support.bus import poll_until

POISON = b'{"not": "an envelope", "text": "H\xc3\xb3a \xc4\x91\xc6\xa1n"}\xff'


async def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = await asyncio.to_thread(main, [*args, "--json"])
    assert code == 0
    return json.loads(capsys.readouterr().out)


async def test_dead_letters_are_listed_and_replayed_once(
    backend: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    settings = backend.settings()
    bus = make_bus(settings)
    await bus.start()
    failed = Record(topic=INBOUND, partition=2, offset=41, key=b"thread-9", value=POISON,
                    headers=(("trace", b"abc"),))
    await bus.send_many([dead_letter(failed, "cskh-normalizer", ValueError("not an envelope"))])
    await bus.close()

    listed = await run_cli(capsys, "dlq", "ls")
    assert len(listed) == 1
    letter = listed[0]
    assert letter["topic"] == INBOUND and letter["group"] == "cskh-normalizer"
    assert letter["source_partition"] == "2" and letter["source_offset"] == "41"
    assert "ValueError: not an envelope" in letter["error"]
    assert letter["value"] is None  # not UTF-8: given whole as base64
    assert letter["value_base64"]

    replayed = await run_cli(capsys, "dlq", "replay")
    assert replayed["replayed"] == 1
    assert (await run_cli(capsys, "dlq", "replay"))["replayed"] == 0
    assert len(await run_cli(capsys, "dlq", "ls")) == 1  # the dead letter itself stays

    bus = make_bus(settings)
    await bus.start()
    got = await poll_until(bus, "test-reader", INBOUND)
    await bus.close()
    assert [(r.key, r.value, r.headers) for r in got] == [(b"thread-9", POISON,
                                                          (("trace", b"abc"),))]
