"""``/customers``: the directory for signed-in staff, and ``/customers/{id}``: one account.

- ``GET /customers?q=&owner=&tier=&page=``: the accounts, by name, 200 a page; ``q`` finds
  words of the name, tax code, a contact's name, e-mail or phone, with or without diacritics;
  ``owner`` is a staff id (``none``: accounts nobody owns), ``tier`` one of the tiers;
- ``GET /customers/{id}`` (the account's public id): contacts, owner, care days, its recent
  tickets the officer may see (each linking to its ticket page), its warranty items, and its
  care tasks of this year's plan. An unknown id is the 404 page.

Both read through ``desk.directory``, the functions ``cskh customers`` calls.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from sqlalchemy import select

from desk.api import CLOCK, SESSIONS, read_sessions
from desk.auth import visible
from desk.care.plan import PlanError, entries
from desk.directory import Filters, account_by_id, account_page, allocate, describe_account
from desk.i18n import N_, gettext
from desk.labels import LABELS
from desk.reports.periods import local_date
from desk.warranty import list_items
from desk.web_session import (
    forbidden,
    missing_page,
    page_login_required,
    render_staff_page,
    request_staff,
)
from router.customers import TIERS
from router.staff import LEADS
from storage.log_events import LogEvent
from storage.models import Staff

log = structlog.get_logger(__name__)

MAX_QUERY = 200
TIER_LABELS = LABELS["tier"]
ACTION_LABELS = {"call": N_("Call"), "email": N_("E-mail"), "visit": N_("Visit"),
                 "gift": N_("Gift")}
ENTRY_STATUS_LABELS = {"planned": N_("Planned"), "done": N_("Done"), "skipped": N_("Skipped")}


def page_number(request: web.Request) -> int:
    """The ``page`` asked for (1 when it is missing or not a number)."""
    raw = request.query.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


def _link(params: dict[str, str], **changes: Any) -> str:
    merged = {**params, **{k: str(v) for k, v in changes.items()}}
    return "/customers?" + urlencode({k: v for k, v in merged.items() if v})


@page_login_required
async def customers_view(request: web.Request) -> web.StreamResponse:
    """The directory, filtered and paged; a bad filter is the page with the reason (400)."""
    q = request.query
    asked = {"q": q.get("q", "")[:MAX_QUERY].strip(), "owner": q.get("owner", "").strip(),
             "tier": q.get("tier", "").strip()}
    error = None
    if asked["tier"] and asked["tier"] not in TIERS:
        error, asked["tier"] = gettext("Choose one of the tiers offered."), ""
    owner_id: int | None = None
    nobody = asked["owner"] == "none"
    if asked["owner"] and not nobody:
        if asked["owner"].isdigit() and len(asked["owner"]) < 19:
            owner_id = int(asked["owner"])
        else:
            error, asked["owner"] = gettext("Choose one of the officers offered."), ""
    filters = Filters(tier=asked["tier"] or None, search=asked["q"] or None,
                      owner="none" if nobody else None, owner_id=owner_id)
    async with read_sessions(request.app)() as session:
        staff = list((await session.execute(select(Staff.id, Staff.name)
                                            .order_by(Staff.name))).all())
        found = await account_page(session, filters, page=page_number(request))
    allocated = q.get("allocated", "")
    context = {"asked": asked, "found": found, "error": error, "staff": staff,
               "lead": request_staff(request).role in LEADS,
               "allocated": int(allocated) if allocated.isdigit() and len(allocated) < 9
               else None,
               "tiers": [(t, TIER_LABELS[t]) for t in TIERS], "tier_labels": TIER_LABELS,
               "link": lambda **changes: _link(asked, **changes)}
    return render_staff_page("customers.html", request, context,
                             status=400 if error else 200)


@page_login_required
async def customer_view(request: web.Request) -> web.StreamResponse:
    """One account, or the 404 page."""
    me = request_staff(request)
    today = local_date(request.app[CLOCK]())
    async with read_sessions(request.app)() as session:
        customer = await account_by_id(session, request.match_info["customer_id"])
        if customer is None:
            return missing_page(request, gettext("There is no such customer."))
        account = await describe_account(session, customer, tickets_where=visible(me))
        staff = list((await session.execute(select(Staff.id, Staff.name)
                                            .order_by(Staff.name))).all())
        items = await list_items(session, customer_id=customer.id, on=today)
        try:
            tasks: list[dict[str, Any]] | None = await entries(
                session, today.year, customer_id=customer.id)
        except PlanError:
            tasks = None  # no plan for the year yet
    return render_staff_page("customer.html", request, {
        "account": account, "items": items, "tasks": tasks, "year": today.year,
        "public_id": request.match_info["customer_id"], "staff": staff,
        "owner_id": customer.owner_id, "lead": me.role in LEADS,
        "allocated": request.query.get("allocated") == "1",
        "tier_labels": TIER_LABELS, "action_labels": ACTION_LABELS,
        "status_labels": ENTRY_STATUS_LABELS})


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


@page_login_required
async def allocate_view(request: web.Request) -> web.StreamResponse:
    """``POST /customers/owner``: a lead gives an account (``account``, its public id) or every
    account the list's filters take (``q``, ``tier``, ``of``: the owner filter) to the officer
    ``owner`` (a staff id), then goes back to where the form was (303)."""
    me = request_staff(request)
    if me.role not in LEADS:
        raise forbidden(gettext("Only leads and admins allocate accounts to officers."))
    form = await request.post()
    raw_owner, account = _field(form, "owner"), _field(form, "account")
    async with request.app[SESSIONS]() as session, session.begin():
        officer = (await session.get(Staff, int(raw_owner))
                   if raw_owner.isdigit() and len(raw_owner) < 19 else None)
        if officer is None:
            raise web.HTTPBadRequest(text=gettext("Choose one of the officers offered."))
        if account:
            customer = await account_by_id(session, account)
            if customer is None:
                return missing_page(request, gettext("There is no such customer."))
            await allocate(session, officer.id, customer_ids=[customer.id])
            back = f"/customers/{account}?allocated=1"
        else:
            of, tier = _field(form, "of"), _field(form, "tier")
            if tier and tier not in TIERS:
                raise web.HTTPBadRequest(text=gettext("Choose one of the tiers offered."))
            filters = Filters(tier=tier or None, search=_field(form, "q")[:MAX_QUERY] or None,
                              owner="none" if of == "none" else None,
                              owner_id=int(of) if of.isdigit() and len(of) < 19 else None)
            count = await allocate(session, officer.id, filters=filters)
            back = _link({"q": _field(form, "q"), "tier": tier, "owner": of},
                         allocated=count or "0")
    log.info(LogEvent.ACCOUNTS_ALLOCATED, staff=me.name, owner=officer.name,
             account=account or None)
    raise web.HTTPSeeOther(back)


def add_customer_routes(app: web.Application) -> None:
    """Register ``GET /customers``, ``GET /customers/{id}`` and ``POST /customers/owner``."""
    app.router.add_get("/customers", customers_view)
    app.router.add_post("/customers/owner", allocate_view)
    app.router.add_get("/customers/{customer_id}", customer_view)
