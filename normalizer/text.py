"""Text forms used for matching, extraction and classification.

The functions here are pure and never touch the stored message text: that stays exactly
as the customer wrote it; these forms only feed search keys, entity extraction and the
classifier. :class:`ClaimableText` (the scanner entity extraction works on) and
:func:`parse_number` (Vietnamese number notation) are the matching helpers built on them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation

__all__ = [
    "EMOJI_TOKENS",
    "MAX_SCANNED_CHARS",
    "ClaimableText",
    "classifier_text",
    "expand_abbreviations",
    "fold_same_length",
    "has_vietnamese_diacritics",
    "parse_number",
    "scanned",
    "strip_diacritics",
    "to_nfc",
]


def to_nfc(s: str) -> str:
    """Return `s` in Unicode NFC (composed) form.

    Decomposed input (NFD, as some macOS and mobile keyboards send it) and
    mixed input come out as the same composed string, so ``"ế"`` typed either
    way compares equal afterwards.
    """
    return unicodedata.normalize("NFC", s)


def _build_fold_table() -> dict[int, str]:
    """One-to-one map from each Latin letter (any case, any diacritics) to its
    lowercase base letter. Built once from the Unicode database."""
    table: dict[int, str] = {}
    ranges = [(0x41, 0x5A), (0xC0, 0x24F), (0x1E00, 0x1EFF)]
    for lo, hi in ranges:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            base = unicodedata.normalize("NFD", ch)[0].lower()
            if len(base) == 1 and base != ch and base.isascii():
                table[cp] = base
    for ch in "đĐ":
        table[ord(ch)] = "d"
    return table


_FOLD_TABLE = _build_fold_table()
_COMBINING = re.compile(r"[\u0300-\u036f]")


def strip_diacritics(s: str) -> str:
    """Return a lowercase, diacritics-free matching form of `s`.

    Vietnamese tone and vowel marks are removed (``"Hóa đơn"`` → ``"hoa don"``)
    and ``đ``/``Đ`` become ``d``. Characters outside Latin script (digits,
    punctuation, emoji) are kept. Input may be NFC or NFD.
    """
    folded = to_nfc(s).translate(_FOLD_TABLE).lower()
    return _COMBINING.sub("", folded)


def fold_same_length(nfc_text: str) -> str:
    """Fold `nfc_text` like :func:`strip_diacritics` but keep one output
    character per input character, so offsets found in the folded form index
    the original. Expects NFC input; letters outside the Latin ranges keep
    their case."""
    return nfc_text.translate(_FOLD_TABLE)


MAX_SCANNED_CHARS = 20_000
"""How much of a message entity extraction and the classifier read: its first 20,000
characters (the longest web form or call note; a chat message is far shorter). The stored
message is always whole; only what is found in it and how it is classified stop there."""
_CUT_SLACK = 64


def scanned(text: str, limit: int = MAX_SCANNED_CHARS) -> str:
    """The part of `text` that is scanned: all of it up to `limit` characters, else its first
    `limit` characters, cut at the last whitespace of the final few so that a number or an
    address is not cut in two (a hard cut when there is none, e.g. a single long word)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for i in range(limit - 1, max(limit - _CUT_SLACK, 0) - 1, -1):
        if head[i].isspace():
            return head[:i]
    return head


_MASK = "\x00"


