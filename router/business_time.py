"""Business time: when the customer-care desk is open, and clock arithmetic inside those hours.

Pure functions, no I/O and no wall clock: every instant is passed in. Instants must be
tz-aware (any zone); results are in the calendar's zone. Working intervals are half-open,
``[07:30, 11:30)``: the desk is open at 07:30 and closed at 11:30.

Public holidays come from the ``holidays`` package
(https://github.com/vacanza/holidays, ``holidays/countries/vietnam.py``). For Vietnam it
gives the statutory days of Labor Code 2019 Art. 112 (New Year, Tết eve + days 1-4, Hùng
Kings, 30/4, 1/5, 2/9 + one adjacent day, and 24/11 from 2026) and, when ``observed`` is on,
compensatory days and the government's announced day swaps that it knows of. Its observed
rules assume a Saturday-Sunday weekend (the public sector), and the yearly announcements
come after each release, so ``extra_closed_dates`` / ``extra_working_dates`` take the
company's own announcements.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

# A calendar that stays closed this long is misconfigured; searching further would only hang.
_MAX_CLOSED_RUN_DAYS = 400

_Interval = tuple[datetime, datetime]


class Shift(BaseModel):
    """One working period within a day, in the calendar's wall-clock time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    @model_validator(mode="after")
    def _check_order(self) -> Shift:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("shift times are wall-clock times: give them without a zone")
        if self.end <= self.start:
            raise ValueError(f"shift must end after it starts: {self.start}-{self.end}")
        return self

    @property
    def length(self) -> timedelta:
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)


def _default_shifts() -> tuple[Shift, ...]:
    return (Shift(start=time(7, 30), end=time(11, 30)), Shift(start=time(13), end=time(17)))


def _sorted_shifts(shifts: tuple[Shift, ...]) -> tuple[Shift, ...]:
    ordered = tuple(sorted(shifts, key=lambda s: s.start))
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise ValueError(f"shifts overlap: {before.start}-{before.end}, {after.start}")
    return ordered


class BusinessCalendar(BaseModel):
    """Working hours of one desk: weekdays, shifts, time zone and closed/extra working dates.

    Defaults: Monday-Saturday (``weekdays`` uses ``date.weekday()``, Monday = 0),
    07:30-11:30 and 13:00-17:00, Asia/Ho_Chi_Minh, closed on Vietnamese public holidays.
    ``weekday_shifts`` overrides the shifts of some weekdays (e.g. ``{5: [...]}`` for a
    Saturday-morning desk). A date in ``extra_working_dates`` is worked with that weekday's
    shifts even if it is a holiday or weekend; a date in ``extra_closed_dates`` is closed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    # the UTC working intervals of each local date asked about (the calendar never changes)
    _days: dict[date, list[tuple[datetime, datetime]]] = PrivateAttr(default_factory=dict)

    timezone: str = "Asia/Ho_Chi_Minh"
    weekdays: frozenset[int] = frozenset(range(6))
    shifts: tuple[Shift, ...] = Field(default_factory=_default_shifts, min_length=1)
    weekday_shifts: dict[int, tuple[Shift, ...]] = Field(default_factory=dict)
    holiday_country: str | None = "VN"
    holiday_observed: bool = True
    extra_closed_dates: frozenset[date] = frozenset()
    extra_working_dates: frozenset[date] = frozenset()

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("weekdays")
    @classmethod
    def _check_weekdays(cls, value: frozenset[int]) -> frozenset[int]:
        if not value <= set(range(7)):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return value

    @field_validator("shifts")
    @classmethod
    def _check_shifts(cls, value: tuple[Shift, ...]) -> tuple[Shift, ...]:
        return _sorted_shifts(value)

    @field_validator("weekday_shifts")
    @classmethod
    def _check_weekday_shifts(
        cls, value: dict[int, tuple[Shift, ...]]
    ) -> dict[int, tuple[Shift, ...]]:
        if not set(value) <= set(range(7)):
            raise ValueError("weekday_shifts keys are 0 (Monday) to 6 (Sunday)")
        return {day: _sorted_shifts(shifts) for day, shifts in value.items()}

    @field_validator("holiday_country")
    @classmethod
    def _check_country(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays.list_supported_countries():
            raise ValueError(f"the holidays package has no country {value!r}")
        return value

    @model_validator(mode="after")
    def _check_dates(self) -> BusinessCalendar:
        both = self.extra_closed_dates & self.extra_working_dates
        if both:
            raise ValueError(f"dates both closed and working: {sorted(both)}")
        return self

    def __eq__(self, other: object) -> bool:
        """Equal when the fields are (the private day cache does not count)."""
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self.__dict__ == other.__dict__

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's zone (``ZoneInfo`` caches instances, so this is cheap)."""
        return ZoneInfo(self.timezone)

    @property
    def business_day(self) -> timedelta:
        """Working time of a normal day (the default ``shifts``): what "1 business day" means."""
        return sum((shift.length for shift in self.shifts), timedelta())

    def is_working_day(self, day: date) -> bool:
        """Whether the desk opens at all on this local date."""
        if day in self.extra_working_dates:
            return True
        if day in self.extra_closed_dates:
            return False
        if self.holiday_country is not None:
            closed, worked = _public_calendar(self.holiday_country, day.year, self.holiday_observed)
            if day in closed:
                return False
            if day in worked:
                return True
        return day.weekday() in self.weekdays

    def shifts_on(self, day: date) -> tuple[Shift, ...]:
        """The shifts worked on this local date; empty when the desk is closed."""
        if not self.is_working_day(day):
            return ()
        return self.weekday_shifts.get(day.weekday(), self.shifts)


