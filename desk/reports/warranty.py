"""The warranty report: per period and product model, the warranty and maintenance claims,
the share of them under warranty, the repair turnaround, and maintenance visits done on time.

A claim is a customer's warranty or maintenance ticket opened in the period, counted under the
model of the register item it names (``desk.warranty.match_ticket``; ``-`` when it names none).
Turnaround is the median business time from the claim to its resolution, in minutes, on its
queue's calendar. Visits are those due in the period: done on or before their due date counts
as on time.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports.base import Report, ReportError, minutes, percentile, rounded, share
from desk.reports.periods import LOCAL, Window
from desk.warranty import MATCHED_CATEGORIES, match_ticket
from router.business_time import business_time_between
from router.calendars import QueueCalendars
from storage.models import Ticket
from storage.models_care import MaintenanceVisit, WarrantyItem

COLUMNS = ("period", "model", "claims", "in_warranty_pct", "repair_median_min", "resolved",
           "visits_due", "visits_done", "visits_on_time_pct")


async def warranty_report(session: AsyncSession, window: Window, by: str | None,
                          calendars: QueueCalendars) -> Report:
    """Claims per model, in-warranty share, repair turnaround, visits done on time."""
    if by is not None:
        raise ReportError("the warranty report is always by product model (no --by)")
    rows: list[dict[str, Any]] = []
    for label, start, end in window.periods():
        cells: dict[str, dict[str, Any]] = defaultdict(lambda: {
            "claims": 0, "in_warranty": 0, "repairs": [], "visits_due": 0, "visits_done": 0,
            "on_time": 0})
        tickets = list(await session.scalars(select(Ticket).where(
            Ticket.kind == "customer", Ticket.category.in_(MATCHED_CATEGORIES),
            Ticket.created_at >= start, Ticket.created_at < end).order_by(Ticket.id)))
        for t in tickets:
            items = await match_ticket(session, t)
            cell = cells[items[0]["model"] if items else "-"]
            cell["claims"] += 1
            cell["in_warranty"] += bool(items and items[0]["in_warranty"])
            if t.resolved_at is not None:
                spent = business_time_between(t.created_at, t.resolved_at,
                                              calendars.for_queue(t.queue))
                cell["repairs"].append(minutes(spent))
        first, last = start.astimezone(LOCAL).date(), end.astimezone(LOCAL).date()
        visits = (await session.execute(
            select(MaintenanceVisit, WarrantyItem.model)
            .join(WarrantyItem, WarrantyItem.id == MaintenanceVisit.item_id)
            .where(MaintenanceVisit.due_on >= first, MaintenanceVisit.due_on < last))).all()
        for visit, model in visits:
            cell = cells[model]
            cell["visits_due"] += 1
            if visit.done_on is not None:
                cell["visits_done"] += 1
                cell["on_time"] += visit.done_on <= visit.due_on
        for model in sorted(cells):
            c = cells[model]
            rows.append({"period": label, "model": model, "claims": c["claims"],
                         "in_warranty_pct": share(c["in_warranty"], c["claims"]),
                         "repair_median_min": rounded(percentile(c["repairs"], 0.5)),
                         "resolved": len(c["repairs"]), "visits_due": c["visits_due"],
                         "visits_done": c["visits_done"],
                         "visits_on_time_pct": share(c["on_time"], c["visits_due"])})
    return Report("warranty", "Warranty and maintenance", window.kind,
                  window.first.isoformat(), window.last.isoformat(), COLUMNS, rows,
                  ("claims: warranty and maintenance tickets, by the model of the register "
                   "item they name ('-': none)", "visits on time: done by their due date, of "
                   "those due"))
