"""The reports by name, and one entry point that builds any of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports import figures, satisfaction
from desk.reports.base import Report, ReportError
from desk.reports.campaign import campaign_report
from desk.reports.periods import Window
from desk.reports.warranty import warranty_report
from router.calendars import QueueCalendars

Builder = Callable[[AsyncSession, Window, str | None, QueueCalendars], Awaitable[Report]]
# reports about one named thing (a campaign), not cut by periods: (session, its name, by)
NamedBuilder = Callable[[AsyncSession, str | None, str | None], Awaitable[Report]]

REPORTS: dict[str, Builder] = {
    "volume": figures.volume,
    "sla": figures.sla,
    "officers": figures.officers,
    "satisfaction": satisfaction.satisfaction,
    "low-ratings": satisfaction.low_ratings,
    "warranty": warranty_report,
}
NAMED_REPORTS: dict[str, NamedBuilder] = {
    "campaign": campaign_report,
}
GROUPINGS = figures.GROUPINGS
NAMED_GROUPINGS = {"campaign": ("tier", "segment", "owner")}


async def build_report(session: AsyncSession, name: str, window: Window, by: str | None,
                       calendars: QueueCalendars, subject: str | None = None) -> Report:
    """The report ``name`` over ``window``, grouped ``by`` one dimension or not at all;
    ``subject`` names what a named report is about (``campaign NAME``)."""
    if (named := NAMED_REPORTS.get(name)) is not None:
        return await named(session, subject, by)
    builder = REPORTS.get(name)
    if builder is None:
        raise ReportError(f"no report {name!r}; reports: "
                          f"{', '.join([*REPORTS, *NAMED_REPORTS])}")
    if subject is not None:
        raise ReportError(f"report {name} takes no name after it (only campaign does)")
    if by is not None and by not in GROUPINGS:
        raise ReportError(f"--by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    return await builder(session, window, by, calendars)