@lru_cache(maxsize=512)
def _public_calendar(
    country: str, year: int, observed: bool
) -> tuple[frozenset[date], frozenset[date]]:
    """(public holidays, weekend days turned into working days by a swap) for one year."""
    table = holidays.country_holidays(country, years=year, observed=observed)
    closed = frozenset(day for day in table if day.year == year)
    worked = frozenset(day for day in table.weekend_workdays if day.year == year)
    return closed, worked


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a tz-aware datetime, got naive {value!r}")


_CACHED_DAYS = 4096


def _day_cache(cal: BusinessCalendar) -> dict[date, list[_Interval]]:
    # pydantic keeps private attributes in ``__pydantic_private__``; reading the dict there
    # skips ``BaseModel.__getattr__``, which cost more than the cached lookup it guards.
    private = cal.__pydantic_private__
    days: dict[date, list[_Interval]] = private["_days"] if private else cal._days
    return days


def _intervals_on(cal: BusinessCalendar, day: date) -> list[_Interval]:
    days = _day_cache(cal)
    cached = days.get(day)
    if cached is not None:
        return cached
    tz = cal.tz
    intervals = [
        (
            datetime.combine(day, shift.start, tz).astimezone(UTC),
            datetime.combine(day, shift.end, tz).astimezone(UTC),
        )
        for shift in cal.shifts_on(day)
    ]
    if len(days) >= _CACHED_DAYS:
        days.clear()
    days[day] = intervals
    return intervals


def _open_days(cal: BusinessCalendar, first: date) -> Iterator[list[_Interval]]:
    """Working intervals (UTC) of each working day from ``first`` on; closed days skipped."""
    day, closed_run = first, 0
    while True:
        intervals = _intervals_on(cal, day)
        if intervals:
            closed_run = 0
            yield intervals
        else:
            closed_run += 1
            if closed_run > _MAX_CLOSED_RUN_DAYS:
                raise ValueError(
                    f"calendar has no working time in {_MAX_CLOSED_RUN_DAYS} days after {first}"
                )
        day += timedelta(days=1)


def is_open(t: datetime, cal: BusinessCalendar) -> bool:
    """Whether the desk is working at instant ``t`` (tz-aware, any zone)."""
    _require_aware(t, "t")
    local_day = t.astimezone(cal.tz).date()
    return any(start <= t < end for start, end in _intervals_on(cal, local_day))


def next_open(t: datetime, cal: BusinessCalendar) -> datetime:
    """The earliest instant at or after ``t`` when the desk is working (``t`` itself if open).

    Returned in the calendar's zone. Raises ValueError for a naive ``t`` or a calendar that
    never opens.
    """
    _require_aware(t, "t")
    for intervals in _open_days(cal, t.astimezone(cal.tz).date()):
        for start, end in intervals:
            if end > t:
                return max(start, t).astimezone(cal.tz)
    raise AssertionError("unreachable: _open_days is endless or raises")


def add_business_time(start: datetime, duration: timedelta, cal: BusinessCalendar) -> datetime:
    """The instant at which ``duration`` of working time has elapsed since ``start``.

    The clock only runs inside working intervals; if ``start`` is outside them it starts at
    the next opening. The result is in the calendar's zone and is the earliest such instant,
    so a budget that runs out exactly at a closing time gives that closing time (11:30, not
    13:00). A zero duration gives ``next_open(start)``. Raises ValueError for a naive
    ``start``, a negative ``duration``, or a calendar that never opens. Cost grows with the
    number of calendar days spanned, never with the minutes.
    """
    _require_aware(start, "start")
    if duration < timedelta():
        raise ValueError(f"duration must not be negative, got {duration}")
    # Arithmetic in UTC: aware datetimes sharing a DST zone subtract in wall-clock time.
    utc_start, remaining = start.astimezone(UTC), duration
    for intervals in _open_days(cal, start.astimezone(cal.tz).date()):
        for interval_start, end in intervals:
            if end <= utc_start:
                continue
            begin = max(interval_start, utc_start)
            available = end - begin
            if remaining <= available:
                return (begin + remaining).astimezone(cal.tz)
            remaining -= available
    raise AssertionError("unreachable: _open_days is endless or raises")


def business_time_between(a: datetime, b: datetime, cal: BusinessCalendar) -> timedelta:
    """Working time inside ``[a, b)``; negative (the same amount) when ``b`` is before ``a``.

    Consistent with ``add_business_time``: for ``d >= 0``,
    ``business_time_between(a, add_business_time(a, d, cal), cal) == d``.
    Raises ValueError for naive datetimes.
    """
    _require_aware(a, "a")
    _require_aware(b, "b")
    if b < a:
        return -business_time_between(b, a, cal)
    total, utc_a, utc_b = timedelta(), a.astimezone(UTC), b.astimezone(UTC)
    day, last = a.astimezone(cal.tz).date(), b.astimezone(cal.tz).date()
    while day <= last:
        for start, end in _intervals_on(cal, day):
            low, high = max(start, utc_a), min(end, utc_b)
            if high > low:
                total += high - low
        day += timedelta(days=1)
    return total
