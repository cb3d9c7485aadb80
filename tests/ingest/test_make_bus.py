"""``make_bus``: the bus settings reach the bus they configure."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.bus.embedded import EmbeddedBus
from ingest.bus.kafka import KafkaBus
from ingest.lifecycle import make_bus
from ingest.settings import Settings


@pytest.mark.parametrize(("hours", "seconds"), [(None, 7 * 24 * 3600.0), (24, 86400.0), (0, None)])
def test_the_retention_setting_reaches_the_embedded_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hours: int | None,
        seconds: float | None) -> None:
    monkeypatch.setenv("CSKH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    if hours is not None:
        monkeypatch.setenv("CSKH_BUS_RETENTION_HOURS", str(hours))
    bus = make_bus(Settings())
    assert isinstance(bus, EmbeddedBus)
    assert bus.retention == seconds


@pytest.mark.parametrize(("value", "linger"), [(None, 1), ("0", 0), ("20", 20)])
def test_the_linger_setting_reaches_the_kafka_producer(
        monkeypatch: pytest.MonkeyPatch, value: str | None, linger: int) -> None:
    monkeypatch.setenv("CSKH_BUS", "kafka://127.0.0.1:9")
    if value is not None:
        monkeypatch.setenv("CSKH_KAFKA_LINGER_MS", value)
    bus = make_bus(Settings())
    assert isinstance(bus, KafkaBus)
    assert bus.linger_ms == linger


def test_a_negative_linger_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_KAFKA_LINGER_MS", "-1")
    with pytest.raises(ValueError, match="kafka_linger_ms"):
        Settings()
