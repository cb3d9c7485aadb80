"""The warranty and maintenance register: products delivered to accounts.

Loaded from CSV (``serial, model, account, delivered_on, warranty_months,
maintenance_months``), upserted by serial. A warranty or maintenance ticket is matched to the
register by the serials written in its messages (any way the customer spaced or cased them),
else by the models of its account's products named in the text.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.directory import DirectoryError, find_account
from desk.search import folded, matches, terms
from storage.models import Customer, Message, Ticket
from storage.models_care import MaintenanceVisit, WarrantyItem
from storage.search_fold import fold

COLUMNS = ("serial", "model", "account", "delivered_on", "warranty_months",
           "maintenance_months")
MATCHED_CATEGORIES = ("warranty", "maintenance")
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
_SERIAL_CHARS = re.compile(r"[^A-Z0-9\-/.]")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-/.]{3,}[A-Za-z0-9]")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def serial_key(text: str) -> str:
    """The stored form of a serial: uppercase, without spaces or other marks."""
    return _SERIAL_CHARS.sub("", unicodedata.normalize("NFKC", text).upper())


def model_key(text: str) -> str:
    """The compared form of a model name: folded (no case, no diacritics), single-spaced."""
    return " ".join((fold(unicodedata.normalize("NFC", text)) or "").split())


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)


def warranty_ends(item: WarrantyItem) -> date:
    """The last day of the item's warranty."""
    return add_months(item.delivered_on, item.warranty_months)


@dataclass
class RegisterReport:
    """What an import did, and the lines it refused (header is line 1)."""

    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _months(value: str, column: str, *, optional: bool) -> tuple[int | None, str | None]:
    if not value:
        return None, None if optional else f"{column} is empty"
    if not value.isdigit() or not 0 <= int(value) <= 600:
        return None, f"{column} {value!r} is not a number of months"
    return int(value), None


