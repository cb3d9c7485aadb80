"""Hand-written evidence the classifier adds to its n-gram features.

Each marker is a pattern over :func:`normalizer.text.classifier_text` (lowercase, no
diacritics, abbreviations expanded), matched from the start of a word. A marker that fires
becomes one more feature, so the model learns how much it counts; markers pool many
phrasings of the same signal ("dây chuyền ngưng chạy", "xưởng đang phải dừng") that
n-grams would see one by one.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MARKERS", "markers"]

_W = r"(?:\w+\s+){0,4}"  # up to four words in between


def _marker(pattern: str) -> re.Pattern[str]:
    """`pattern`, matched only where a word starts."""
    return re.compile(r"(?<!\w)(?:" + pattern + ")")


MARKERS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    # Operations stopped or a safety hazard.
    ("stopped", _marker(
        r"(?:dung|ngung|ngung hoat dong|dung im|dinh tre|dung hinh)\s+"
        r"(?:san xuat|thi cong|hoat dong|chay|hoan toan|het)"
        r"|(?:xuong|nha may|day chuyen|he thong|san xuat|cong trinh|may|xe)\s+" + _W +
        r"(?:dung|ngung|dung im|dinh tre|dung het)(?!\w)"
        r"|chay no|boc khoi|ro dien|chap dien|giat dien|cat dien")),
    # A legal threat.
    ("legal", _marker(r"khoi kien|kien ra toa|toa an|luat su|cong an|phap ly|boi thuong")),
    # An explicit emergency.
    ("emergency", _marker(
        r"ngay lap tuc|khan cap|\bkhan\b|:alarm:|huy hop dong|cap cuu|\bsos\b")),
    # A short deadline: today, tomorrow, this week, a named day, hour or date.
    ("deadline", _marker(
        r"(?:truoc|trong|het|han chot|deadline|can|phai co|phai xong)\s+(?:\w+\s+){0,2}"
        r"(?:hom nay|chieu nay|sang nay|toi nay|trua nay|ngay mai|sang mai|chieu mai|trua mai|"
        r"cuoi tuan|tuan nay|thu (?:hai|ba|tu|nam|sau|bay|\d))|truoc \d+ ?h|\basap\b|"
        r"\bgap\b(?! doi| ba| \d)|"
        r"(?:truoc|han chot|han|cham nhat|deadline|kip)\s+(?:ngay\s+)?\d{1,2}/\d{1,2}(?!\d)|"
        r"som nhat|before (?:friday|monday|tomorrow|today)|\btoday\b")),
    # A repeated follow-up.
    ("chase", _marker(
        r"lan thu (?:hai|ba|tu|nam|\d)|(?:nhac|hoi|goi|hen)\s+(?:\w+\s+){0,2}(?:may|nhieu|\d+) lan"
        r"|(?:may|nhieu|\d+) lan (?:roi|ma)|hen lan hen|hoai|"
        r"\d+ (?:ngay|tuan) (?:roi|nay) (?:ma|chua)")),
    # Thanks, praise or good wishes.
    ("thanks", _marker(
        r"cam on|cam kich|:heart:|:thumbsup:|hai long|tuyet voi|chuyen nghiep|nhiet tinh|tan tinh|"
        r"tan tam|rat vui|ung y|hap dan|de hieu|"
        r"chuc (?:mung|cong ty|anh|chi|em|team|quy|toan the|nam moi|ca team|cac)")),
    # Anger or disappointment.
    ("anger", _marker(
        r":angry:|:sad:|that vong|buc xuc|buc minh|chan (?:qua|that|ngay|ngan)|\bte\b|"
        r"kem chat luong|(?:qua|hang|rat) kem|kem (?:qua|vay|the)|lam an kieu|khong chap nhan|"
        r"vo ly|bat cong|qua dang|phan nan|khieu nai|bi lua|lua dao")),
)
"""Marker name and pattern, in feature order."""


def markers(text: str) -> list[int]:
    """Indexes (into :data:`MARKERS`) of the markers that fire on `text`, a
    ``classifier_text`` form."""
    return [i for i, (_, pattern) in enumerate(MARKERS) if pattern.search(text)]
