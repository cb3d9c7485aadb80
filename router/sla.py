"""SLA policy and deadlines, counted in business time.

A ticket has two clocks, first response and resolution, each with a budget of business time
that depends on its priority and on the customer's tier. The clocks run only inside the
calendar's working hours and stop while the ticket is paused (waiting on the customer).
Pure functions: no I/O, no wall clock; ``now`` is always passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.business_time import BusinessCalendar, add_business_time, business_time_between

Priority = Literal["urgent", "high", "normal", "low"]
Tier = Literal["key", "standard", "small"]
SlaState = Literal["ok", "warning", "breached"]
PRIORITIES: tuple[Priority, ...] = ("urgent", "high", "normal", "low")
TIERS: tuple[Tier, ...] = ("key", "standard", "small")

_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION_TEXT = re.compile(rf"(?:{_NUMBER}d)?(?:{_NUMBER}h)?(?:{_NUMBER}m(?:in)?)?", re.I)


class BusinessDuration(BaseModel):
    """An amount of business time. ``days`` are business days: the calendar fixes their length.

    Accepts ``{"days": 1}``, ``{"hours": 4}``, a ``timedelta``, or text such as ``"30m"``,
    ``"4h"``, ``"1d"``, ``"1d4h"`` (d = business day, h = hour, m = minute).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: float = Field(default=0, ge=0)
    hours: float = Field(default=0, ge=0)
    minutes: float = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_text_or_timedelta(cls, value: object) -> object:
        if isinstance(value, timedelta):
            return {"minutes": value.total_seconds() / 60}
        if isinstance(value, str):
            match = _DURATION_TEXT.fullmatch(value.replace(" ", ""))
            if match is None or not any(match.groups()):
                raise ValueError(f"not a duration like '30m', '4h', '1d': {value!r}")
            days, hours, minutes = (float(group or 0) for group in match.groups())
            return {"days": days, "hours": hours, "minutes": minutes}
        return value

    def resolve(self, cal: BusinessCalendar) -> timedelta:
        """The amount as business time on ``cal``."""
        return cal.business_day * self.days + timedelta(hours=self.hours, minutes=self.minutes)


class SlaTarget(BaseModel):
    """Budgets of the two clocks for one priority."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_response: BusinessDuration
    resolution: BusinessDuration


class TierRule(BaseModel):
    """How one customer tier changes the base targets.

    ``factor`` scales every base budget (0.5 = half the time). A priority listed in
    ``targets`` takes that target as is, without the factor.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    factor: float = Field(default=1.0, gt=0)
    targets: dict[Priority, SlaTarget] = Field(default_factory=dict)


def _target(first_response: str, resolution: str) -> SlaTarget:
    return SlaTarget.model_validate({"first_response": first_response, "resolution": resolution})


def _default_targets() -> dict[Priority, SlaTarget]:
    return {
        "urgent": _target("30m", "4h"),
        "high": _target("2h", "1d"),
        "normal": _target("4h", "2d"),
        "low": _target("1d", "5d"),
    }


def _default_tiers() -> dict[Tier, TierRule]:
    return {"key": TierRule(factor=0.5)}


class SlaBudgets(NamedTuple):
    """Business time allowed to each clock."""

    first_response: timedelta
    resolution: timedelta


class SlaPolicy(BaseModel):
    """SLA targets per priority, tier adjustments, and when a clock turns to "warning".

    Defaults (business time): urgent 30 min / 4 h, high 2 h / 1 day, normal 4 h / 2 days,
    low 1 day / 5 days (first response / resolution); key accounts get half of each;
    warning once 80 % of a budget is used.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: dict[Priority, SlaTarget] = Field(default_factory=_default_targets)
    tiers: dict[Tier, TierRule] = Field(default_factory=_default_tiers)
    warning_fraction: float = Field(default=0.8, gt=0, lt=1)

    @model_validator(mode="after")
    def _check_complete(self) -> SlaPolicy:
        missing = [p for p in PRIORITIES if p not in self.targets]
        if missing:
            raise ValueError(f"targets missing for priorities: {missing}")
        return self

    def budgets(self, priority: Priority, tier: Tier | None, cal: BusinessCalendar) -> SlaBudgets:
        """Business-time budgets for a ticket of ``priority`` from a customer of ``tier``.

        ``tier=None`` (unknown customer) uses the base targets. Budgets are whole seconds.
        """
        rule = self.tiers.get(tier) if tier is not None else None
        target, factor = self.targets[priority], 1.0
        if rule is not None:
            if priority in rule.targets:
                target = rule.targets[priority]
            else:
                factor = rule.factor
        return SlaBudgets(
            first_response=_whole_seconds(target.first_response.resolve(cal) * factor),
            resolution=_whole_seconds(target.resolution.resolve(cal) * factor),
        )


def _whole_seconds(value: timedelta) -> timedelta:
    return timedelta(seconds=round(value.total_seconds()))


class Pause(NamedTuple):
    """A span during which the SLA clocks stop (waiting on the customer).

    A pause still in progress is passed as ending at ``now``.
    """

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class SlaDue:
    """Deadlines of a ticket's two clocks (calendar zone) and the budgets they came from."""

    first_response_due: datetime
    resolution_due: datetime
    first_response_budget: timedelta
    resolution_budget: timedelta


