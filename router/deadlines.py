"""A ticket's SLA deadlines from its priority, its customer's tier and its waits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from router.business_time import BusinessCalendar
from router.calendars import Calendars, calendar_for
from router.sla import Priority, SlaPolicy, Tier, compute_due
from storage.models import Ticket

PRIORITIES: dict[str, Priority] = {p: p for p in ("urgent", "high", "normal", "low")}
TIERS: dict[str, Tier] = {t: t for t in ("key", "standard", "small")}
DEFAULT_POLICY = SlaPolicy()
DEFAULT_CALENDAR = BusinessCalendar()


def set_deadlines(ticket: Ticket, tier: str | None = None,
                  pauses: Iterable[tuple[datetime, datetime]] = (), *,
                  policy: SlaPolicy = DEFAULT_POLICY,
                  calendar: Calendars = DEFAULT_CALENDAR,
                  start: datetime | None = None) -> None:
    """Set ``first_response_due`` and ``resolution_due`` in business time from the start of
    the ticket's current SLA cycle (its creation, or its last reopening), or from ``start``.

    The clocks run on ``calendar``, or on the calendar of the ticket's queue when it is a
    ``QueueCalendars``. An unknown priority counts as ``normal`` and an unknown tier as none.
    """
    due = compute_due(start or ticket.sla_started_at, PRIORITIES.get(ticket.priority, "normal"),
                      TIERS.get(tier or ""), policy, calendar_for(calendar, ticket.queue),
                      pauses)
    ticket.first_response_due = due.first_response_due
    ticket.resolution_due = due.resolution_due
