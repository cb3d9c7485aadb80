"""``GET /reports``: every period report of ``cskh report`` on a page (satisfaction, volume,
SLA, the officers' sheet, low ratings, warranty and maintenance), with a period picker and
downloads.

The figures are the ``desk.reports`` registry's, the same ``Report`` the CLI prints: where the
report has a headline share, a chart of it (drawn server-side as SVG, no script) beside the
table, by day, ISO week or month, split where the report splits. A low rating's ticket and
follow-up link to their ticket pages; the customer's comment is text. Leads and admins see
every officer; an agent sees their own figures only (the report split by officer, their rows
kept), whatever they ask for, and is not offered the reports that have no officer's rows
(warranty).
``?format=csv|xlsx`` downloads what the page shows. A bad date or split is the page again
with the reason (400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from desk.api import CALENDARS, CLOCK, SESSIONS
from desk.i18n import N_, gettext
from desk.reports import Report, ReportError, build_report, parse_window
from desk.reports.periods import PERIODS, local_date
from desk.reports.registry import GROUPINGS
from desk.reports.render import render
from desk.web_session import page_login_required, render_staff_page, request_staff
from router.calendars import QueueCalendars
from router.staff import LEADS
from storage.models import Campaign, Staff

PAGE_REPORTS = ("satisfaction", "volume", "sla", "officers", "low-ratings", "warranty",
                "campaign")
# the reports an agent is offered: those whose rows carry the officer (cut to their own)
AGENT_REPORTS = ("satisfaction", "volume", "sla", "officers", "low-ratings")
# the reports that take a split (the others ignore it or refuse it)
SPLIT_REPORTS = frozenset({"satisfaction", "volume", "sla"})
# cells that name a ticket (CSKH-000042): shown as a link to its page
TICKET_COLUMNS = frozenset({"ticket", "follow_up"})
DOWNLOADS = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# the share each report's chart draws, 0-100
HEADLINE = {"satisfaction": "csat_pct", "sla": "first_response_within_sla_pct",
            "officers": "sla_pct", "warranty": "in_warranty_pct"}


TITLES = {"satisfaction": N_("Customer satisfaction (CSAT)"),
          "volume": N_("Tickets and messages"),
          "sla": N_("First response and resolution within SLA"),
          "officers": N_("Officers' monthly sheet"),
          "low-ratings": N_("Ratings of 1 and 2, by category"),
          "warranty": N_("Warranty and maintenance"),
          "campaign": N_("Satisfaction campaign")}
COLUMNS = {
    "period": N_("Period"), "officer": N_("Officer"), "channel": N_("Channel"),
    "category": N_("Category"), "queue": N_("Queue"), "tier": N_("Tier"),
    "priority": N_("Priority"), "sent": N_("Surveys sent"), "answered": N_("Answers"),
    "response_rate_pct": N_("Response rate %"), "csat_pct": N_("CSAT %"), "mean": N_("Mean"),
    "first_response_count": N_("First responses"),
    "first_response_median_min": N_("First response, median (min)"),
    "first_response_p90_min": N_("First response, p90 (min)"),
    "first_response_within_sla_pct": N_("First responses within SLA %"),
    "resolution_count": N_("Resolutions"),
    "resolution_median_min": N_("Resolution, median (min)"),
    "resolution_p90_min": N_("Resolution, p90 (min)"),
    "resolution_within_sla_pct": N_("Resolutions within SLA %"),
    "breaches": N_("Breaches"),
    "opened": N_("Opened"), "resolved": N_("Resolved"), "reopened": N_("Reopened"),
    "backlog": N_("Backlog at period end"), "messages_in": N_("Messages in"),
    "messages_out": N_("Messages out"), "tickets_handled": N_("Tickets handled"),
    "answers": N_("Replies sent"), "sla_pct": N_("Within SLA %"),
    "low_ratings": N_("Low ratings"), "ticket": N_("Ticket"), "rating": N_("Rating"),
    "comment": N_("Customer's comment"), "follow_up": N_("Follow-up ticket"),
    "follow_up_status": N_("Follow-up status"), "model": N_("Model"),
    "claims": N_("Claims"), "in_warranty_pct": N_("In warranty %"),
    "repair_median_min": N_("Repair, median (min)"), "visits_due": N_("Visits due"),
    "visits_done": N_("Visits done"), "visits_on_time_pct": N_("Visits on time %"),
}
# the campaign report's own words for columns other reports name otherwise
CAMPAIGN_COLUMNS = {
    "section": N_("Part"), "group": N_("Group"), "asked": N_("Contacts asked"),
    "answered": N_("Contacts who answered"), "question": N_("Question"),
    "answers": N_("Answers to the question"), "segment": N_("Segment"),
    "owner": N_("Account owner")}
CAMPAIGN_SPLITS = ("tier", "segment", "owner")
PERIOD_NAMES = {"day": N_("Day"), "week": N_("Week"), "month": N_("Month")}


@dataclass(frozen=True)
class Asked:
    """What the picker asked for (as given, to show it again)."""

    report: str
    period: str
    first: str
    last: str
    by: str
    campaign: str = ""

    def params(self, **changes: str) -> dict[str, str]:
        """The query string of this choice, with ``changes``."""
        merged = {"report": self.report, "period": self.period, "from": self.first,
                  "to": self.last, "by": self.by, "campaign": self.campaign, **changes}
        return {k: v for k, v in merged.items() if v}


def column_label(column: str, report: str = "") -> str:
    """A column's heading on the page (``rated_3``: "3 ★"; ``n_7``: "7")."""
    if column.startswith("rated_"):
        return f"{column.removeprefix('rated_')} ★"
    if report == "campaign":
        if column.startswith("n_"):
            return column.removeprefix("n_")
        if column in CAMPAIGN_COLUMNS:
            return gettext(CAMPAIGN_COLUMNS[column])
    return gettext(COLUMNS.get(column, column))