class ClaimableText:
    """A text prepared for extracting non-overlapping matches: `original` is the NFC
    text, `folded` its :func:`fold_same_length` form (same offsets) in which claimed
    spans are blanked out. Patterns match against `folded`; offsets index both."""

    def __init__(self, text: str) -> None:
        self.original = to_nfc(text)
        self.folded = fold_same_length(self.original)

    def claim(self, start: int, end: int) -> None:
        """Blank out ``folded[start:end]`` so no later match can overlap it."""
        self.folded = self.folded[:start] + _MASK * (end - start) + self.folded[end:]

    def finditer(self, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        """Matches of `pattern` on the folded text that overlap no span claimed so far
        (including spans claimed while iterating). Claims nothing itself."""
        for m in pattern.finditer(self.folded):
            if _MASK not in self.folded[m.start():m.end()]:
                yield m


def parse_number(raw: str, *, comma_thousands: bool) -> Decimal | None:
    """The value of a number written the Vietnamese way: ``1.500.000`` (dots group
    thousands) or ``1,5`` (comma as decimal mark). With `comma_thousands`,
    ``1,500,000`` is read as grouped thousands too (right for a bare amount, wrong before
    a unit as in ``1,500 triệu``). None when `raw` is not a number in either notation."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", raw):
        return Decimal(raw.replace(".", ""))
    if comma_thousands and re.fullmatch(r"\d{1,3}(?:,\d{3})+", raw):
        return Decimal(raw.replace(",", ""))
    if raw.count(",") + raw.count(".") > 1:
        return None
    try:
        return Decimal(raw.replace(",", "."))
    except InvalidOperation:
        return None


_VIETNAMESE_MARKED = re.compile(
    "[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]",
    re.IGNORECASE,
)


def has_vietnamese_diacritics(s: str) -> bool:
    """True if `s` contains at least one Vietnamese letter with a diacritic."""
    return _VIETNAMESE_MARKED.search(to_nfc(s)) is not None


# --- abbreviations ---------------------------------------------------------

# Plain whole-word expansions (keys lowercase). Ambiguous short forms that
# need context (ck, k after a number, kg, km, tr, j, v) are handled in
# `_expand_one` below.
_ABBREVIATIONS: dict[str, str] = {
    # không
    "ko": "không", "k": "không", "k0": "không", "hok": "không", "hông": "không",
    "khong": "không", "khg": "không", "khum": "không", "hk": "không", "hem": "không",
    # được
    "dc": "được", "đc": "được", "đk": "được", "duoc": "được", "đươc": "được",
    # documents and invoices (hđ is taken as hóa đơn; hợp đồng is written hđkt/hợp đồng)
    "hđ": "hóa đơn", "hd": "hóa đơn", "hđđt": "hóa đơn điện tử", "hddt": "hóa đơn điện tử",
    "hdsd": "hướng dẫn sử dụng", "hđsd": "hướng dẫn sử dụng",
    "hđkt": "hợp đồng kinh tế", "hdkt": "hợp đồng kinh tế",
    "pxk": "phiếu xuất kho", "bbgn": "biên bản giao nhận", "bbbg": "biên bản bàn giao",
    "bbđc": "biên bản đối chiếu", "bbdc": "biên bản đối chiếu", "mst": "mã số thuế",
    # trade
    "sp": "sản phẩm", "kh": "khách hàng", "ncc": "nhà cung cấp", "bh": "bảo hành",
    "ctkm": "chương trình khuyến mãi", "sl": "số lượng", "đh": "đơn hàng", "dh": "đơn hàng",
    "cty": "công ty", "tt": "thanh toán", "nv": "nhân viên", "ktv": "kỹ thuật viên",
    "ship": "giao hàng", "sip": "giao hàng", "shipper": "người giao hàng",
    "nvgh": "nhân viên giao hàng", "gh": "giao hàng", "đvvc": "đơn vị vận chuyển",
    "dvvc": "đơn vị vận chuyển",
    # contact
    "sđt": "số điện thoại", "sdt": "số điện thoại", "stk": "số tài khoản",
    "nt": "nhắn tin", "ib": "nhắn tin", "inbox": "nhắn tin", "lh": "liên hệ",
    # chat words
    "vs": "với", "bn": "bao nhiêu", "bnhieu": "bao nhiêu", "r": "rồi", "ms": "mới",
    "mk": "mình", "mik": "mình", "ntn": "như thế nào", "hnay": "hôm nay",
    "hqua": "hôm qua", "cx": "cũng", "cg": "cũng", "wa": "quá", "trc": "trước",
    "ng": "người", "bít": "biết", "z": "vậy", "cám": "cảm",
    "tks": "cảm ơn", "thks": "cảm ơn", "thanks": "cảm ơn", "thank": "cảm ơn", "thx": "cảm ơn",
    "asap": "gấp", "urgent": "gấp", "oke": "ok", "okie": "ok", "okela": "ok",
}

# 'ck' is chiết khấu (trade discount) by default, as in the design's category
# table. It is read as chuyển khoản (bank transfer) when a transfer verb sits
# right before or after it ("đã ck", "ck rồi", "ck cho", "ck tiền") or when the
# message is about paying (stk, ngân hàng, ủy nhiệm chi, thanh toán) and has no
# percentage sign. A number or % right after it ("ck 5%") always means chiết khấu.
_CK_TRANSFER_BEFORE = re.compile(
    r"(?:đã|da|vừa|vua|mới|moi|chưa|chua|sẽ|se|để|de|đang|dang|cần|can|bill|phiếu|phieu)\s+$"
)
_CK_TRANSFER_AFTER = re.compile(
    r"^\s*(?:rồi|roi|r|tiền|tien|cho|qua|vào|vao|lại|lai|nhầm|nham|thiếu|thieu|xong|"
    r"khoản|khoan|giúp|giup|trước|truoc|đủ|du)(?!\w)"
)
_CK_DISCOUNT_AFTER = re.compile(r"^\s*(?:\d|%|thương mại|thuong mai)")
_PAYMENT_CONTEXT = re.compile(
    r"stk|số tài khoản|so tai khoan|ngân hàng|ngan hang|ủy nhiệm chi|uy nhiem chi|"
    r"\bunc\b|thanh toán|thanh toan|vietcombank|techcombank|\bvcb\b|\bacb\b|\bbidv\b"
)

_NUMBER_BEFORE = re.compile(r"\d\s?$")

_CONTEXT_WORDS = ("ck", "kg", "km", "j", "v")
# Every whole word, looked up in a set: one pass over the words is twice as fast as a regex
# that tries some ninety alternatives at every position (re does not build a trie of them).
_WORD_RE = re.compile(r"\w+")
_EXPANDABLE = frozenset(k.lower() for k in (*_ABBREVIATIONS, *_CONTEXT_WORDS))
# Amount units glued to or right after a number: 1,5tr / 2 tr / 1tr2 / 500k.
_NUMBER_UNIT_RE = re.compile(r"(?<=\d)\s?(tr|củ|k)(?=\d|(?!\w))", re.IGNORECASE)


def _number_unit(m: re.Match[str]) -> str:
    word = " nghìn" if m.group(1).lower() == "k" else " triệu"
    # 1tr2: keep the glued digits apart from the unit word.
    return f"{word} " if m.string[m.end():m.end() + 1].isdigit() else word


def _ck_meaning(text: str, start: int, end: int, paying: Callable[[], bool]) -> str:
    before = text[max(0, start - 12):start].lower()
    after = text[end:end + 16].lower()
    if _CK_DISCOUNT_AFTER.match(after):
        return "chiết khấu"
    if _CK_TRANSFER_BEFORE.search(before) or _CK_TRANSFER_AFTER.match(after):
        return "chuyển khoản"
    if paying():
        return "chuyển khoản"
    return "chiết khấu"


def _make_expander(text: str) -> Callable[[re.Match[str]], str]:
    context: list[bool] = []

    def paying() -> bool:
        # Whether the whole message is about paying, read once per message, not once per "ck"
        # (a message of many "ck" would read its whole text again each time: quadratic).
        if not context:
            context.append("%" not in text and _PAYMENT_CONTEXT.search(text.lower()) is not None)
        return context[0]

    def expand(m: re.Match[str]) -> str:
        word = m.group()
        key = word.lower()
        if key not in _EXPANDABLE:
            return word
        start, end = m.span()
        after_number = _NUMBER_BEFORE.search(text[max(0, start - 2):start]) is not None
        if key == "ck":
            return _ck_meaning(text, start, end, paying)
        if key == "kg":
            return word if after_number else "không"
        if key == "km":
            return word if after_number else "khuyến mãi"
        if key == "j":
            return word if text[end:end + 1] == "&" else "gì"
        if key == "v":
            return word if after_number else "vậy"
        if key == "k" and after_number:
            return "nghìn"
        return _ABBREVIATIONS.get(key, word)

    return expand


def expand_abbreviations(s: str) -> str:
    """Expand common Vietnamese chat abbreviations into full words.

    Meant for the classifier and search only, never for display. Examples:
    ``ko``/``k``/``hok`` → ``không``, ``dc``/``đc`` → ``được``, ``hđ``/``hd`` →
    ``hóa đơn``, ``sp`` → ``sản phẩm``, ``kh`` → ``khách hàng``, ``ncc`` →
    ``nhà cung cấp``, ``bh`` → ``bảo hành``, ``sđt`` → ``số điện thoại``,
    ``stk`` → ``số tài khoản``, ``j`` → ``gì``; ``tr``/``k`` after a number →
    ``triệu``/``nghìn`` (``1,5tr`` → ``1,5 triệu``). ``ck`` means chiết khấu
    unless the context is a bank transfer (see the comment above
    ``_CK_TRANSFER_BEFORE``). Only whole words are replaced; case of the
    rest of the text is kept.
    """
    s = _NUMBER_UNIT_RE.sub(_number_unit, s)
    return _WORD_RE.sub(_make_expander(s), s)


# --- emoji -------------------------------------------------------------------

EMOJI_TOKENS: dict[str, str] = {
    **dict.fromkeys(["😡", "🤬", "😠", "😤", "👿", "💢", ">:(", "🖕"], ":angry:"),
    **dict.fromkeys(["😢", "😭", "😞", "😔", "☹", "🙁", "😩", "😫", "😒", ":((", ":(", "=((",
                     ":'("], ":sad:"),
    **dict.fromkeys(["🙏"], ":pray:"),
    **dict.fromkeys(["👍", "👌", "💯", "✅"], ":thumbsup:"),
    **dict.fromkeys(["👎"], ":thumbsdown:"),
    **dict.fromkeys(["❤", "😍", "🥰", "💕", "💖", "♥", "<3"], ":heart:"),
    **dict.fromkeys(["😊", "🙂", "😀", "😁", "😄", "😃", "☺", "🤗", "^^", ":)", ":D", "=))"],
                    ":smile:"),
    **dict.fromkeys(["😂", "🤣"], ":laugh:"),
    **dict.fromkeys(["😅", "😓", "😥"], ":sweat:"),
    **dict.fromkeys(["🤔", "❓", "❔"], ":thinking:"),
    **dict.fromkeys(["⚠", "🆘", "🚨", "❗", "‼", "🔥"], ":alarm:"),
}
_EMOJI_RE = re.compile(
    "|".join(re.escape(k) for k in sorted(EMOJI_TOKENS, key=len, reverse=True))
)
_VARIATION_SELECTORS = re.compile("[\ufe0e\ufe0f\u200d]")
_ELONGATION = re.compile(r"([a-z])\1{2,}")
_SPACES = re.compile(r"\s+")


def _emoji_token(m: re.Match[str]) -> str:
    return f" {EMOJI_TOKENS[m.group(0)]} "


def classifier_text(s: str) -> str:
    """Return the form of `s` the classifier sees.

    NFC, emoji mapped to tokens such as ``:angry:`` / ``:pray:`` (other emoji
    kept as they are), lowercase, abbreviations expanded, diacritics removed,
    letters stretched for emphasis shortened (``gấppp`` → ``gap``) and
    whitespace collapsed. Deterministic; never used for display.
    """
    t = _VARIATION_SELECTORS.sub("", to_nfc(s))
    t = _EMOJI_RE.sub(_emoji_token, t)
    t = expand_abbreviations(t.lower())
    t = strip_diacritics(t)
    t = _ELONGATION.sub(r"\1", t)
    return _SPACES.sub(" ", t).strip()
