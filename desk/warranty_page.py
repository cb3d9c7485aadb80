"""``/warranty``: the warranty and maintenance register for signed-in staff, and
``/warranty/{serial}``: one product.

- ``GET /warranty?q=&page=``: the register by serial, 200 a page; every word of ``q`` is in the
  serial (however the customer spaced or cased it), the model, or the account's name or tax
  code (with or without diacritics); each item in or out of warranty today (Asia/Ho_Chi_Minh);
- ``GET /warranty/{serial}``: the item, its account (linking to its page), its claims and
  task tickets (linking to their ticket pages) and its maintenance visits. An unknown serial is
  the 404 page.

Both read through ``desk.warranty``, the functions ``cskh warranty`` calls.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from desk.api import CLOCK, read_sessions
from desk.auth import visible
from desk.customers_page import MAX_QUERY, page_number
from desk.directory import PAGE_ROWS, DirectoryError
from desk.i18n import gettext
from desk.reports.periods import local_date
from desk.warranty import item_claims, search_items, serial_key, show_item
from desk.web_session import missing_page, page_login_required, render_staff_page, request_staff
from storage.models import Customer, ticket_number
from storage.models_care import WarrantyItem


@page_login_required
async def warranty_view(request: web.Request) -> web.StreamResponse:
    """The register, searched and paged."""
    query = request.query.get("q", "")[:MAX_QUERY].strip()
    today = local_date(request.app[CLOCK]())
    async with read_sessions(request.app)() as session:
        found = await search_items(session, query, on=today, page=page_number(request),
                                   size=PAGE_ROWS)
    return render_staff_page("warranty.html", request, {
        "query": query, "found": found, "today": today,
        "link": lambda **changes: "/warranty?" + urlencode(
            {k: v for k, v in {"q": query, **changes}.items() if v})})


@page_login_required
async def item_view(request: web.Request) -> web.StreamResponse:
    """One product of the register, or the 404 page."""
    serial = request.match_info["serial"]
    today = local_date(request.app[CLOCK]())
    async with read_sessions(request.app)() as session:
        try:
            item = await show_item(session, serial, today)
        except DirectoryError:
            return missing_page(request, gettext("There is no product with this serial in "
                                                 "the register."))
        account = await session.scalar(select(Customer.public_id).join(
            WarrantyItem, WarrantyItem.customer_id == Customer.id).where(
            WarrantyItem.serial == serial_key(serial)))
        claims = await item_claims(session, serial,
                                   tickets_where=visible(request_staff(request)))
    visits: list[dict[str, Any]] = [
        v | {"ticket_number": ticket_number(v["ticket_id"]) if v["ticket_id"] else None}
        for v in item["visits"]]
    return render_staff_page("warranty_item.html", request, {
        "item": item, "account_id": str(account) if account else None, "claims": claims,
        "visits": visits, "today": today})


def add_warranty_routes(app: web.Application) -> None:
    """Register ``GET /warranty`` and ``GET /warranty/{serial}``."""
    app.router.add_get("/warranty", warranty_view)
    app.router.add_get("/warranty/{serial:.+}", item_view)  # a serial may hold a slash
