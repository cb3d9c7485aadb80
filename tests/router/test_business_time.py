"""Business-time arithmetic: tables of fixed, tz-aware instants; no wall clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from router.business_time import (
    BusinessCalendar,
    Shift,
    add_business_time,
    business_time_between,
    is_open,
    next_open,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NEW_YORK = ZoneInfo("America/New_York")

CAL = BusinessCalendar()
STATUTORY = BusinessCalendar(holiday_observed=False)
SAT_AM = BusinessCalendar(
    weekday_shifts={5: (Shift(start=time(7, 30), end=time(11, 30)),)}
)
MON_TO_FRI = BusinessCalendar(weekdays=frozenset(range(5)))
NO_HOLIDAYS = BusinessCalendar(holiday_country=None)
MINUTE = timedelta(minutes=1)


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# 2027-03-01 is a Monday; 2027-03-06 a Saturday; 2027-03-07 a Sunday.
ADD_CASES = [
    ("across lunch", CAL, vn(2027, 3, 1, 11, 20), 30 * MINUTE, vn(2027, 3, 1, 13, 20)),
    ("ends at closing", CAL, vn(2027, 3, 1, 11, 0), 30 * MINUTE, vn(2027, 3, 1, 11, 30)),
    ("during lunch", CAL, vn(2027, 3, 1, 12, 0), 30 * MINUTE, vn(2027, 3, 1, 13, 30)),
    ("before opening", CAL, vn(2027, 3, 2, 6, 0), 30 * MINUTE, vn(2027, 3, 2, 8, 0)),
    ("after closing", CAL, vn(2027, 3, 2, 18, 0), 30 * MINUTE, vn(2027, 3, 3, 8, 0)),
    ("on sunday", CAL, vn(2027, 3, 7, 10, 0), 30 * MINUTE, vn(2027, 3, 8, 8, 0)),
    ("saturday is a full day", CAL, vn(2027, 3, 6, 11, 20), 30 * MINUTE, vn(2027, 3, 6, 13, 20)),
    ("saturday close to monday", CAL, vn(2027, 3, 6, 16, 50), 30 * MINUTE, vn(2027, 3, 8, 7, 50)),
    # 10 min on Saturday, 20 on Monday.
    ("sat-morning desk", SAT_AM, vn(2027, 3, 6, 11, 20), 30 * MINUTE, vn(2027, 3, 8, 7, 50)),
    ("mon-fri desk", MON_TO_FRI, vn(2027, 3, 6, 11, 20), 30 * MINUTE, vn(2027, 3, 8, 8, 0)),
    ("zero while closed", CAL, vn(2027, 3, 7, 10, 0), timedelta(), vn(2027, 3, 8, 7, 30)),
    ("zero while open", CAL, vn(2027, 3, 1, 9, 0), timedelta(), vn(2027, 3, 1, 9, 0)),
    ("five days mon-fri", CAL, vn(2027, 3, 1, 7, 30), timedelta(hours=40), vn(2027, 3, 5, 17, 0)),
    ("six days", CAL, vn(2027, 3, 1, 7, 30), timedelta(hours=48), vn(2027, 3, 6, 17, 0)),
    ("week+1m", CAL, vn(2027, 3, 1, 7, 30), timedelta(hours=48, minutes=1), vn(2027, 3, 8, 7, 31)),
    # Tết 2027 per holidays 0.109: Thu 4 Feb (29 Tết, observed for Sat) to Wed 10 Feb.
    ("into tet 2027", CAL, vn(2027, 2, 3, 16, 50), 30 * MINUTE, vn(2027, 2, 11, 7, 50)),
    ("inside tet 2027", CAL, vn(2027, 2, 6, 10, 0), timedelta(hours=1), vn(2027, 2, 11, 8, 30)),
    ("tet statutory eve", STATUTORY, vn(2027, 2, 3, 16, 50), 30 * MINUTE, vn(2027, 2, 4, 7, 50)),
    ("tet 2027 statutory", STATUTORY, vn(2027, 2, 4, 16, 50), 30 * MINUTE, vn(2027, 2, 10, 7, 50)),
    # 2027: Fri 30/4, Sat 1/5, Mon 3/5 (observed for the Saturday).
    ("30/4-1/5 2027", CAL, vn(2027, 4, 29, 16, 50), 30 * MINUTE, vn(2027, 5, 4, 7, 50)),
    ("30/4 2027 statutory", STATUTORY, vn(2027, 4, 29, 16, 50), 30 * MINUTE, vn(2027, 5, 3, 7, 50)),
    # 2025: Wed 30/4, Thu 1/5, Fri 2/5 (swapped with Sat 26/4); Sat 3/5 is worked.
    ("30/4-1/5 2025", CAL, vn(2025, 4, 29, 16, 50), 30 * MINUTE, vn(2025, 5, 3, 7, 50)),
    ("no holidays", NO_HOLIDAYS, vn(2027, 2, 3, 16, 50), 30 * MINUTE, vn(2027, 2, 4, 7, 50)),
    # 01:00 UTC is 08:00 in Hanoi; 23:30 UTC Sunday is 06:30 Monday in Hanoi.
    ("utc inside hours", CAL, utc(2027, 3, 2, 1, 0), timedelta(hours=1), vn(2027, 3, 2, 9, 0)),
    ("utc sunday night", CAL, utc(2027, 2, 28, 23, 30), 30 * MINUTE, vn(2027, 3, 1, 8, 0)),
    ("utc after closing", CAL, utc(2027, 3, 2, 10, 30), 30 * MINUTE, vn(2027, 3, 3, 8, 0)),
]


@pytest.mark.parametrize(
    ("cal", "start", "duration", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in ADD_CASES],
)
def test_add_business_time(
    cal: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime
) -> None:
    due = add_business_time(start, duration, cal)
    assert due == expected
    assert due.tzinfo == VN
    assert due.utcoffset() == timedelta(hours=7)


IS_OPEN_CASES = [
    ("07:29", vn(2027, 3, 1, 7, 29), False),
    ("07:30", vn(2027, 3, 1, 7, 30), True),
    ("11:29", vn(2027, 3, 1, 11, 29), True),
    ("11:30", vn(2027, 3, 1, 11, 30), False),
    ("lunch", vn(2027, 3, 1, 12, 0), False),
    ("13:00", vn(2027, 3, 1, 13, 0), True),
    ("17:00", vn(2027, 3, 1, 17, 0), False),
    ("saturday afternoon", vn(2027, 3, 6, 15, 0), True),
    ("sunday", vn(2027, 3, 7, 9, 0), False),
    ("tet", vn(2027, 2, 8, 9, 0), False),
    ("30/4", vn(2027, 4, 30, 9, 0), False),
    ("utc 01:00 is 08:00", utc(2027, 3, 1, 1, 0), True),
    ("utc 05:00 is lunch", utc(2027, 3, 1, 5, 0), False),
]


@pytest.mark.parametrize(
    ("t", "expected"), [pytest.param(*case[1:], id=case[0]) for case in IS_OPEN_CASES]
)
def test_is_open(t: datetime, expected: bool) -> None:
    assert is_open(t, CAL) is expected


NEXT_OPEN_CASES = [
    ("open now", vn(2027, 3, 1, 9, 15), vn(2027, 3, 1, 9, 15)),
    ("before opening", vn(2027, 3, 1, 5, 0), vn(2027, 3, 1, 7, 30)),
    ("lunch", vn(2027, 3, 1, 11, 30), vn(2027, 3, 1, 13, 0)),
    ("evening", vn(2027, 3, 1, 17, 0), vn(2027, 3, 2, 7, 30)),
    ("saturday evening", vn(2027, 3, 6, 18, 0), vn(2027, 3, 8, 7, 30)),
    ("tet", vn(2027, 2, 4, 7, 30), vn(2027, 2, 11, 7, 30)),
    ("new york evening", datetime(2027, 3, 1, 19, 0, tzinfo=NEW_YORK), vn(2027, 3, 2, 7, 30)),
]


@pytest.mark.parametrize(
    ("t", "expected"), [pytest.param(*case[1:], id=case[0]) for case in NEXT_OPEN_CASES]
)
def test_next_open(t: datetime, expected: datetime) -> None:
    opened = next_open(t, CAL)
    assert opened == expected
    assert opened.tzinfo == VN


BETWEEN_CASES = [
    ("same instant", vn(2027, 3, 1, 9, 0), vn(2027, 3, 1, 9, 0), timedelta()),
    ("across lunch", vn(2027, 3, 1, 11, 0), vn(2027, 3, 1, 13, 30), timedelta(hours=1)),
    ("whole day", vn(2027, 3, 1), vn(2027, 3, 2), timedelta(hours=8)),
    ("week", vn(2027, 3, 1), vn(2027, 3, 8), timedelta(hours=48)),
    ("saturday to monday", vn(2027, 3, 6, 16, 50), vn(2027, 3, 8, 7, 50), 30 * MINUTE),
    ("over tet", vn(2027, 2, 3, 16, 0), vn(2027, 2, 11, 8, 0), timedelta(hours=1, minutes=30)),
    ("reversed", vn(2027, 3, 1, 13, 30), vn(2027, 3, 1, 11, 0), -timedelta(hours=1)),
    ("utc and vn", utc(2027, 3, 1, 1, 0), vn(2027, 3, 1, 9, 0), timedelta(hours=1)),
]


@pytest.mark.parametrize(
    ("a", "b", "expected"), [pytest.param(*case[1:], id=case[0]) for case in BETWEEN_CASES]
)
def test_business_time_between(a: datetime, b: datetime, expected: timedelta) -> None:
    assert business_time_between(a, b, CAL) == expected


def test_vn_2027_holidays_as_the_package_gives_them() -> None:
    closed = [date(2027, 2, day) for day in range(4, 11)]
    assert not any(CAL.is_working_day(day) for day in closed)
    assert CAL.is_working_day(date(2027, 2, 3))
    assert CAL.is_working_day(date(2027, 2, 11))
    # Without observed days: only eve + days 1-4 of Tết (Fri 5 - Tue 9 Feb).
    assert STATUTORY.is_working_day(date(2027, 2, 4))
    assert STATUTORY.is_working_day(date(2027, 2, 10))
    for day in (date(2027, 4, 16), date(2027, 4, 30), date(2027, 5, 1), date(2027, 5, 3)):
        assert not CAL.is_working_day(day)


def test_extra_closed_and_working_dates() -> None:
    cal = BusinessCalendar(
        extra_closed_dates=frozenset({date(2027, 3, 2)}),  # company outing (Tuesday)
        extra_working_dates=frozenset({date(2027, 3, 7), date(2027, 2, 8)}),  # Sunday, Tết
    )
    assert add_business_time(vn(2027, 3, 1, 16, 50), 30 * MINUTE, cal) == vn(2027, 3, 3, 7, 50)
    assert add_business_time(vn(2027, 3, 6, 16, 50), 30 * MINUTE, cal) == vn(2027, 3, 7, 7, 50)
    assert is_open(vn(2027, 2, 8, 9, 0), cal)


@pytest.mark.parametrize(
    "call",
    [
        lambda: add_business_time(datetime(2027, 3, 1, 9), MINUTE, CAL),
        lambda: business_time_between(datetime(2027, 3, 1, 9), vn(2027, 3, 2), CAL),
        lambda: business_time_between(vn(2027, 3, 1), datetime(2027, 3, 2), CAL),
        lambda: is_open(datetime(2027, 3, 1, 9), CAL),
        lambda: next_open(datetime(2027, 3, 1, 9), CAL),
        lambda: add_business_time(vn(2027, 3, 1, 9), -MINUTE, CAL),
    ],
    ids=["add", "between-a", "between-b", "is_open", "next_open", "negative"],
)
def test_rejects_naive_datetimes_and_negative_durations(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"tz-aware|negative"):
        call()


def test_calendar_that_never_opens_raises_instead_of_hanging() -> None:
    closed = BusinessCalendar(weekdays=frozenset())
    with pytest.raises(ValueError, match="no working time"):
        add_business_time(vn(2027, 3, 1), MINUTE, closed)
    with pytest.raises(ValueError, match="no working time"):
        next_open(vn(2027, 3, 1), closed)


@pytest.mark.parametrize(
    "settings",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"weekdays": [0, 7]},
        {"shifts": [{"start": "09:00", "end": "08:00"}]},
        {"shifts": [{"start": "08:00", "end": "12:00"}, {"start": "11:00", "end": "14:00"}]},
        {"shifts": []},
        {"holiday_country": "XX"},
        {"extra_closed_dates": ["2027-03-01"], "extra_working_dates": ["2027-03-01"]},
    ],
)
def test_invalid_calendars_are_rejected(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BusinessCalendar.model_validate(settings)


def test_calendar_loads_from_settings_like_data() -> None:
    cal = BusinessCalendar.model_validate(
        {
            "timezone": "Asia/Ho_Chi_Minh",
            "shifts": [{"start": "13:00", "end": "17:00"}, {"start": "07:30", "end": "11:30"}],
            "weekday_shifts": {"5": [{"start": "07:30", "end": "11:30"}]},
            "extra_closed_dates": ["2026-02-14", "2026-02-21"],
        }
    )
    assert cal.shifts[0].start == time(7, 30)
    assert cal.business_day == timedelta(hours=8)
    assert not cal.is_working_day(date(2026, 2, 14))
    assert add_business_time(vn(2027, 3, 6, 11, 20), 30 * MINUTE, cal) == vn(2027, 3, 8, 7, 50)


def _random_instant(rng: random.Random) -> datetime:
    zone = rng.choice([UTC, VN, NEW_YORK])
    offset = timedelta(seconds=rng.randrange(2 * 365 * 24 * 3600))
    return (datetime(2026, 1, 1, tzinfo=UTC) + offset).astimezone(zone)


def test_between_is_consistent_with_add() -> None:
    rng = random.Random(20270206)
    for _ in range(500):
        start = _random_instant(rng)
        duration = timedelta(seconds=rng.randrange(10 * 8 * 3600))
        for cal in (CAL, SAT_AM):
            due = add_business_time(start, duration, cal)
            assert business_time_between(start, due, cal) == duration
            assert business_time_between(next_open(start, cal), due, cal) == duration
            if duration:
                assert is_open(due - timedelta(microseconds=1), cal)
            other = start + timedelta(seconds=rng.randrange(-60 * 86400, 60 * 86400))
            low, high = sorted((start, other))
            elapsed = business_time_between(low, high, cal)
            assert business_time_between(high, low, cal) == -elapsed
            reached = add_business_time(low, elapsed, cal)
            assert business_time_between(reached, high, cal) == timedelta()
            if elapsed:  # a zero span is reached at the next opening, maybe after `high`
                assert reached <= high