def own_figures(report: Report, staff: Staff) -> Report:
    """``report`` (split by officer) cut to ``staff``'s own rows."""
    rows = [r for r in report.rows if r.get("officer") == staff.name]
    return Report(report.name, report.title, report.period, report.start, report.end,
                  report.columns, rows, report.notes)


async def _build(request: web.Request, asked: Asked, staff: Staff) -> Report:
    lead = staff.role in LEADS
    if asked.report not in (PAGE_REPORTS if lead else AGENT_REPORTS):
        raise ReportError(gettext("Choose one of the reports offered."))
    splits = CAMPAIGN_SPLITS if asked.report == "campaign" else GROUPINGS
    if asked.by and asked.by not in splits:
        raise ReportError(gettext("Choose one of the splits offered."))
    today = local_date(request.app[CLOCK]())
    window = parse_window(asked.period, asked.first or None, asked.last or None, today)
    # the officers' sheet and low ratings carry the officer already; warranty is by model
    split = (asked.by or None) if lead else "officer"
    by = split if asked.report in SPLIT_REPORTS else None
    calendars = request.app.get(CALENDARS) or QueueCalendars()
    if asked.report == "campaign":  # the whole campaign, not cut by period
        if not asked.campaign:
            raise ReportError(gettext("Choose a campaign."))
        async with request.app[SESSIONS]() as session:
            return await build_report(session, "campaign", window, asked.by or None,
                                      calendars, subject=asked.campaign)
    async with request.app[SESSIONS]() as session:
        report = await build_report(session, asked.report, window, by, calendars)
    return report if lead else own_figures(report, staff)


def _chart(report: Report) -> list[dict[str, Any]]:
    """The bars: one per row, its label and the headline share (None: no figure)."""
    key = HEADLINE.get(report.name)
    if key is None:
        return []
    bars = []
    for row in report.rows:
        group = next((str(row[c]) for c in report.columns if c in GROUPINGS and c in row), "")
        label = f"{row.get('period')} · {group}" if group else str(row.get("period"))
        value = row.get(key)
        bars.append({"label": label, "value": value if isinstance(value, int | float) else None})
    return bars


async def _campaigns(request: web.Request) -> list[str]:
    """The campaigns' names, newest first (the campaign report's picker)."""
    async with request.app[SESSIONS]() as session:
        return list(await session.scalars(select(Campaign.name).order_by(
            Campaign.send_at.desc())))


@page_login_required
async def reports_view(request: web.Request) -> web.StreamResponse:
    """The page, or its figures as a download (``format=csv|xlsx``)."""
    staff = request_staff(request)
    q = request.query
    asked = Asked(q.get("report", "satisfaction"), q.get("period", "month"),
                  q.get("from", "").strip(), q.get("to", "").strip(), q.get("by", "").strip(),
                  q.get("campaign", "").strip()[:300])
    fmt = q.get("format", "")
    lead = staff.role in LEADS
    context: dict[str, Any] = {
        "asked": asked, "lead": lead,
        "reports": [(r, TITLES[r]) for r in (PAGE_REPORTS if lead else AGENT_REPORTS)],
        "ticket_columns": TICKET_COLUMNS, "split_reports": SPLIT_REPORTS,
        "periods": [(p, PERIOD_NAMES[p]) for p in PERIODS],
        "groupings": CAMPAIGN_SPLITS if asked.report == "campaign" else GROUPINGS,
        "campaigns": await _campaigns(request) if lead else [],
        "column_label": lambda c: column_label(c, asked.report), "report": None,
        "error": None, "headline": None, "bars": [],
        "download": lambda f: "/reports?" + urlencode(asked.params(format=f))}
    if fmt and fmt not in DOWNLOADS:
        context["error"] = gettext("Downloads are CSV or xlsx.")
        return render_staff_page("reports.html", request, context, status=400)
    try:
        report = await _build(request, asked, staff)
    except ReportError as exc:
        context["error"] = gettext("These figures cannot be shown: {reason}").format(
            reason=str(exc))
        return render_staff_page("reports.html", request, context, status=400)
    if fmt:
        name = f"{report.name}-{report.period}-{report.start}-{report.end}.{fmt}"
        return web.Response(body=render(report, fmt), headers={
            "Content-Type": DOWNLOADS[fmt], "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{name}"'})
    headline = HEADLINE.get(report.name)
    context.update(report=report, bars=_chart(report),
                   headline=column_label(headline) if headline else None)
    return render_staff_page("reports.html", request, context)


def add_reports_routes(app: web.Application) -> None:
    """Register ``GET /reports``."""
    app.router.add_get("/reports", reports_view)
