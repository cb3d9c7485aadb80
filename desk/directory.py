"""The customer directory: listing, one account in full, export, and allocating accounts.

The export's columns are the import's (``router.customers.COLUMNS``), so a file exported and
imported again changes nothing; xlsx sheets are read back through the same CSV import.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import openpyxl
import xlsxwriter
from sqlalchemy import String, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.search import bytewise, folded, terms
from normalizer.identity import name_key
from router.customers import COLUMNS, TIERS
from router.staff import find_staff
from storage.models import (
    Contact,
    ContactIdentity,
    Customer,
    CustomerDomain,
    Staff,
    Survey,
    Ticket,
)
from storage.search_fold import fold

PAGE_ROWS = 200


class DirectoryError(ValueError):
    """An account that cannot be found, or a request the directory cannot carry out."""


@dataclass(frozen=True)
class Filters:
    """Which accounts a listing or an allocation takes; ``None``: any."""

    tier: str | None = None
    segment: str | None = None
    owner: str | None = None  # a staff name, or "none" for accounts nobody owns
    search: str | None = None  # words of the name or tax code, with or without diacritics
    owner_id: int | None = None  # a staff id (the pages' owner picker)


def _pattern(term: str) -> Any:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return literal(f"%{escaped}%", String())


def _contact_matches(term: str) -> Any:
    """An account one of whose contacts has ``term`` (folded) in their name, e-mail or phone;
    a phone typed the Vietnamese way (``0901…``) also finds its stored E.164 form."""
    like = [folded(func.coalesce(Contact.name, "")).like(_pattern(term), escape="\\"),
            func.lower(func.coalesce(Contact.email, "")).like(_pattern(term), escape="\\")]
    digits = term.removeprefix("+")
    if digits.isdigit() and len(digits) >= 3:
        like.append(func.coalesce(Contact.phone, "").like(_pattern(digits), escape="\\"))
        if digits.startswith("0") and len(digits) > 3:
            like.append(func.coalesce(Contact.phone, "").like(_pattern("+84" + digits[1:]),
                                                              escape="\\"))
    return exists(select(Contact.id).where(Contact.customer_id == Customer.id, or_(*like)))


async def _where(session: AsyncSession, filters: Filters, *, contacts: bool = False,
                 name: Any = None) -> list[Any]:
    """The WHERE clauses of ``filters``; ``contacts``: a search looks in the contacts too;
    ``name``: the account's folded name as the query already has it (else folded here)."""
    where: list[Any] = []
    name = folded(Customer.name) if name is None else name
    if filters.tier:
        if filters.tier not in TIERS:
            raise DirectoryError(f"tier must be one of {', '.join(TIERS)}")
        where.append(Customer.tier == filters.tier)
    if filters.segment:
        where.append(func.lower(Customer.segment) == filters.segment.strip().lower())
    if filters.owner:
        if filters.owner.strip().lower() == "none":
            where.append(Customer.owner_id.is_(None))
        else:
            where.append(Customer.owner_id == (await find_staff(session, filters.owner)).id)
    if filters.owner_id is not None:
        where.append(Customer.owner_id == filters.owner_id)
    for term in terms(filters.search or ""):
        where.append(or_(name.like(_pattern(term), escape="\\"),
                         func.lower(func.coalesce(Customer.tax_code, "")).like(
                             _pattern(term), escape="\\"),
                         *([_contact_matches(term)] if contacts else [])))
    return where


async def list_accounts(session: AsyncSession, filters: Filters = Filters()) -> list[
        dict[str, Any]]:
    """The accounts ``filters`` take, by name, each with its owner and counts."""
    return await _with_counts(session, await _accounts(session, filters))


async def _with_counts(session: AsyncSession, customers: list[Customer]) -> list[
        dict[str, Any]]:
    ids = [c.id for c in customers]
    owners = await _staff_names(session)
    contacts = dict((await session.execute(
        select(Contact.customer_id, func.count()).where(Contact.customer_id.in_(ids))
        .group_by(Contact.customer_id))).all()) if ids else {}
    tickets = dict((await session.execute(
        select(Ticket.customer_id, func.count()).where(
            Ticket.customer_id.in_(ids), Ticket.status.not_in(("resolved", "closed")))
        .group_by(Ticket.customer_id))).all()) if ids else {}
    return [_summary(c, owners) | {"contacts": contacts.get(c.id, 0),
                                   "open_tickets": tickets.get(c.id, 0)} for c in customers]


@dataclass(frozen=True)
class AccountPage:
    """One page of a listing: its rows (``list_accounts``' form), which page of how many."""

    rows: list[dict[str, Any]]
    page: int
    pages: int
    total: int


