"""Officers' weekly shifts: when an officer may be given new tickets.

A shift spec names days and hours, Asia/Ho_Chi_Minh wall-clock time, in parts separated by
``;``; each part is ``DAYS HOURS[,HOURS…]`` with the days and hours of ``router.calendars``::

    mon-sat 07:30-11:30,13:00-17:00
    mon-fri 08:00-17:00; sat 08:00-12:00
    mon,wed,fri 13:00-21:00

A shift is the officer's weekly roster and nothing more: it does not follow public holidays
(whoever works on a holiday is on shift; whoever does not sets their status ``off``) and a
period never crosses midnight. An officer without a shift is always on shift.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from itertools import groupby

from router.business_time import BusinessCalendar, Shift, business_time_between, is_open
from router.calendars import DAY_NAMES, parse_days, parse_hours

SHIFT_TIMEZONE = "Asia/Ho_Chi_Minh"
NO_SHIFT = "none"  # the spec that clears a shift (always on shift)
SPEC_MAX_LENGTH = 200  # the width of ``staff.shift``


class ShiftError(ValueError):
    """A shift spec that cannot be read; the message says which part and why."""


@lru_cache(maxsize=1024)
def parse_shift(spec: str) -> BusinessCalendar:
    """The weekly calendar a shift spec describes (no holidays). Raises ``ShiftError``."""
    if not spec.strip():
        raise ShiftError("shift: empty; give days and hours like 'mon-sat 07:30-11:30' "
                         f"(or '{NO_SHIFT}' for always on shift)")
    per_day: dict[int, tuple[Shift, ...]] = {}
    for part in (p.strip() for p in spec.split(";")):
        days_text, _, hours_text = part.partition(" ")
        if not part or not hours_text.strip():
            raise ShiftError(f"shift: {part!r} needs days and hours, like "
                             "'mon-fri 08:00-17:00'")
        try:
            days = parse_days(days_text)
            hours = tuple(parse_hours(h) for h in hours_text.split(","))
        except ValueError as exc:
            raise ShiftError(f"shift: {exc}") from exc
        for day in sorted(days):
            if day in per_day:
                raise ShiftError(f"shift: {DAY_NAMES[day]} is given twice; "
                                 "list each day's hours in one part")
            per_day[day] = hours
    try:
        return BusinessCalendar(
            timezone=SHIFT_TIMEZONE, weekdays=frozenset(per_day),
            shifts=next(iter(per_day.values())), weekday_shifts=per_day,
            holiday_country=None)
    except ValueError as exc:  # overlapping hours within a day
        raise ShiftError(f"shift: {_reason(exc)}") from exc


def _reason(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):  # a pydantic ValidationError: its first message, without the noise
        first = errors()[0]
        return str(first.get("msg", exc)).removeprefix("Value error, ")
    return str(exc)


def normalize_shift(spec: str | None) -> str | None:
    """The canonical text of ``spec`` (``None`` for no shift or ``none``); raises ``ShiftError``.

    Days with the same hours are grouped into ranges, in week order:
    ``"sat 8:00-12:00; Mon-Fri 08:00-17:00"`` → ``"mon-fri 08:00-17:00; sat 08:00-12:00"``.
    """
    if spec is None or spec.strip().lower() == NO_SHIFT:
        return None
    calendar = parse_shift(spec)
    by_hours: dict[tuple[Shift, ...], list[int]] = {}
    for day in sorted(calendar.weekday_shifts):
        by_hours.setdefault(calendar.weekday_shifts[day], []).append(day)
    parts = [f"{_days_text(days)} {','.join(_period(s) for s in hours)}"
             for hours, days in by_hours.items()]
    text = "; ".join(parts)
    if len(text) > SPEC_MAX_LENGTH:
        raise ShiftError(f"shift: longer than {SPEC_MAX_LENGTH} characters")
    return text


def _days_text(days: list[int]) -> str:
    runs = []
    for _, run in groupby(enumerate(days), key=lambda pair: pair[1] - pair[0]):
        block = [day for _, day in run]
        first, last = DAY_NAMES[block[0]], DAY_NAMES[block[-1]]
        runs.append(first if len(block) == 1 else f"{first}-{last}")
    return ",".join(runs)


def _period(shift: Shift) -> str:
    return f"{shift.start:%H:%M}-{shift.end:%H:%M}"


def on_shift(spec: str | None, at: datetime) -> bool:
    """Whether an officer with shift ``spec`` is on shift at ``at`` (tz-aware); ``None``: always."""
    return spec is None or is_open(at, parse_shift(spec))


def off_shift_since(spec: str | None, now: datetime, grace: timedelta) -> bool:
    """Whether the officer has been off shift for all of the last ``grace`` up to ``now``.

    Never true without a shift. A lunch break longer than ``grace`` counts.
    """
    if spec is None:
        return False
    calendar = parse_shift(spec)
    return not is_open(now, calendar) and \
        business_time_between(now - grace, now, calendar) == timedelta()