async def import_register(session: AsyncSession, text: str) -> RegisterReport:
    """Create or update register items by serial; a bad line is refused whole and listed."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    missing = [c for c in ("serial", "model", "delivered_on", "warranty_months")
               if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"the CSV needs the columns {', '.join(COLUMNS)}; missing: "
                         f"{', '.join(missing)}")
    report = RegisterReport()
    for row in reader:
        line = reader.line_num
        cell = {k: unicodedata.normalize("NFC", (row.get(k) or "").strip()) for k in COLUMNS}
        serial, model = serial_key(cell["serial"]), cell["model"]
        warranty, problem = _months(cell["warranty_months"], "warranty_months", optional=False)
        interval, problem2 = _months(cell["maintenance_months"], "maintenance_months",
                                     optional=True)
        problem = (("serial is empty" if not serial else None) or
                   ("model is empty" if not model else None) or
                   (None if _ISO.fullmatch(cell["delivered_on"]) else
                    f"delivered_on {cell['delivered_on']!r} is not an ISO date (YYYY-MM-DD)")
                   or problem or problem2)
        delivered = None
        if problem is None:
            try:
                delivered = date.fromisoformat(cell["delivered_on"])
            except ValueError:
                problem = f"delivered_on {cell['delivered_on']!r} is not a date"
        customer: Customer | None = None
        if problem is None and cell["account"]:
            try:
                customer = await find_account(session, cell["account"])
            except DirectoryError as exc:
                problem = f"account: {exc}"
        if problem is not None or delivered is None or warranty is None:
            report.errors.append((line, problem or "invalid line"))
            continue
        item = await session.scalar(select(WarrantyItem).where(WarrantyItem.serial == serial))
        if item is None:
            item = WarrantyItem(serial=serial)
            session.add(item)
            report.created += 1
        else:
            report.updated += 1
        item.model, item.model_key = model, model_key(model)
        item.delivered_on, item.warranty_months = delivered, warranty
        item.maintenance_months = interval or None
        item.customer_id = customer.id if customer else item.customer_id
        await session.flush()
    return report


def item_json(item: WarrantyItem, customer: Customer | None, on: date) -> dict[str, Any]:
    """The API form of an item, with whether it is under warranty ``on`` that day."""
    ends = warranty_ends(item)
    return {"serial": item.serial, "model": item.model,
            "customer": None if customer is None else {"name": customer.name,
                                                       "tax_code": customer.tax_code},
            "delivered_on": item.delivered_on.isoformat(),
            "warranty_months": item.warranty_months, "warranty_ends": ends.isoformat(),
            "in_warranty": item.delivered_on <= on <= ends,
            "maintenance_months": item.maintenance_months}


async def list_items(session: AsyncSession, *, account: str | None = None,
                     model: str | None = None, customer_id: int | None = None,
                     on: date) -> list[dict[str, Any]]:
    """Register items, by serial; ``account``, ``model`` and ``customer_id`` filter."""
    query = select(WarrantyItem, Customer).outerjoin(Customer,
                                                     Customer.id == WarrantyItem.customer_id)
    if customer_id is not None:
        query = query.where(WarrantyItem.customer_id == customer_id)
    if account:
        query = query.where(WarrantyItem.customer_id == (await find_account(session,
                                                                            account)).id)
    if model:
        query = query.where(WarrantyItem.model_key == model_key(model))
    rows = (await session.execute(query.order_by(WarrantyItem.serial))).all()
    return [item_json(i, c, on) for i, c in rows]


@dataclass(frozen=True)
class ItemPage:
    """One page of a register search: its items (``item_json`` form), which page of how many."""

    rows: list[dict[str, Any]]
    page: int
    pages: int
    total: int


def _like(term: str) -> Any:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return literal(f"%{escaped}%", String())


def _search_where(query: str) -> list[Any]:
    """Every word of ``query`` is in the serial (any spacing or case), the model or the
    account's name or tax code (without case or diacritics)."""
    where: list[Any] = []
    for term in terms(query):
        serial = serial_key(term)
        where.append(or_(
            *([WarrantyItem.serial.like(_like(serial), escape="\\")] if serial else []),
            WarrantyItem.model_key.like(_like(term), escape="\\"),
            folded(func.coalesce(Customer.name, "")).like(_like(term), escape="\\"),
            func.lower(func.coalesce(Customer.tax_code, "")).like(_like(term), escape="\\")))
    return where


async def search_items(session: AsyncSession, query: str, *, on: date, page: int = 1,
                       size: int = 200) -> ItemPage:
    """Page ``page`` (from 1; past the last: the last) of the register items ``query``
    matches (``_search_where``; blank: all), by serial, each in or out of warranty ``on``."""
    where = _search_where(query)
    joined = select(WarrantyItem, Customer).outerjoin(
        Customer, Customer.id == WarrantyItem.customer_id).where(*where)
    total = int(await session.scalar(select(func.count()).select_from(
        joined.with_only_columns(WarrantyItem.id).subquery())) or 0)
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    rows = (await session.execute(joined.order_by(WarrantyItem.serial)
                                  .offset((page - 1) * size).limit(size))).all()
    return ItemPage([item_json(i, c, on) for i, c in rows], page, pages, total)


