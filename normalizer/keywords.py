"""A plain keyword baseline for category, priority and sentiment.

It is the fallback the normalizer uses when no trained model is configured; matching is done on
the lower-case, diacritics-free form so that ``hóa đơn`` and ``hoa don`` mean the same.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

_CATEGORY_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("invoice", ("hoa don", "hd do", "xuat hd", "vat", "e-invoice", "hoa don dien tu")),
    ("debt", ("cong no", "doi chieu no", "no qua han", "so du no")),
    ("payment_due", ("han thanh toan", "gia han thanh toan", "chuyen khoan", "da thanh toan",
                     "xac nhan thanh toan", "uy nhiem chi")),
    ("documents", ("chung tu", "phieu xuat kho", "bien ban ban giao", "phieu giao hang",
                   "hop dong", "bien ban")),
    ("warranty", ("bao hanh", "warranty", "doi tra")),
    ("maintenance", ("bao tri", "bao duong", "sua chua", "ky thuat vien", "ktv")),
    ("quantity", ("thieu hang", "sai so luong", "giao thieu", "thieu so luong", "du hang",
                  "khong du")),
    ("delivery", ("giao hang", "van chuyen", "chua nhan duoc hang", "ship", "dia chi giao",
                  "tre hen", "cham giao")),
    ("discount", ("chiet khau", "ck ", "rebate", "thuong doanh so")),
    ("promotion", ("khuyen mai", "ctkm", "voucher", "qua tang", "uu dai", "ma giam gia")),
    ("price", ("bao gia", "gia ban", "gia ca", "don gia", "bang gia", "tang gia", "price")),
    ("quality", ("loi", "hong", "kem chat luong", "chat luong", "be vo", "khong hoat dong",
                 "defect")),
    ("usage", ("huong dan", "cach su dung", "cai dat", "cau hinh", "su dung nhu the nao")),
)
_URGENT = ("khan cap", "gap", "ngung san xuat", "dung day chuyen", "kien", "urgent", "ngay lap tuc")
_NEGATIVE = ("buc xuc", "that vong", "te", "kem", "khong hai long", "phan nan", "loi", "hong",
             "cham", "qua han", "thieu")
_POSITIVE = ("cam on", "hai long", "tot", "tuyet voi", "thank")
_WORD = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case, strip Vietnamese diacritics (đ → d), collapse white space."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _WORD.sub(" ", stripped).strip()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the classifier concluded about one message."""

    category: str
    category_confidence: float
    priority: str
    sentiment: str
    needs_review: bool
    entities: dict[str, Any] = field(default_factory=dict)


def classify(text: str, channel: str) -> Verdict:
    """Category, priority and sentiment from keywords; ``other`` and review when nothing hits."""
    folded = f" {fold(text)} "
    category, hits = "other", 0
    for name, words in _CATEGORY_KEYWORDS:
        count = sum(1 for w in words if f" {w}" in folded)
        if count > hits:
            category, hits = name, count
    priority = "urgent" if any(f" {w}" in folded for w in _URGENT) else "normal"
    if channel == "hotline" and priority == "normal":
        priority = "high"
    negative = sum(1 for w in _NEGATIVE if f" {w} " in folded)
    positive = sum(1 for w in _POSITIVE if f" {w}" in folded)
    sentiment = "negative" if negative > positive else "positive" if positive else "neutral"
    confidence = min(0.9, 0.4 + 0.25 * hits) if hits else 0.2
    return Verdict(category, confidence, priority, sentiment, needs_review=hits == 0)
