"""Shift specs: parsing, canonical form, clear errors, and on/off shift at given instants."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from router.shifts import ShiftError, normalize_shift, off_shift_since, on_shift

VN = ZoneInfo("Asia/Ho_Chi_Minh")
DESK = "mon-sat 07:30-11:30,13:00-17:00"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local time on a day of the week of 30 Nov 2026 (0 = Monday 30 Nov … 6 = Sunday)."""
    return datetime(2026, 11, 30, hour, minute, tzinfo=VN) + timedelta(days=day)


@pytest.mark.parametrize(("spec", "canonical"), [
    (DESK, DESK),
    ("mon-fri 08:00-17:00; sat 08:00-12:00", "mon-fri 08:00-17:00; sat 08:00-12:00"),
    ("Sat 8:00-12:00 ;  MON-FRI 08:00-17:00", "mon-fri 08:00-17:00; sat 08:00-12:00"),
    ("mon-sat 13:00-17:00, 07:30-11:30", DESK),
    ("mon,tue,wed,fri 09:00-18:00; thu 09:00-18:00", "mon-fri 09:00-18:00"),
    ("mon,wed,fri 13:00-21:00; sun 08:00-12:00", "mon,wed,fri 13:00-21:00; sun 08:00-12:00"),
    ("none", None),
    (" NONE ", None),
])
def test_a_spec_reads_into_its_canonical_form(spec: str, canonical: str | None) -> None:
    assert normalize_shift(spec) == canonical
    if canonical is not None:
        assert normalize_shift(canonical) == canonical  # stable


@pytest.mark.parametrize(("spec", "says"), [
    ("", "empty"),
    ("mon-sat", "needs days and hours"),
    ("07:30-11:30", "needs days and hours"),
    ("monday 08:00-17:00", "'monday' is not a day"),
    ("sat-mon 08:00-12:00", "runs backwards"),
    ("mon-fri 8-17", "is not a period like 07:30-11:30"),
    ("mon-fri 08:00-25:00", "08:00-25:00"),
    ("mon-fri 22:00-06:00", "cannot cross midnight"),
    ("mon-fri 08:00-08:00", "must end after it starts"),
    ("mon-fri 08:00-12:00,11:00-17:00", "overlap"),
    ("mon-fri 08:00-17:00; fri 18:00-20:00", "fri is given twice"),
    ("mon-fri 08:00-17:00;", "needs days and hours"),
])
def test_a_bad_spec_is_refused_with_a_reason(spec: str, says: str) -> None:
    with pytest.raises(ShiftError, match=r"^shift: ") as caught:
        normalize_shift(spec)
    assert says in str(caught.value)


def test_no_shift_is_always_on_shift() -> None:
    for moment in (at(6, 3), at(0, 12), at(2, 23, 59)):
        assert on_shift(None, moment)
        assert not off_shift_since(None, moment, timedelta(0))


def test_on_shift_follows_days_and_hours_in_vietnam_time() -> None:
    spec = "mon-fri 08:00-17:00; sat 08:00-12:00"
    assert on_shift(spec, at(0, 8))  # the start is inside
    assert not on_shift(spec, at(0, 17))  # the end is not
    assert not on_shift(spec, at(0, 7, 59))
    assert on_shift(spec, at(5, 11, 59)) and not on_shift(spec, at(5, 12))
    assert not on_shift(spec, at(6, 10))  # Sunday
    # 01:30 UTC is 08:30 in Hà Nội
    assert on_shift(spec, at(0, 8, 30).astimezone(ZoneInfo("UTC")))


def test_off_shift_since_needs_the_whole_grace_off_shift() -> None:
    grace = timedelta(minutes=15)
    assert not off_shift_since(DESK, at(0, 11), grace)  # on shift
    assert not off_shift_since(DESK, at(0, 11, 40), grace)  # off 10 minutes
    assert off_shift_since(DESK, at(0, 11, 45), grace)  # off 15 minutes: the lunch break counts
    assert not off_shift_since(DESK, at(0, 13), grace)  # back on
    assert off_shift_since(DESK, at(6, 10), grace)  # Sunday
    assert off_shift_since(DESK, at(0, 11, 30), timedelta(0))
