"""Hand-written evidence the classifier adds to its n-gram features.

Each marker is a pattern over :func:`normalizer.text.classifier_text` (lowercase, no
diacritics, abbreviations expanded). A marker that fires becomes one more feature, so
the model learns how much it counts; markers pool many phrasings of the same signal
("dây chuyền ngưng chạy", "xưởng đang phải dừng") that n-grams would see one by one.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MARKERS", "markers"]

_W = r"(?:\w+\s+){0,4}"  # up to four words in between

MARKERS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    # Operations stopped or a safety hazard.
    ("stopped", re.compile(
        r"(?:dung|ngung|ngung hoat dong|dung im|dinh tre|dung hinh)\s+(?:san xuat|thi cong|hoat dong|"
        r"chay|hoan toan|het)"
        r"|(?:xuong|nha may|day chuyen|he thong|san xuat|cong trinh|may|xe)\s+" + _W +
        r"(?:dung|ngung|dung im|dinh tre|dung het)(?!\w)"
        r"|chay no|boc khoi|ro dien|chap dien|giat dien|cat dien")),
    # A legal threat.
    ("legal", re.compile(r"khoi kien|kien ra toa|toa an|luat su|cong an|phap ly|boi thuong")),
    # A deadline of today or an explicit emergency.
    ("now", re.compile(
        r"ngay lap tuc|khan cap|\bkhan\b|:alarm:|\bgap\b.{0,30}(?:hom nay|chieu nay|sang nay|"
        r"toi nay)|(?:trong|truoc|ngay|het)\s+(?:\w+\s+){0,2}(?:hom nay|chieu nay|sang nay|toi nay)"
        r"|huy hop dong|ngay trong ngay|trong \d+ (?:gio|tieng|phut)")),
    # A repeated follow-up.
    ("chase", re.compile(
        r"lan thu (?:hai|ba|tu|nam|\d)|(?:nhac|hoi|goi|hen)\s+(?:\w+\s+){0,2}(?:may|nhieu|\d+) lan"
        r"|(?:may|nhieu|\d+) lan (?:roi|ma)|hen lan hen|hoai|\d+ (?:ngay|tuan) (?:roi|nay) (?:ma|chua)")),
    # Thanks, praise or good wishes.
    ("thanks", re.compile(
        r"cam on|cam kich|:heart:|:thumbsup:|hai long|tuyet voi|chuyen nghiep|nhiet tinh|tan tinh|"
        r"tan tam|chuc mung|\bchuc\b|rat vui|ung y|hap dan|de hieu")),
    # Anger or disappointment.
    ("anger", re.compile(
        r":angry:|:sad:|that vong|buc xuc|buc minh|chan (?:qua|that|ngay|ngan)|\bte\b|kem|"
        r"lam an kieu|khong chap nhan|vo ly|bat cong|qua dang|phan nan|khieu nai|lua")),
)
"""Marker name and pattern, in feature order."""


def markers(text: str) -> list[int]:
    """Indexes (into :data:`MARKERS`) of the markers that fire on `text`, a
    ``classifier_text`` form."""
    return [i for i, (_, pattern) in enumerate(MARKERS) if pattern.search(text)]
