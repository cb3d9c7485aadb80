"""SLA deadlines and states: tables of fixed, tz-aware instants; no wall clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from router.business_time import BusinessCalendar
from router.sla import (
    PRIORITIES,
    TIERS,
    BusinessDuration,
    Pause,
    Priority,
    SlaPolicy,
    SlaState,
    Tier,
    compute_due,
    due_after,
    sla_state,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = BusinessCalendar()
POLICY = SlaPolicy()
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN)


MONDAY_9 = vn(2027, 3, 1, 9, 0)  # Monday 1 March 2027, 09:00 in Hanoi

DUE_CASES: list[tuple[str, datetime, Priority, Tier | None, datetime, datetime]] = [
    ("urgent", MONDAY_9, "urgent", "standard", vn(2027, 3, 1, 9, 30), vn(2027, 3, 1, 14, 30)),
    ("high", MONDAY_9, "high", "standard", vn(2027, 3, 1, 11, 0), vn(2027, 3, 2, 9, 0)),
    ("normal", MONDAY_9, "normal", "standard", vn(2027, 3, 1, 14, 30), vn(2027, 3, 3, 9, 0)),
    ("low", MONDAY_9, "low", "standard", vn(2027, 3, 2, 9, 0), vn(2027, 3, 6, 9, 0)),
    ("small tier as base", MONDAY_9, "high", "small", vn(2027, 3, 1, 11, 0), vn(2027, 3, 2, 9, 0)),
    ("no tier as base", MONDAY_9, "urgent", None, vn(2027, 3, 1, 9, 30), vn(2027, 3, 1, 14, 30)),
    ("key urgent halves", MONDAY_9, "urgent", "key", vn(2027, 3, 1, 9, 15), vn(2027, 3, 1, 11, 0)),
    ("key low halves", MONDAY_9, "low", "key", vn(2027, 3, 1, 14, 30), vn(2027, 3, 3, 14, 30)),
    (
        "saturday 11:20",
        vn(2027, 3, 6, 11, 20),
        "urgent",
        "standard",
        vn(2027, 3, 6, 13, 20),
        vn(2027, 3, 6, 16, 50),
    ),
    (
        "created during tet",
        vn(2027, 2, 6, 10, 0),
        "urgent",
        "standard",
        vn(2027, 2, 11, 8, 0),
        vn(2027, 2, 11, 11, 30),
    ),
    (
        "created in utc",
        datetime(2027, 3, 1, 2, 0, tzinfo=UTC),  # 09:00 in Hanoi
        "high",
        "standard",
        vn(2027, 3, 1, 11, 0),
        vn(2027, 3, 2, 9, 0),
    ),
]


@pytest.mark.parametrize(
    ("created_at", "priority", "tier", "first_response", "resolution"),
    [pytest.param(*case[1:], id=case[0]) for case in DUE_CASES],
)
def test_compute_due(
    created_at: datetime,
    priority: Priority,
    tier: Tier | None,
    first_response: datetime,
    resolution: datetime,
) -> None:
    due = compute_due(created_at, priority, tier, POLICY, CAL)
    assert (due.first_response_due, due.resolution_due) == (first_response, resolution)
    assert due.resolution_due.tzinfo == VN


def test_default_budgets() -> None:
    hours = {p: POLICY.budgets(p, "standard", CAL) for p in PRIORITIES}
    assert hours == {
        "urgent": (30 * MINUTE, 4 * HOUR),
        "high": (2 * HOUR, 8 * HOUR),
        "normal": (4 * HOUR, 16 * HOUR),
        "low": (8 * HOUR, 40 * HOUR),
    }


def test_policy_from_settings_with_tier_overrides() -> None:
    policy = SlaPolicy.model_validate(
        {
            "targets": {
                "urgent": {"first_response": "15m", "resolution": "2h"},
                "high": {"first_response": {"hours": 1}, "resolution": "1d4h"},
                "normal": {"first_response": "4h", "resolution": {"days": 2}},
                "low": {"first_response": "1d", "resolution": "5d"},
            },
            "tiers": {
                "key": {
                    "factor": 0.75,
                    "targets": {"urgent": {"first_response": "5m", "resolution": "1h"}},
                },
                "small": {"factor": 1.5},
            },
            "warning_fraction": 0.9,
        }
    )
    assert policy.budgets("high", "standard", CAL) == (HOUR, 12 * HOUR)
    assert policy.budgets("urgent", "key", CAL) == (5 * MINUTE, HOUR)
    assert policy.budgets("high", "key", CAL) == (45 * MINUTE, 9 * HOUR)
    assert policy.budgets("normal", "small", CAL) == (6 * HOUR, 24 * HOUR)
    # "1 business day" is the calendar's normal day, not 24 hours.
    short = BusinessCalendar.model_validate({"shifts": [{"start": "08:00", "end": "12:00"}]})
    assert policy.budgets("low", "standard", short).resolution == 20 * HOUR


@pytest.mark.parametrize(
    "settings",
    [
        {"targets": {"urgent": {"first_response": "30m", "resolution": "4h"}}},
        {"tiers": {"key": {"factor": 0}}},
        {"tiers": {"vip": {"factor": 0.5}}},
        {"warning_fraction": 1.0},
    ],
    ids=["missing-priorities", "zero-factor", "unknown-tier", "warning-at-100%"],
)
def test_invalid_policies_are_rejected(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SlaPolicy.model_validate(settings)


@pytest.mark.parametrize("text", ["", "30", "4 hours", "-1h", "1h30"])
def test_bad_duration_text_is_rejected(text: str) -> None:
    with pytest.raises(ValidationError):
        BusinessDuration.model_validate(text)


def test_duration_text_forms() -> None:
    assert BusinessDuration.model_validate("1d 4h 30m").resolve(CAL) == timedelta(hours=12.5)
    assert BusinessDuration.model_validate("90min").resolve(CAL) == 90 * MINUTE
    assert BusinessDuration.model_validate(timedelta(hours=2)).resolve(CAL) == 2 * HOUR


# High priority, created Monday 09:00: resolution due Tuesday 09:00 without pauses.
PAUSE_CASES = [
    ("no pause", [], vn(2027, 3, 2, 9, 0)),
    # 10:00-11:30 and 13:00-14:00 are working: 2.5 h pushed.
    ("pause across lunch", [(vn(2027, 3, 1, 10), vn(2027, 3, 1, 14))], vn(2027, 3, 2, 11, 30)),
    ("pause overnight", [(vn(2027, 3, 1, 17, 30), vn(2027, 3, 2, 7))], vn(2027, 3, 2, 9, 0)),
    ("pause after due", [(vn(2027, 3, 2, 10), vn(2027, 3, 3, 10))], vn(2027, 3, 2, 9, 0)),
    ("pause before created", [(vn(2027, 3, 1, 8), vn(2027, 3, 1, 10))], vn(2027, 3, 2, 10, 0)),
    (
        "overlapping, unordered",
        [(vn(2027, 3, 1, 11), vn(2027, 3, 1, 14)), (vn(2027, 3, 1, 10), vn(2027, 3, 1, 12))],
        vn(2027, 3, 2, 11, 30),
    ),
    (
        "two pauses",
        [(vn(2027, 3, 1, 10), vn(2027, 3, 1, 11)), (vn(2027, 3, 1, 15), vn(2027, 3, 1, 16))],
        vn(2027, 3, 2, 11, 0),
    ),
    ("pause up to the due", [(vn(2027, 3, 1, 16), vn(2027, 3, 2, 9))], vn(2027, 3, 2, 11, 30)),
]


@pytest.mark.parametrize(
    ("pauses", "expected"), [pytest.param(*case[1:], id=case[0]) for case in PAUSE_CASES]
)
def test_pauses_push_the_resolution_due(
    pauses: list[tuple[datetime, datetime]], expected: datetime
) -> None:
    due = compute_due(MONDAY_9, "high", "standard", POLICY, CAL, pauses)
    assert due.resolution_due == expected


def test_resume_after_long_wait_on_customer() -> None:
    # Waiting on the customer from Mon 10:00; they answer on Thursday 08:00.
    paused = [Pause(vn(2027, 3, 1, 10), vn(2027, 3, 4, 8))]
    assert due_after(MONDAY_9, 8 * HOUR, CAL, paused) == vn(2027, 3, 4, 16, 30)
    # Still waiting at Tue 09:00: pass the pause as ending now; the clock shows 1 h used.
    now = vn(2027, 3, 2, 9)
    ongoing = [Pause(vn(2027, 3, 1, 10), now)]
    due = due_after(MONDAY_9, 8 * HOUR, CAL, ongoing)
    assert due == vn(2027, 3, 3, 8, 0)
    status = sla_state(now, MONDAY_9, due, CAL, ongoing)
    assert (status.state, status.used, status.budget) == ("ok", HOUR, 8 * HOUR)


def test_pause_that_ends_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValueError, match="ends before"):
        due_after(MONDAY_9, HOUR, CAL, [(vn(2027, 3, 1, 12), vn(2027, 3, 1, 11))])
    with pytest.raises(ValueError, match="tz-aware"):
        due_after(MONDAY_9, HOUR, CAL, [(datetime(2027, 3, 1, 10), vn(2027, 3, 1, 11))])
    with pytest.raises(ValueError, match="tz-aware"):
        compute_due(datetime(2027, 3, 1, 9), "urgent", "key", POLICY, CAL)


# Urgent first response, created Mon 09:00 (due 09:30) or Mon 11:20 (due 13:20, over lunch).
STATE_CASES: list[tuple[str, datetime, datetime, datetime, SlaState, float]] = [
    ("just created", MONDAY_9, vn(2027, 3, 1, 9, 30), MONDAY_9, "ok", 0.0),
    ("third used", MONDAY_9, vn(2027, 3, 1, 9, 30), vn(2027, 3, 1, 9, 10), "ok", 1 / 3),
    ("under 80%", MONDAY_9, vn(2027, 3, 1, 9, 30), vn(2027, 3, 1, 9, 23), "ok", 23 / 30),
    ("80% warns", MONDAY_9, vn(2027, 3, 1, 9, 30), vn(2027, 3, 1, 9, 24), "warning", 0.8),
    ("at due", MONDAY_9, vn(2027, 3, 1, 9, 30), vn(2027, 3, 1, 9, 30), "breached", 1.0),
    ("overrun", MONDAY_9, vn(2027, 3, 1, 9, 30), vn(2027, 3, 1, 10, 0), "breached", 2.0),
    ("lunch stops clock", vn(2027, 3, 1, 11, 20), vn(2027, 3, 1, 13, 20), vn(2027, 3, 1, 12, 30),
     "ok", 1 / 3),
    ("warning after lunch", vn(2027, 3, 1, 11, 20), vn(2027, 3, 1, 13, 20), vn(2027, 3, 1, 13, 15),
     "warning", 25 / 30),
    ("clock skew", MONDAY_9, vn(2027, 3, 1, 9, 30), vn(2027, 3, 1, 8, 59), "ok", 0.0),
    ("zero budget", MONDAY_9, MONDAY_9, MONDAY_9, "breached", 1.0),
]


@pytest.mark.parametrize(
    ("created_at", "due", "now", "state", "fraction"),
    [pytest.param(*case[1:], id=case[0]) for case in STATE_CASES],
)
def test_sla_state(
    created_at: datetime, due: datetime, now: datetime, state: SlaState, fraction: float
) -> None:
    status = sla_state(now, created_at, due, CAL)
    assert status.state == state
    assert status.fraction == pytest.approx(fraction)


def test_sla_state_with_pauses() -> None:
    pauses = [(vn(2027, 3, 1, 10), vn(2027, 3, 1, 14))]
    due = compute_due(MONDAY_9, "high", "standard", POLICY, CAL, pauses).resolution_due
    assert due == vn(2027, 3, 2, 11, 30)
    table = [
        (vn(2027, 3, 1, 12), "ok", HOUR),  # paused since 10:00
        (vn(2027, 3, 2, 9), "ok", 5.5 * HOUR),
        (vn(2027, 3, 2, 10, 30), "warning", 7 * HOUR),
        (vn(2027, 3, 2, 11, 30), "breached", 8 * HOUR),
    ]
    for now, state, used in table:
        status = sla_state(now, MONDAY_9, due, CAL, pauses)
        assert (status.state, status.used, status.budget) == (state, used, 8 * HOUR)
        assert status.remaining == 8 * HOUR - used


def test_warning_fraction_is_configurable() -> None:
    now, due = vn(2027, 3, 1, 9, 24), vn(2027, 3, 1, 9, 30)
    assert sla_state(now, MONDAY_9, due, CAL, warning_fraction=0.9).state == "ok"
    assert sla_state(now, MONDAY_9, due, CAL, warning_fraction=0.5).state == "warning"


def test_due_is_where_the_budget_runs_out() -> None:
    rng = random.Random(1204)
    tick = timedelta(microseconds=1)
    for _ in range(300):
        created = vn(2027, 1, 1) + timedelta(seconds=rng.randrange(365 * 86400))
        pauses: list[tuple[datetime, datetime]] = []
        for _ in range(rng.randrange(4)):
            start = created + timedelta(seconds=rng.randrange(-86400, 10 * 86400))
            pauses.append((start, start + timedelta(seconds=rng.randrange(3 * 86400))))
        priority, tier = rng.choice(PRIORITIES), rng.choice(TIERS)
        due = compute_due(created, priority, tier, POLICY, CAL, pauses)
        budget = POLICY.budgets(priority, tier, CAL).resolution
        at_due = sla_state(due.resolution_due, created, due.resolution_due, CAL, pauses)
        assert (at_due.state, at_due.budget, at_due.used) == ("breached", budget, budget)
        just_before = due.resolution_due - tick
        assert sla_state(just_before, created, due.resolution_due, CAL, pauses).state == "warning"
        assert due.first_response_due <= due.resolution_due