@dataclass(frozen=True, slots=True)
class SlaStatus:
    """Where one clock stands at some instant."""

    state: SlaState
    fraction: float  # business time used / budget; above 1.0 once breached
    used: timedelta
    budget: timedelta

    @property
    def remaining(self) -> timedelta:
        """Budget left; negative by the overrun once breached."""
        return self.budget - self.used


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a tz-aware datetime, got naive {value!r}")


def _merged(pauses: Iterable[tuple[datetime, datetime]], floor: datetime) -> list[Pause]:
    """Pauses clipped to start no earlier than ``floor``, sorted, overlaps merged."""
    spans: list[Pause] = []
    for start, end in pauses:
        _require_aware(start, "pause start")
        _require_aware(end, "pause end")
        if end < start:
            raise ValueError(f"pause ends before it starts: {start} > {end}")
        start = max(start, floor)
        if end > start:
            spans.append(Pause(start, end))
    spans.sort()
    merged: list[Pause] = []
    for span in spans:
        if merged and span.start <= merged[-1].end:
            merged[-1] = Pause(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def _net_business_time(
    a: datetime, b: datetime, pauses: list[Pause], cal: BusinessCalendar
) -> timedelta:
    """Business time in ``[a, b)`` outside the (merged) pauses."""
    total = business_time_between(a, b, cal)
    for start, end in pauses:
        low, high = max(start, a), min(end, b)
        if high > low:
            total -= business_time_between(low, high, cal)
    return total


def due_after(
    start: datetime,
    budget: timedelta,
    cal: BusinessCalendar,
    pauses: Iterable[tuple[datetime, datetime]] = (),
) -> datetime:
    """When a clock started at ``start`` with ``budget`` of business time runs out.

    Business time inside ``pauses`` does not count, so each pause before the deadline pushes
    it back by the business time it covered; a pause that begins after the deadline changes
    nothing (a breach is never undone). Pauses may overlap and come in any order; parts
    before ``start`` are ignored. Result in the calendar's zone. Raises ValueError for naive
    datetimes, a negative budget, or a pause that ends before it starts.
    """
    _require_aware(start, "start")
    if budget < timedelta():
        raise ValueError(f"budget must not be negative, got {budget}")
    clock, remaining = start, budget
    for pause_start, pause_end in _merged(pauses, start):
        if pause_start > clock:
            available = business_time_between(clock, pause_start, cal)
            if remaining <= available:
                return add_business_time(clock, remaining, cal)
            remaining -= available
        clock = max(clock, pause_end)
    return add_business_time(clock, remaining, cal)


def compute_due(
    created_at: datetime,
    priority: Priority,
    tier: Tier | None,
    policy: SlaPolicy,
    cal: BusinessCalendar,
    pauses: Iterable[tuple[datetime, datetime]] = (),
) -> SlaDue:
    """First-response and resolution deadlines of a ticket created at ``created_at``.

    Both clocks start at ``created_at`` (or the next opening) and stop during ``pauses``
    (see ``due_after``); recompute whenever a pause starts or ends.
    """
    _require_aware(created_at, "created_at")
    budgets = policy.budgets(priority, tier, cal)
    spans = _merged(pauses, created_at)
    return SlaDue(
        first_response_due=due_after(created_at, budgets.first_response, cal, spans),
        resolution_due=due_after(created_at, budgets.resolution, cal, spans),
        first_response_budget=budgets.first_response,
        resolution_budget=budgets.resolution,
    )


def sla_state(
    now: datetime,
    created_at: datetime,
    due: datetime,
    cal: BusinessCalendar,
    pauses: Iterable[tuple[datetime, datetime]] = (),
    *,
    warning_fraction: float = 0.8,
) -> SlaStatus:
    """How much of a clock's budget is used at ``now``: ok, warning or breached.

    ``due`` must be the deadline computed with the same ``pauses`` (as ``compute_due`` or
    ``due_after`` return it); the budget is the unpaused business time from ``created_at`` to
    ``due``. ``breached`` once the whole budget is used (so at ``due`` itself, and during a
    closed period right after it); ``warning`` once ``warning_fraction`` of it is; else
    ``ok``. A zero budget is breached at once. A ``now`` before ``created_at`` counts as no
    time used. Pauses are cut at ``now``.
    """
    _require_aware(created_at, "created_at")
    spans = _merged(pauses, created_at)
    budget = max(_net_business_time(created_at, due, spans, cal), timedelta())
    used = max(_net_business_time(created_at, now, spans, cal), timedelta())
    fraction = used / budget if budget else 1.0
    state: SlaState = "ok"
    if fraction >= 1.0:
        state = "breached"
    elif fraction >= warning_fraction:
        state = "warning"
    return SlaStatus(state=state, fraction=fraction, used=used, budget=budget)
