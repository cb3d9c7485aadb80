"""Report periods: calendar days, ISO weeks and months in Asia/Ho_Chi_Minh.

A ``Window`` is the span a report covers (``--from``/``--to``, inclusive local dates) cut into
periods; every instant falls into exactly one period by its local date.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

from desk.reports.base import ReportError

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
PeriodKind = Literal["day", "week", "month"]
PERIODS: tuple[PeriodKind, ...] = ("day", "week", "month")


def period_start(day: date, kind: PeriodKind) -> date:
    """The first day of the period ``day`` falls in."""
    if kind == "day":
        return day
    if kind == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_start(start: date, kind: PeriodKind) -> date:
    if kind == "day":
        return start + timedelta(days=1)
    if kind == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def period_label(start: date, kind: PeriodKind) -> str:
    """How a period is named in a report: ``2026-11-30``, ``2026-W49``, ``2026-11``."""
    if kind == "day":
        return start.isoformat()
    if kind == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def local_date(instant: datetime) -> date:
    """The calendar date of ``instant`` in Asia/Ho_Chi_Minh (naive values are UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(LOCAL).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=LOCAL).astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """The periods ``kind`` that cover the local dates ``first``..``last`` (whole periods)."""

    kind: PeriodKind
    first: date
    last: date

    @property
    def starts_at(self) -> datetime:
        """The first instant covered (UTC)."""
        return _midnight(period_start(self.first, self.kind))

    @property
    def ends_at(self) -> datetime:
        """The instant after the last one covered (UTC)."""
        return _midnight(_next_start(period_start(self.last, self.kind), self.kind))

    def periods(self) -> Iterator[tuple[str, datetime, datetime]]:
        """Each period: its label, first instant and the instant after its last (UTC)."""
        start = period_start(self.first, self.kind)
        while start <= self.last:
            following = _next_start(start, self.kind)
            yield period_label(start, self.kind), _midnight(start), _midnight(following)
            start = following

    def label_of(self, instant: datetime) -> str | None:
        """The label of the period ``instant`` falls in, None outside the window."""
        starts, labels, end = self._bounds
        if not starts[0] <= instant < end:
            return None
        return labels[bisect_right(starts, instant) - 1]

    @cached_property
    def _bounds(self) -> tuple[list[datetime], list[str], datetime]:
        periods = list(self.periods())
        return [p[1] for p in periods], [p[0] for p in periods], periods[-1][2]


def parse_window(kind: str, first: str | None, last: str | None, today: date) -> Window:
    """The window a report asked for: by default the current period (the one holding ``today``).

    ``first``/``last`` are ISO dates (local); either alone means that one period.
    """
    if kind not in PERIODS:
        raise ReportError(f"period must be one of {', '.join(PERIODS)}, not {kind!r}")
    period: PeriodKind = kind
    try:
        start = date.fromisoformat(first) if first else None
        end = date.fromisoformat(last) if last else None
    except ValueError as exc:
        raise ReportError(f"dates are YYYY-MM-DD: {exc}") from None
    start, end = start or end or today, end or start or today
    if end < start:
        raise ReportError(f"--to {end} is before --from {start}")
    if (end - start).days > 3 * 366:
        raise ReportError("a report covers at most three years")
    return Window(period, start, end)
