"""The reports by name, and one entry point that builds any of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports import figures, satisfaction
from desk.reports.base import Report, ReportError
from desk.reports.periods import Window
from router.calendars import QueueCalendars

Builder = Callable[[AsyncSession, Window, str | None, QueueCalendars], Awaitable[Report]]

REPORTS: dict[str, Builder] = {
    "volume": figures.volume,
    "sla": figures.sla,
    "officers": figures.officers,
    "satisfaction": satisfaction.satisfaction,
    "low-ratings": satisfaction.low_ratings,
}
GROUPINGS = figures.GROUPINGS


async def build_report(session: AsyncSession, name: str, window: Window, by: str | None,
                       calendars: QueueCalendars) -> Report:
    """The report ``name`` over ``window``, grouped ``by`` one dimension or not at all."""
    builder = REPORTS.get(name)
    if builder is None:
        raise ReportError(f"no report {name!r}; reports: {', '.join(REPORTS)}")
    if by is not None and by not in GROUPINGS:
        raise ReportError(f"--by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    return await builder(session, window, by, calendars)
