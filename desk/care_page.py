"""``GET /care?year=&page=``: a year's care plan for signed-in staff.

The plan's state, its budget (the year, then each tier and segment: budget, planned, spent,
remaining, entries done), and its entries by date, 200 a page: account (linking to its page),
occasion (Tết, the public holidays, 8/3 and 20/10, the account's founding and opening days,
the planned contacts), action, gift, planned value, officer, status, what it really cost and
its task ticket. Without ``year``: this year (Asia/Ho_Chi_Minh). A year with no plan says so
and how to build it; a bad year is the page with the reason (400).

It reads through ``desk.care.plan``, the functions ``cskh care`` calls.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from desk.api import CLOCK, read_sessions
from desk.care.plan import PlanError, check_year, count_entries, entries, summarize
from desk.customers_page import ACTION_LABELS, ENTRY_STATUS_LABELS, TIER_LABELS, page_number
from desk.directory import PAGE_ROWS
from desk.i18n import N_, gettext
from desk.reports.periods import local_date
from desk.web_session import page_login_required, render_staff_page

STATE_LABELS = {"draft": N_("Draft plan"), "submitted": N_("Submitted for approval"),
                "approved": N_("Approved")}


class EntryPage:
    """One page of the plan's entries."""

    def __init__(self, rows: list[dict[str, Any]], page: int, pages: int, total: int) -> None:
        self.rows, self.page, self.pages, self.total = rows, page, pages, total


def _year(raw: str | None, default: int) -> int:
    """The year asked for (``default`` when none); ``ValueError`` (its reason for people)
    unless it is one the calendars know."""
    text = (raw or "").strip()
    if not text:
        return default
    try:
        return check_year(int(text)) if text.isdigit() and len(text) == 4 else check_year(0)
    except PlanError:
        raise ValueError(gettext("choose a year from 2000 to 2099.")) from None


@page_login_required
async def care_view(request: web.Request) -> web.StreamResponse:
    """The plan of the year asked for."""
    this_year = local_date(request.app[CLOCK]()).year
    context: dict[str, Any] = {"year": this_year, "summary": None, "found": None,
                               "error": None, "missing": False,
                               "state_labels": STATE_LABELS, "tier_labels": TIER_LABELS,
                               "action_labels": ACTION_LABELS,
                               "status_labels": ENTRY_STATUS_LABELS}
    try:
        year = _year(request.query.get("year"), this_year)
    except ValueError as exc:
        context["error"] = gettext("This plan cannot be shown: {reason}").format(
            reason=str(exc))
        return render_staff_page("care.html", request, context, status=400)
    context["year"] = year
    context["link"] = lambda **changes: "/care?" + urlencode({"year": year, **changes})
    async with read_sessions(request.app)() as session:
        try:
            summary = await summarize(session, year)
        except PlanError:
            context["missing"] = True
            return render_staff_page("care.html", request, context)
        total = await count_entries(session, year)
        pages = max(1, -(-total // PAGE_ROWS))
        page = min(page_number(request), pages)
        rows = await entries(session, year, offset=(page - 1) * PAGE_ROWS, limit=PAGE_ROWS)
    context.update(summary=summary, found=EntryPage(rows, page, pages, total))
    return render_staff_page("care.html", request, context)


def add_care_routes(app: web.Application) -> None:
    """Register ``GET /care``."""
    app.router.add_get("/care", care_view)
