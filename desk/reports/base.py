"""What a report is: a title, named columns, rows; and the small statistics reports share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


class ReportError(ValueError):
    """A report cannot be built as asked (unknown name, bad period or grouping): say why."""


@dataclass(frozen=True)
class Report:
    """A report's figures: ``columns`` name the values of every row, in order."""

    name: str
    title: str
    period: str
    start: str
    end: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON document (what ``--format json`` prints)."""
        return {"report": self.name, "title": self.title, "period": self.period,
                "from": self.start, "to": self.end, "columns": list(self.columns),
                "rows": self.rows, "notes": list(self.notes)}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def minutes(value: timedelta) -> float:
    """A duration in minutes."""
    return value.total_seconds() / 60.0


def share(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent, one decimal; None when ``whole`` is 0."""
    return round(100.0 * part / whole, 1) if whole else None


def rounded(value: float | None, digits: int = 1) -> float | None:
    """``value`` rounded for a report cell (None stays None)."""
    return None if value is None else round(value, digits)
