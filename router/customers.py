"""Loading B2B accounts from a CSV file: name, tax code, tier, segment, owner, contacts."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from normalizer.identity import name_key, normalize_email, normalize_phone
from router.staff import StaffError, match_staff
from storage.models import Contact, Customer, CustomerDomain, Staff

TIERS = ("key", "standard", "small")
COLUMNS = ("name", "tax_code", "tier", "segment", "owner", "emails", "phones", "domains",
           "active", "survey_contact", "founded_on", "opened_on")
# ``founded_on``, ``opened_on``: the company's founding and its store's opening (ISO dates,
# YYYY-MM-DD; blank keeps what is known), remembered by the yearly care plan
# ``active``: whether we still serve the account (blank keeps it; new accounts are active)
YES = frozenset({"1", "yes", "y", "true", "có", "co", "x"})
NO = frozenset({"0", "no", "n", "false", "không", "khong"})
# Addresses at these domains say nothing about the company a person works for.
FREE_MAIL = frozenset({"gmail.com", "yahoo.com", "yahoo.com.vn", "hotmail.com", "outlook.com",
                       "icloud.com", "live.com", "zoho.com", "proton.me", "protonmail.com"})
_TAX_CODE = re.compile(r"^\d{10}(-\d{3})?$")
_SPLIT = re.compile(r"[;,\s]+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class ImportReport:
    """What an import did, and the lines it refused (1-based, header is line 1)."""

    created: int = 0
    updated: int = 0
    contacts: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _cell(row: dict[str, str | None], column: str) -> str:
    return unicodedata.normalize("NFC", (row.get(column) or "").strip())


def read_rows(text: str) -> Iterable[tuple[int, dict[str, str | None]]]:
    """Rows of a CSV text (UTF-8, an Excel BOM tolerated) with their line numbers."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    missing = [c for c in ("name", "tax_code", "tier") if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"the CSV needs the columns {', '.join(COLUMNS)}; "
                         f"missing: {', '.join(missing)}")
    for row in reader:
        yield reader.line_num, row


def _owner(staff: list[Staff], name: str) -> tuple[int | None, str | None]:
    """The owner's id (names match as on the command line), or why there is none."""
    if not name:
        return None, None
    try:
        return match_staff(staff, name).id, None
    except StaffError as exc:
        return None, f"owner: {exc}"


async def import_customers(session: AsyncSession, text: str) -> ImportReport:
    """Create or update accounts (matched by tax code, else by name) and attach contacts.

    A line with an invalid tax code, tier, owner, e-mail or phone is refused whole and listed
    in the report; the other lines are imported. Contacts that belong to another account are
    moved to this one.
    """
    report = ImportReport()
    staff = list(await session.scalars(select(Staff).order_by(Staff.id)))
    for line, row in read_rows(text):
        name, tax_code, tier = _cell(row, "name"), _cell(row, "tax_code"), _cell(row, "tier")
        owner = _cell(row, "owner")
        owner_id, owner_problem = _owner(staff, owner)
        emails = [e for e in _SPLIT.split(_cell(row, "emails")) if e]
        phones = [p for p in re.split(r"[;,]+", _cell(row, "phones")) if p.strip()]
        domains = [d.lower().lstrip("@") for d in _SPLIT.split(_cell(row, "domains")) if d]
        problem = (
            "name is empty" if not name else
            f"tax code {tax_code!r} is not 10 or 10-3 digits"
            if tax_code and not _TAX_CODE.match(tax_code) else
            f"tier must be one of {', '.join(TIERS)}" if (tier or "standard") not in TIERS else
            owner_problem or
            next((f"invalid e-mail {e!r}" for e in emails if "@" not in e), None) or
            next((f"invalid phone {p!r}" for p in phones if not normalize_phone(p)), None) or
            next((f"{d!r} is a free-mail or invalid domain" for d in domains
                  if d in FREE_MAIL or "." not in d), None) or
            _flag_problem(_cell(row, "active")) or
            _date_problem(row, "founded_on") or _date_problem(row, "opened_on") or
            _survey_contact_problem(_cell(row, "survey_contact"), emails, phones)
        )
        if problem:
            report.errors.append((line, problem))
            continue
        customer = await session.scalar(select(Customer).where(
            Customer.tax_code == tax_code if tax_code else Customer.name_key == name_key(name)))
        if customer is None:
            customer = Customer(name=name, name_key=name_key(name), tax_code=tax_code or None)
            session.add(customer)
            report.created += 1
        else:
            report.updated += 1
        customer.name, customer.name_key = name, name_key(name)
        customer.tier = tier or "standard"
        customer.segment = _cell(row, "segment") or customer.segment
        customer.owner_id = owner_id or customer.owner_id
        await session.flush()
        for email in (normalize_email(e) for e in emails):
            contact = await session.scalar(select(Contact).where(Contact.email == email))
            await _attach(session, customer, contact or Contact(email=email))
            report.contacts += 1
        for domain in domains:
            known = await session.get(CustomerDomain, domain)
            if known is None:
                session.add(CustomerDomain(domain=domain, customer_id=customer.id))
            else:
                known.customer_id = customer.id
        for phone in (normalize_phone(p) for p in phones):
            contact = await session.scalar(select(Contact).where(Contact.phone == phone))
            await _attach(session, customer, contact or Contact(phone=phone))
            report.contacts += 1
        for column in ("founded_on", "opened_on"):
            if (day := _cell(row, column)):
                setattr(customer, column, date.fromisoformat(day))
        if (active := _cell(row, "active").lower()):
            customer.active = active in YES
        if (marked := _cell(row, "survey_contact")):
            await _mark_survey_contact(session, customer, marked)
    return report


def _date_problem(row: dict[str, str | None], column: str) -> str | None:
    value = _cell(row, column)
    if not value:
        return None
    if not _ISO_DATE.fullmatch(value):
        return f"{column} {value!r} is not an ISO date (YYYY-MM-DD)"
    try:
        date.fromisoformat(value)
    except ValueError:
        return f"{column} {value!r} is not a date"
    return None


def _flag_problem(value: str) -> str | None:
    if value and value.lower() not in YES | NO:
        return f"active must be yes or no, not {value!r}"
    return None


def _survey_contact_problem(value: str, emails: list[str], phones: list[str]) -> str | None:
    if not value:
        return None
    if "@" in value:
        known = {normalize_email(e) for e in emails}
        return None if normalize_email(value) in known else (
            f"survey contact {value!r} is not one of the line's e-mails")
    known_phones = {normalize_phone(p) for p in phones}
    return None if normalize_phone(value) and normalize_phone(value) in known_phones else (
        f"survey contact {value!r} is not one of the line's e-mails or phones")


async def _mark_survey_contact(session: AsyncSession, customer: Customer, value: str) -> None:
    """Make the contact ``value`` (an e-mail or phone) the account's only survey contact."""
    key = (Contact.email == normalize_email(value) if "@" in value
           else Contact.phone == normalize_phone(value))
    for contact in await session.scalars(select(Contact).where(
            Contact.customer_id == customer.id)):
        contact.survey_contact = False
    marked = await session.scalar(select(Contact).where(key))
    if marked is not None:
        marked.survey_contact = True
    await session.flush()


async def _attach(session: AsyncSession, customer: Customer, contact: Contact) -> None:
    session.add(contact)
    contact.customer_id = customer.id
    await session.flush()
