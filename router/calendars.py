"""Per-queue working calendars: which ``BusinessCalendar`` a ticket's SLA clocks run on.

A queue without its own calendar uses the default one (the design's: Monday-Saturday
07:30-11:30 and 13:00-17:00, Asia/Ho_Chi_Minh, minus Vietnamese public holidays). A queue's
calendar is configured in a short form, ``QueueCalendarSpec``, whose unset fields are the
default calendar's::

    [queue_calendars.warehouse]
    days = "mon-sat"
    hours = ["07:00-12:00", "13:00-17:30"]

    [queue_calendars.accounting]
    days = "mon-fri"
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.business_time import BusinessCalendar, Shift

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def parse_days(text: str) -> frozenset[int]:
    """``"mon-sat"``, ``"mon,wed,fri"`` or ``"mon-fri,sun"`` as weekday numbers (Monday 0)."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ValueError(f"days: {part!r} is not a day or a range of days like mon-sat "
                             f"(days are {', '.join(DAY_NAMES)})")
        start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        if end < start:
            raise ValueError(f"days: {part!r} runs backwards; write it {last}-{first}?")
        days.update(range(start, end + 1))
    return frozenset(days)


def parse_hours(text: str) -> Shift:
    """``"07:00-12:00"`` as a shift."""
    match = _HOURS.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"hours: {text!r} is not a period like 07:30-11:30")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if (h2, m2) <= (h1, m1):
        raise ValueError(f"hours: {text.strip()!r} must end after it starts "
                         "(a period cannot cross midnight)")
    try:
        return Shift(start=time(h1, m1), end=time(h2, m2))
    except ValueError as exc:  # an impossible time, or an end before the start
        raise ValueError(f"hours: {text!r}: {exc}") from exc


class QueueCalendarSpec(BaseModel):
    """One queue's working time; every field left out is the default calendar's.

    ``days``: ``"mon-sat"``, ``"mon-fri"``, ``"mon,wed,fri"``. ``hours``: periods such as
    ``["07:00-12:00", "13:00-17:30"]`` (or one comma-separated string). ``holidays``: a
    country code of the ``holidays`` package, or ``"none"``. ``closed`` / ``working``: extra
    closed dates and extra working dates (e.g. a company day off, a make-up Saturday).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: str | None = None
    hours: list[str] | None = Field(default=None, min_length=1)
    timezone: str | None = None
    holidays: str | None = None
    closed: list[date] = Field(default_factory=list)
    working: list[date] = Field(default_factory=list)

    @field_validator("hours", mode="before")
    @classmethod
    def _split_hours(cls, value: Any) -> Any:
        return value.split(",") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> QueueCalendarSpec:
        self.calendar()  # every mistake is reported when the settings load
        return self

    def calendar(self, default: BusinessCalendar | None = None) -> BusinessCalendar:
        """The ``BusinessCalendar`` this describes, over ``default`` (the design's)."""
        base = default or BusinessCalendar()
        changes: dict[str, Any] = {}
        if self.days is not None:
            changes["weekdays"] = parse_days(self.days)
        if self.hours is not None:
            changes["shifts"] = tuple(parse_hours(h) for h in self.hours)
            changes["weekday_shifts"] = {}
        if self.timezone is not None:
            changes["timezone"] = self.timezone
        if self.holidays is not None:
            changes["holiday_country"] = None if self.holidays.lower() == "none" else \
                self.holidays.upper()
        if self.closed:
            changes["extra_closed_dates"] = frozenset(self.closed)
        if self.working:
            changes["extra_working_dates"] = frozenset(self.working)
        # Validate the merged calendar (zone, country, overlapping hours) as a new model.
        return BusinessCalendar.model_validate({**base.model_dump(), **changes})


class QueueCalendars(BaseModel):
    """The calendar of each queue, and the default for the others."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: BusinessCalendar = Field(default_factory=BusinessCalendar)
    queues: dict[str, BusinessCalendar] = Field(default_factory=dict)

    @classmethod
    def from_specs(cls, specs: dict[str, QueueCalendarSpec],
                   default: BusinessCalendar | None = None) -> QueueCalendars:
        """Calendars from the settings' ``queue_calendars`` table."""
        base = default or BusinessCalendar()
        return cls(default=base, queues={q: s.calendar(base) for q, s in specs.items()})

    def for_queue(self, queue: str | None) -> BusinessCalendar:
        """The calendar ``queue``'s SLA clocks run on."""
        return self.queues.get(queue or "", self.default)


Calendars = BusinessCalendar | QueueCalendars


def calendar_for(calendars: Calendars, queue: str | None) -> BusinessCalendar:
    """``calendars`` itself when it is one calendar, else ``queue``'s."""
    return calendars if isinstance(calendars, BusinessCalendar) else calendars.for_queue(queue)
