"""Structured references found in a customer's message.

`extract_entities` reads phone numbers, e-mail addresses, tax codes, order
numbers, e-invoice references, amounts in đồng and dates out of free text,
written with or without Vietnamese diacritics. It never changes the text.

Spans are claimed in a fixed order (e-mails and links, tax codes, order
numbers, invoice references, phones, dates, amounts); once a span is claimed
no later extractor sees it, which is how a tax code is kept from also being
read as a phone number and a phone number from being read as an amount.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal, TypeVar

import phonenumbers
from pydantic import BaseModel, ConfigDict

from normalizer.text import ClaimableText, parse_number, scanned

__all__ = ["Entities", "OrderRef", "extract_entities"]

OrderSource = Literal["shopee", "lazada", "tiktok", "internal"]

# Vietnam has no daylight saving time: a fixed offset is exact.
VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


class OrderRef(BaseModel):
    """An order number and where its shape says it comes from."""

    model_config = ConfigDict(frozen=True)

    value: str
    source: OrderSource


class Entities(BaseModel):
    """Everything `extract_entities` found, each list in order of first
    appearance and without duplicates."""

    model_config = ConfigDict(frozen=True)

    phones: tuple[str, ...] = ()
    """E.164, e.g. ``+84912345678``."""
    emails: tuple[str, ...] = ()
    """Lowercased."""
    tax_codes: tuple[str, ...] = ()
    """``0312345678`` or, for a branch, ``0312345678-001``."""
    orders: tuple[OrderRef, ...] = ()
    invoice_symbols: tuple[str, ...] = ()
    """E-invoice ký hiệu, uppercase: ``1C24TAA``, ``C24TAA``."""
    invoice_numbers: tuple[str, ...] = ()
    """Số hóa đơn as written (digits): ``0000123``, ``123``."""
    amounts: tuple[int, ...] = ()
    """Amounts of money in đồng."""
    dates: tuple[date, ...] = ()


T = TypeVar("T")


def _in_order(found: Iterable[tuple[int, T]]) -> tuple[T, ...]:
    """Values sorted by where they start in the text, first occurrence kept."""
    return tuple(dict.fromkeys(v for _, v in sorted(found, key=lambda pv: pv[0])))


def _take(sc: ClaimableText, pattern: re.Pattern[str], value: Callable[[re.Match[str]], T | None],
          group: int = 0) -> list[tuple[int, T]]:
    """``(start, value)`` of each unclaimed match of `pattern` whose `value` is not None,
    claiming the span of `group`; matches valued None are skipped and left unclaimed."""
    found: list[tuple[int, T]] = []
    for m in sc.finditer(pattern):
        v = value(m)
        if v is not None:
            found.append((m.start(group), v))
            sc.claim(*m.span(group))
    return found


# --- e-mails and links --------------------------------------------------------

# A match is tried only where a run of address characters starts (the lookbehind), and what it
# takes it never gives back (possessive ``*+``/``++``: none of those characters can follow the
# run), so a run without "@" costs one pass, not one pass per letter (quadratic: 0.6 s for
# 30,000 letters without a space). The leading punctuation of a run is not the address.
_EMAIL = re.compile(r"(?<![a-z0-9._%+-])[._%+-]*+"
                    r"([a-z0-9][a-z0-9._%+-]*+@[a-z0-9-]++(?:\.[a-z0-9-]++)*\.[a-z]{2,})")
_URL = re.compile(r"(?:https?://|www\.)\S+")


def _emails(sc: ClaimableText) -> list[tuple[int, str]]:
    found = _take(sc, _EMAIL, lambda m: sc.original[m.start(1):m.end(1)].lower(), 1)
    _take(sc, _URL, lambda m: "")  # links are claimed so no digits inside them are read
    return found


# --- tax codes -------------------------------------------------------------------

_TAX_CONTEXT = re.compile(
    r"(?<!\w)(?:ma so thue|ma so doanh nghiep|msdn|mst|tax code|tax id|masothue)"
    r"[\s:.#-]*(?:(?:cua\s+)?(?:cong ty|cty|la|so|moi|cu|ben (?:em|minh|toi))[\s:.-]*)*"
    r"(?<![\d-])(\d{10}(?:-\d{3})?)(?![\w-])"
)
_TAX_BRANCH = re.compile(r"(?<![\w-])(\d{10}-\d{3})(?![\w-])")


def _tax_codes(sc: ClaimableText) -> list[tuple[int, str]]:
    return [f for p in (_TAX_CONTEXT, _TAX_BRANCH) for f in _take(sc, p, lambda m: m.group(1), 1)]


# --- orders ----------------------------------------------------------------------

# Internal forms: ĐH-2024-00123, DH00123, ĐĐH 4512, PO-2024-0456, SO-1234 (SO only
# in capitals, since "so" is also the folded "số").
_INTERNAL_ORDER = re.compile(
    r"(?<![\w-])(ddh|dh|po|so)[-\s#.:]?((?:\d{2,4}[-/.])?\d{3,10})(?![\w-])"
)
_ORDER_CONTEXT = re.compile(
    r"(?<!\w)(?<!hoa )(?:ma don hang|ma don|don hang so|don so|so don hang|so don|order id|"
    r"order no\.?|"
    r"order|ma order)[\s:#.]*(?:so|la|no\.?)?[\s:#.]*([0-9a-z]{5,20})(?![\w-])"
)
# Shopee order_sn: YYMMDD followed by 8 upper-case alphanumerics.
_SHOPEE = re.compile(
    r"(?<![\w-])(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[0-9a-z]{8})(?![\w-])"
)
_LAZADA = re.compile(r"(?<![\w.,-])(\d{15})(?![\w-]|[.,]\d)")
_TIKTOK = re.compile(r"(?<![\w.,-])(\d{18})(?![\w-]|[.,]\d)")


def _marketplace_source(value: str) -> OrderSource | None:
    if _SHOPEE.fullmatch(value) and any(c.isalpha() for c in value):
        return "shopee"
    if value.isdigit() and len(value) == 15:
        return "lazada"
    if value.isdigit() and len(value) == 18:
        return "tiktok"
    return None


def _orders(sc: ClaimableText) -> list[tuple[int, OrderRef]]:
    def internal(m: re.Match[str]) -> OrderRef | None:
        if m.group(1) == "so" and sc.original[m.start(1):m.end(1)] != "SO":
            return None
        value = f"{m.group(1).upper()}{sc.original[m.end(1):m.end()]}"
        return OrderRef(value=re.sub(r"\s+", "", value), source="internal")

    def labelled(m: re.Match[str]) -> OrderRef | None:
        value = m.group(1)
        if sum(c.isdigit() for c in value) < 5:
            return None
        return OrderRef(value=value.upper(), source=_marketplace_source(value) or "internal")

    def marketplace(m: re.Match[str]) -> OrderRef | None:
        source = _marketplace_source(m.group(1))
        return OrderRef(value=m.group(1).upper(), source=source) if source else None

    found = _take(sc, _INTERNAL_ORDER, internal) + _take(sc, _ORDER_CONTEXT, labelled, 1)
    for pattern in (_SHOPEE, _TIKTOK, _LAZADA):
        found += _take(sc, pattern, marketplace, 1)
    return found


# --- e-invoices --------------------------------------------------------------------

# Ký hiệu under Decree 123/2020 & Circular 78/2021: optional form digit (1-6),
# C/K (with/without tax authority code), 2-digit year, invoice kind letter,
# 2 seller letters: 1C24TAA / C24TAA. Older form: AA/20E.
_INVOICE_SYMBOL = re.compile(
    r"(?<![\w/])([1-6]?[ck]\d{2}[tdlmnbgh][a-z]{2}|[a-z]{2}/\d{2}[ep])(?![\w/])"
)
_INVOICE_NUMBER_AFTER_SYMBOL = re.compile(r"[\s,:;/-]*(?:so|no\.?|#)?[\s:#.]*(\d{1,8})(?!\d)")
_INVOICE_NUMBER = re.compile(
    r"(?<!\w)(?:(?:so hoa don|so hd|invoice no\.?|invoice number|invoice #)[\s:#.]*(\d{1,8})"
    r"|(?:hoa don|hd|invoice)(?:\s+(?:dien tu|gtgt|vat|do|ban hang))?"
    r"(?:[\s:]*(?:so|no\.?|#)[\s:.#]*(\d{1,8})|[\s:#]*(\d{7,8})))"
    r"(?![\d/.,-]*\d)(?!\w)"
)


def _invoices(sc: ClaimableText) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    symbols: list[tuple[int, str]] = []
    numbers: list[tuple[int, str]] = []
    for m in sc.finditer(_INVOICE_SYMBOL):
        symbols.append((m.start(1), m.group(1).upper()))
        sc.claim(*m.span(1))
        after = _INVOICE_NUMBER_AFTER_SYMBOL.match(sc.folded, m.end())
        if after:
            numbers.append((after.start(1), after.group(1)))
            sc.claim(*after.span(1))
    for m in sc.finditer(_INVOICE_NUMBER):
        group = next(g for g in (1, 2, 3) if m.group(g))
        numbers.append((m.start(group), m.group(group)))
        sc.claim(*m.span(group))
    return symbols, numbers


# --- phones ----------------------------------------------------------------------

_PHONE = re.compile(
    r"(?<![\w+])(?<!\d[.,/-])((?:\+\s?84|84|\(?0)\d{0,3}\)?(?:[\s.-]?\d){6,10}|1[89]00[\s.-]?\d{4,6})"
    r"(?!\w)(?![.,/-]\d)"
)
_PHONE_GROUPS = re.compile(r"\+?\d+")


def _parse_phone(candidate: str) -> tuple[str, int] | None:
    """E.164 form and the length of the prefix of `candidate` it used; a
    trailing group that makes the number invalid is dropped."""
    groups = [g for g in _PHONE_GROUPS.finditer(candidate) if g.group()]
    while groups and sum(len(g.group()) for g in groups) >= 8:
        digits = "".join(g.group() for g in groups)
        try:
            num = phonenumbers.parse(digits, "VN")
        except phonenumbers.NumberParseException:
            return None
        if phonenumbers.is_valid_number(num):
            e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            return e164, groups[-1].end()
        groups.pop()
    return None


def _phones(sc: ClaimableText) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for m in sc.finditer(_PHONE):
        parsed = _parse_phone(m.group(1))
        if parsed:
            found.append((m.start(1), parsed[0]))
            sc.claim(m.start(1), m.start(1) + parsed[1])
    return found


# --- dates -------------------------------------------------------------------------

_NUMERIC_DATE = re.compile(
    r"(?<![\w/.,:-])(\d{1,2})([/.-])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\w/-]|[.,:]\d)"
    r"(?!\s*(?:ngay|tuan|thang|nam|gio|tieng|phut|lan|cai|thung|hop|chiec|bo|kg|%|ti\b|ty\b|tr\b|trieu|k\b))"
)
_WORDY_DATE = re.compile(
    r"(?:ngay|mung|mong)\s+(\d{1,2})\s+thang\s+(\d{1,2})(?:\s+nam\s+(\d{4}))?(?!\d)"
)
_ISO_DATE = re.compile(r"(?<![\w/.-])(\d{4})-(\d{2})-(\d{2})(?![\w-]|[.,:]\d)")
_RELATIVE = re.compile(r"(?<!\w)(hom nay|hnay|hom qua|hqua|hom kia|ngay mai|ngay kia)(?!\w)")
_RELATIVE_DAYS = {"hom nay": 0, "hnay": 0, "hom qua": -1, "hqua": -1, "hom kia": -2,
                  "ngay mai": 1, "ngay kia": 2}
_FRACTIONS = {("1", "2"), ("1", "3"), ("2", "3"), ("1", "4"), ("3", "4")}


def _make_date(day: int, month: int, year: int | None, today: date) -> date | None:
    if year is not None and year < 100:
        year += 2000
    try:
        if year is not None:
            return date(year, month, day)
        guess = date(today.year, month, day)
    except ValueError:
        return None
    # A date without a year that would be half a year ahead is last year's.
    if guess - today > timedelta(days=183):
        try:
            return date(today.year - 1, month, day)
        except ValueError:
            return None
    return guess


def _dates(sc: ClaimableText, today: date) -> list[tuple[int, date]]:
    def numeric(m: re.Match[str]) -> date | None:
        day, sep, month, year = m.group(1), m.group(2), m.group(3), m.group(4)
        if year is None and sep == ".":
            return None
        preceded_by_day = sc.folded[max(0, m.start() - 5):m.start()].endswith("ngay ")
        if year is None and (day, month) in _FRACTIONS and not preceded_by_day:
            return None
        return _make_date(int(day), int(month), int(year) if year else None, today)

    return (
        _take(sc, _ISO_DATE, lambda m: _make_date(int(m[3]), int(m[2]), int(m[1]), today))
        + _take(sc, _WORDY_DATE, lambda m: _make_date(int(m[1]), int(m[2]),
                                                      int(m[3]) if m[3] else None, today))
        + _take(sc, _NUMERIC_DATE, numeric)
        + _take(sc, _RELATIVE, lambda m: today + timedelta(days=_RELATIVE_DAYS[m[1]]))
    )


# --- amounts -----------------------------------------------------------------------

_NUM = r"\d+(?:[.,]\d+)*"
_SCALES = {"ty": 10**9, "ti": 10**9, "trieu": 10**6, "tr": 10**6,
           "nghin": 10**3, "ngan": 10**3, "k": 10**3}
_UNIT = r"(ty|ti|trieu|tr|nghin|ngan|k)"
_SCALED_START = re.compile(rf"(?<![\w.,-])({_NUM})\s?(?:(tram)\s)?{_UNIT}(?=\d|(?![a-z]))")
_SCALED_NEXT = re.compile(rf"\s*(?:le\s+)?({_NUM})\s?{_UNIT}(?![a-z])")
_GLUED_FRACTION = re.compile(r"(\d{1,3})(?!\w|[.,]\d)")
_HALF = re.compile(r"\s*ruoi(?![a-z])")
# Folded spellings are ambiguous ("ngan" is also ngắn/ngăn, "dong" also đóng):
# the unit must be written as one of these in the original.
_UNIT_SPELLINGS = frozenset({"tỷ", "tỉ", "ty", "ti", "triệu", "trieu", "tr", "nghìn", "nghin",
                             "ngàn", "ngan", "k", "đ", "d", "đồng", "dong", "vnd", "vnđ"})
_CURRENCY_SUFFIX = re.compile(r"\s?(?:vnd|dong)(?![a-z])|d(?![a-z])")
_PLAIN = re.compile(
    rf"(?<![\w.,-])({_NUM})\s?(vnd|dong|d)(?![a-z])"
)


def _spelled_as_unit(sc: ClaimableText, start: int, end: int) -> bool:
    return sc.original[start:end].lower() in _UNIT_SPELLINGS


def _scaled_amount(sc: ClaimableText, m: re.Match[str]) -> tuple[int, int] | None:
    """Value in đồng and end offset of a scaled amount starting at `m`."""
    f = sc.folded
    number = parse_number(m.group(1), comma_thousands=False)
    if number is None or not _spelled_as_unit(sc, *m.span(3)):
        return None
    scale = _SCALES[m.group(3)] * (100 if m.group(2) else 1)
    total = number * scale
    end = m.end()
    glued = _GLUED_FRACTION.match(f, end) if scale >= 10**6 else None
    if glued:  # 1tr2 = 1,2 triệu; 2tr250 = 2,25 triệu
        digits = glued.group(1)
        total += Decimal(f"0.{digits}") * scale
        end = glued.end()
    elif half := _HALF.match(f, end):
        total += Decimal(scale) / 2
        end = half.end()
    while nxt := _SCALED_NEXT.match(f, end):
        nxt_scale = _SCALES[nxt.group(2)]
        nxt_number = parse_number(nxt.group(1), comma_thousands=False)
        if nxt_scale >= scale or nxt_number is None or not _spelled_as_unit(sc, *nxt.span(2)):
            break
        total += nxt_number * nxt_scale
        scale, end = nxt_scale, nxt.end()
    if (suffix := _CURRENCY_SUFFIX.match(f, end)) and _spelled_as_unit(
        sc, suffix.end() - len(suffix.group().strip()), suffix.end()
    ):
        end = suffix.end()
    return int(total), end


def _amounts(sc: ClaimableText) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for m in sc.finditer(_SCALED_START):
        parsed = _scaled_amount(sc, m)
        if parsed is not None:
            found.append((m.start(1), parsed[0]))
            sc.claim(m.start(), parsed[1])

    def plain(m: re.Match[str]) -> int | None:
        number = parse_number(m.group(1), comma_thousands=True)
        return int(number) if number is not None and _spelled_as_unit(sc, *m.span(2)) else None

    return found + _take(sc, _PLAIN, plain)


def extract_entities(text: str, *, today: date | None = None) -> Entities:
    """Find phones, e-mails, tax codes, orders, e-invoice references, amounts
    and dates in `text`.

    Works on text with or without diacritics and in NFC or NFD. Phones are
    validated with ``phonenumbers`` (region VN) and returned as E.164. A tax
    code needs a "mã số thuế"/"MST" label, or the branch form ``0123456789-001``;
    an unlabelled ten-digit number is read as a phone if it is a valid one.
    Amounts need a unit (đ, VND, k, nghìn, tr, triệu, tỷ). Dates without a year
    take the year of `today` (the current date in Vietnam when omitted), or the
    previous year when that would put them more than half a year ahead;
    ISO dates (``2024-06-12``) are read too; "hôm nay", "hôm qua", "hôm kia", "ngày mai"
    resolve against `today`.
    Only the first ``MAX_SCANNED_CHARS`` characters are read (``normalizer.text.scanned``):
    the time taken grows linearly with the text up to that bound, never beyond.
    Never raises on any input string.
    """
    if today is None:
        today = datetime.now(VN_TZ).date()
    sc = ClaimableText(scanned(text))
    # The order of these calls is the claiming order described in the module docstring.
    emails, tax_codes, orders = _emails(sc), _tax_codes(sc), _orders(sc)
    symbols, numbers = _invoices(sc)
    phones, dates, amounts = _phones(sc), _dates(sc, today), _amounts(sc)
    return Entities(
        phones=_in_order(phones), emails=_in_order(emails), tax_codes=_in_order(tax_codes),
        orders=_in_order(orders), invoice_symbols=_in_order(symbols),
        invoice_numbers=_in_order(numbers), amounts=_in_order(amounts), dates=_in_order(dates),
    )