async def item_claims(session: AsyncSession, serial: str, *, limit: int = 50,
                      tickets_where: Any = None) -> list[Ticket]:
    """The warranty and maintenance tickets that speak of the item ``serial`` (as
    ``match_ticket`` matches them) and its maintenance visits' tickets, newest first;
    ``tickets_where`` (a WHERE clause) keeps only those it selects."""
    item = await session.scalar(select(WarrantyItem).where(
        WarrantyItem.serial == serial_key(serial)))
    if item is None:
        return []
    visit_tickets = select(MaintenanceVisit.ticket_id).where(
        MaintenanceVisit.item_id == item.id, MaintenanceVisit.ticket_id.is_not(None))
    # candidates: the account's claims, and any claim whose text has the serial as written
    mentions = matches(item.serial)
    candidates = list(await session.scalars(select(Ticket).where(
        Ticket.category.in_(MATCHED_CATEGORIES) | Ticket.id.in_(visit_tickets),
        or_(Ticket.id.in_(visit_tickets), mentions,
            *([Ticket.customer_id == item.customer_id] if item.customer_id else [])),
        *([] if tickets_where is None else [tickets_where]))
        .order_by(Ticket.id.desc()).limit(limit * 4)))
    visits = set(await session.scalars(visit_tickets))
    found = []
    for ticket in candidates:
        task = ticket.id in visits or (ticket.kind == "maintenance" and (
            ticket.entities or {}).get("serial") == item.serial)
        if task or (ticket.kind == "customer" and any(
                m["serial"] == item.serial for m in await match_ticket(session, ticket))):
            found.append(ticket)
        if len(found) == limit:
            break
    return found


async def show_item(session: AsyncSession, serial: str, on: date) -> dict[str, Any]:
    """One item with its maintenance visits; ``DirectoryError`` when the serial is unknown."""
    item = await session.scalar(select(WarrantyItem).where(
        WarrantyItem.serial == serial_key(serial)))
    if item is None:
        raise DirectoryError(f"no product with serial {serial!r} in the register")
    customer = await session.get(Customer, item.customer_id) if item.customer_id else None
    visits = list(await session.scalars(select(MaintenanceVisit).where(
        MaintenanceVisit.item_id == item.id).order_by(MaintenanceVisit.due_on)))
    return item_json(item, customer, on) | {"visits": [
        {"due_on": v.due_on.isoformat(), "done_on": v.done_on.isoformat() if v.done_on else None,
         "outcome": v.outcome, "ticket_id": v.ticket_id} for v in visits]}


def serial_candidates(texts: Iterable[str]) -> set[str]:
    """Every token of ``texts`` that could be a serial (letters and digits, 5+ long), in the
    stored form; a serial the customer split with spaces ("SN 2024 0012") is joined too."""
    found: set[str] = set()
    for text in texts:
        normal = unicodedata.normalize("NFKC", text)
        for m in _TOKEN.finditer(normal):
            if any(ch.isdigit() for ch in m.group()):
                found.add(serial_key(m.group()))
        words = normal.split()
        for i in range(len(words) - 1):
            joined = serial_key(words[i] + words[i + 1])
            if len(joined) >= 5 and any(ch.isdigit() for ch in joined):
                found.add(joined)
    return found


async def match_ticket(session: AsyncSession, ticket: Ticket,
                       on: date | None = None) -> list[dict[str, Any]]:
    """The register items a warranty or maintenance ticket speaks of (empty for other
    categories): serials in its subject and customers' messages, else its account's products
    whose model the text names; each says whether it was under warranty on the day ``on``
    (by default the day the ticket came)."""
    if ticket.category not in MATCHED_CATEGORIES:
        return []
    texts = [ticket.subject or "", *await session.scalars(select(Message.text).where(
        Message.ticket_id == ticket.id, Message.direction == "inbound"))]
    items = list(await session.scalars(select(WarrantyItem).where(
        WarrantyItem.serial.in_(sorted(serial_candidates(texts))))))
    if not items and ticket.customer_id is not None:
        folded = " ".join(model_key(t) for t in texts)
        items = [i for i in await session.scalars(select(WarrantyItem).where(
            WarrantyItem.customer_id == ticket.customer_id).order_by(WarrantyItem.serial))
            if i.model_key and re.search(rf"(?<![0-9a-z]){re.escape(i.model_key)}(?![0-9a-z])",
                                         folded)]
    if on is None:
        on = ticket.created_at.astimezone(LOCAL).date()
    customers = {c.id: c for c in await session.scalars(select(Customer).where(
        Customer.id.in_([i.customer_id for i in items if i.customer_id])))} if items else {}
    return [item_json(i, customers.get(i.customer_id or 0), on) for i in items]
