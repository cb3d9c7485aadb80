"""The folded form text search compares: lowercase, Vietnamese marks removed, ``đ`` → ``d``.

One definition for both databases: PostgreSQL applies it with ``translate()`` (see
``desk.search``); SQLite has no ``translate()``, so every SQLite connection gets
``cskh_fold(text)``, this same mapping as a Python function (``storage.db``). Composed (NFC)
and decomposed (NFD) input fold alike. Letters of other scripts are only lowercased.
"""

from __future__ import annotations

import unicodedata

_VOWELS = "aăâeêioôơuưy"
_TONES = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
# Combining marks of decomposed (NFD) Vietnamese: tones, circumflex, breve, horn.
MARKS = "\u0300\u0301\u0302\u0303\u0306\u0309\u031b\u0323"


def _letters() -> dict[str, str]:
    """Every precomposed Vietnamese letter with a mark, both cases, to its ASCII base."""
    table: dict[str, str] = {"đ": "d", "Đ": "D"}
    for vowel in _VOWELS:
        for tone in _TONES:
            for letter in (vowel, vowel.upper()):
                composed = unicodedata.normalize("NFC", letter + tone)
                if len(composed) == 1 and not composed.isascii():
                    table[composed] = unicodedata.normalize("NFD", composed)[0]
    return table


LETTERS = _letters()
_TABLE = {ord(k): v for k, v in LETTERS.items()} | {ord(m): None for m in MARKS}


def fold(text: str | None) -> str | None:
    """``text`` folded for search (``None`` stays ``None``, as SQL NULL does)."""
    return None if text is None else text.translate(_TABLE).lower()
