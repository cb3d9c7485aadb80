"""Time for tests: a clock they set, and Hồ Chí Minh City wall time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

VN = timedelta(hours=7)


class Clock:
    """An injected clock that says what the test last set: ``clock.now = …``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def vn(day: int, hour: int, minute: int = 0) -> datetime:
    """Hồ Chí Minh City time on Monday 30 November 2026 + ``day``, as UTC."""
    return datetime(2026, 11, 30, hour, minute, tzinfo=UTC) + timedelta(days=day) - VN