async def account_page(session: AsyncSession, filters: Filters = Filters(), *, page: int = 1,
                       size: int = PAGE_ROWS) -> AccountPage:
    """Page ``page`` (from 1; past the last: the last) of the accounts ``filters`` take, in
    ``list_accounts``' order, ``size`` rows a page. Here a search also looks in the contacts'
    names, e-mail addresses and phone numbers."""
    # each account's name folded once, for the order and every word of the search (on
    # PostgreSQL the folding, translate(), is what a search of 2,000 accounts spends)
    names = select(Customer.id.label("id"), folded(Customer.name_key).label("fold")).cte(
        "folded_names").prefix_with("MATERIALIZED", dialect="postgresql")
    where = await _where(session, filters, contacts=True, name=names.c.fold)
    query = select(Customer, func.count().over().label("total")).join(
        names, names.c.id == Customer.id).where(*where).order_by(
        bytewise(names.c.fold), bytewise(Customer.name_key), Customer.id)
    page = max(1, page)
    rows = (await session.execute(query.offset((page - 1) * size).limit(size))).all()
    if not rows and page > 1:  # past the last page: the last one
        total = int(await session.scalar(select(func.count()).select_from(Customer).join(
            names, names.c.id == Customer.id).where(*where)) or 0)
        page = max(1, -(-total // size))
        rows = (await session.execute(query.offset((page - 1) * size).limit(size))).all()
    total = int(rows[0].total) if rows else 0
    customers = [row[0] for row in rows]
    return AccountPage(await _with_counts(session, customers), page,
                       max(1, -(-total // size)), total)


async def _accounts(session: AsyncSession, filters: Filters) -> list[Customer]:
    """The accounts ``filters`` take, by name as people read it (the same on both databases,
    whatever their collation): diacritics-free first, then as written."""
    found = await session.scalars(select(Customer).where(*await _where(session, filters)))
    return sorted(found, key=lambda c: (fold(c.name_key) or "", c.name_key, c.id))


async def _staff_names(session: AsyncSession) -> dict[int, str]:
    return dict((await session.execute(select(Staff.id, Staff.name))).all())


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _summary(c: Customer, owners: dict[int, str]) -> dict[str, Any]:
    return {"id": str(c.public_id), "name": c.name, "tax_code": c.tax_code, "tier": c.tier,
            "segment": c.segment, "owner": owners.get(c.owner_id) if c.owner_id else None,
            "active": c.active, "founded_on": _iso(c.founded_on),
            "opened_on": _iso(c.opened_on)}


async def find_account(session: AsyncSession, key: str) -> Customer:
    """The account ``key`` names: its tax code, its name (case ignored), or words of its name
    that fit one account only (with or without diacritics); ``DirectoryError`` otherwise."""
    key = key.strip()
    found = await session.scalar(select(Customer).where(Customer.tax_code == key))
    if found is None:
        found = await session.scalar(select(Customer).where(Customer.name_key == name_key(key)))
    if found is not None:
        return found
    candidates = list(await session.scalars(select(Customer).where(
        *await _where(session, Filters(search=key))).order_by(Customer.name_key).limit(6)))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DirectoryError(f"no account {key!r} (give its tax code or name)")
    names = "; ".join(c.name for c in candidates[:5])
    raise DirectoryError(f"{key!r} could be any of: {names}")


async def account_detail(session: AsyncSession, key: str) -> dict[str, Any]:
    """One account in full: contacts with their channels, tickets, survey answers."""
    return await describe_account(session, await find_account(session, key))


async def account_by_id(session: AsyncSession, public_id: str) -> Customer | None:
    """The account whose public id (the pages' ``/customers/{id}``) is ``public_id``."""
    try:
        key = uuid.UUID(public_id)
    except ValueError:
        return None
    return await session.scalar(select(Customer).where(Customer.public_id == key))


async def describe_account(session: AsyncSession, customer: Customer, *,
                           tickets_where: Any = None) -> dict[str, Any]:
    """``customer`` in full, as ``account_detail`` gives it; ``tickets_where`` (a WHERE
    clause) keeps only the tickets it selects (the pages: those the officer may see)."""
    owners = await _staff_names(session)
    contacts = list(await session.scalars(select(Contact).where(
        Contact.customer_id == customer.id).order_by(Contact.id)))
    identities: dict[int, list[str]] = {}
    for identity in await session.scalars(select(ContactIdentity).where(
            ContactIdentity.contact_id.in_([c.id for c in contacts]))):
        identities.setdefault(identity.contact_id, []).append(identity.kind)
    tickets = list(await session.scalars(select(Ticket).where(
        Ticket.customer_id == customer.id,
        *([] if tickets_where is None else [tickets_where]))
        .order_by(Ticket.id.desc()).limit(50)))
    surveys = list(await session.scalars(select(Survey).where(
        Survey.customer_id == customer.id, Survey.answered_at.is_not(None))
        .order_by(Survey.answered_at.desc()).limit(50)))
    domains = list(await session.scalars(select(CustomerDomain.domain).where(
        CustomerDomain.customer_id == customer.id).order_by(CustomerDomain.domain)))
    return _summary(customer, owners) | {
        "domains": domains,
        "contacts": [{"name": c.name, "email": c.email, "phone": c.phone,
                      "channels": sorted({*identities.get(c.id, []),
                                          *(["email"] if c.email else []),
                                          *(["phone"] if c.phone else [])}),
                      "survey_contact": c.survey_contact} for c in contacts],
        "tickets": [{"number": t.number, "kind": t.kind, "status": t.status,
                     "category": t.category, "subject": t.subject,
                     "created_at": t.created_at.isoformat()} for t in tickets],
        "surveys": [{"kind": s.kind, "rating": s.rating, "comment": s.comment,
                     "answered_at": s.answered_at.isoformat() if s.answered_at else None}
                    for s in surveys],
    }


async def export_rows(session: AsyncSession, filters: Filters = Filters()) -> list[
        dict[str, str]]:
    """The accounts as import rows (``router.customers.COLUMNS``), by name."""
    customers = await _accounts(session, filters)
    ids = [c.id for c in customers]
    owners = await _staff_names(session)
    contacts: dict[int, list[Contact]] = {}
    for contact in await session.scalars(select(Contact).where(
            Contact.customer_id.in_(ids)).order_by(Contact.id)):
        contacts.setdefault(contact.customer_id or 0, []).append(contact)
    domains: dict[int, list[str]] = {}
    for domain in await session.scalars(select(CustomerDomain).where(
            CustomerDomain.customer_id.in_(ids)).order_by(CustomerDomain.domain)):
        domains.setdefault(domain.customer_id, []).append(domain.domain)
    rows = []
    for c in customers:
        mine = contacts.get(c.id, [])
        marked = next((k for k in mine if k.survey_contact), None)
        rows.append({
            "name": c.name, "tax_code": c.tax_code or "", "tier": c.tier,
            "segment": c.segment or "",
            "owner": owners.get(c.owner_id, "") if c.owner_id else "",
            "emails": ";".join(k.email for k in mine if k.email),
            "phones": ";".join(k.phone for k in mine if k.phone),
            "domains": ";".join(domains.get(c.id, [])),
            "active": "yes" if c.active else "no",
            "survey_contact": (marked.email or marked.phone or "") if marked else "",
            "founded_on": _iso(c.founded_on) or "", "opened_on": _iso(c.opened_on) or "",
        })
    return rows


def rows_csv(rows: Sequence[dict[str, str]]) -> str:
    """Import rows as CSV text (header first)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def rows_xlsx(rows: Sequence[dict[str, str]]) -> bytes:
    """Import rows as an xlsx workbook: one sheet, header first, every cell text."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("customers")
    text = book.add_format({"num_format": "@"})
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, COLUMNS, bold)
    for number, row in enumerate(rows, start=1):
        for column, name in enumerate(COLUMNS):
            sheet.write_string(number, column, row.get(name, ""), text)
    book.close()
    return buffer.getvalue()


def xlsx_csv(data: bytes) -> str:
    """The first sheet of an xlsx workbook as CSV text, for ``import_customers``.

    Dates typed as dates become ISO dates, whole numbers lose Excel's ``.0``; a workbook that
    cannot be read raises ``DirectoryError``.
    """
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a file that is not a workbook
        raise DirectoryError(f"not a readable xlsx workbook: {exc}") from exc
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in book.worksheets[0].iter_rows(values_only=True):
        writer.writerow([_cell_text(v) for v in row])
    book.close()
    return out.getvalue()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def allocate(session: AsyncSession, owner_id: int, *,
                   customer_ids: Sequence[int] = (), filters: Filters | None = None) -> int:
    """Give the accounts ``customer_ids``, and every account ``filters`` take as the
    ``/customers`` page lists them (a search looks in the contacts too), to the officer
    ``owner_id``; how many accounts that is."""
    chosen = set(customer_ids)
    if filters is not None:
        chosen.update(await session.scalars(select(Customer.id).where(
            *await _where(session, filters, contacts=True))))
    for customer in await session.scalars(select(Customer).where(Customer.id.in_(chosen))):
        customer.owner_id = owner_id
    await session.flush()
    return len(chosen)


async def assign_owner(session: AsyncSession, owner: str, *, accounts: Sequence[str] = (),
                       filters: Filters | None = None) -> list[Customer]:
    """Give the named ``accounts`` (tax codes or names, see ``find_account``) and those
    ``filters`` take to the officer ``owner``; returns them. Nothing is changed when any
    account cannot be found or nothing is named at all."""
    officer = await find_staff(session, owner)
    chosen: dict[int, Customer] = {}
    for key in accounts:
        customer = await find_account(session, key)
        chosen[customer.id] = customer
    if filters is not None:
        for customer in await session.scalars(select(Customer).where(
                *await _where(session, filters))):
            chosen[customer.id] = customer
    if not accounts and filters is None:
        raise DirectoryError("name accounts, or choose them with --tier, --segment or --file")
    for customer in chosen.values():
        customer.owner_id = officer.id
    await session.flush()
    return sorted(chosen.values(), key=lambda c: (fold(c.name_key) or "", c.name_key, c.id))
