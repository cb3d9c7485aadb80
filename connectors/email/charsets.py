"""Bytes of a mail part → text, whatever its charset label claims.

Mailers in Vietnam send UTF-8, Windows-1258 (Outlook on Vietnamese Windows, a charset that
writes tone marks as *combining* characters, so the result must be NFC-composed) and the
ISO-8859 family; labels are often wrong (``iso-8859-1`` on UTF-8 bytes) or unknown to Python
(``x-unknown``, ``vni``). ``decode_text`` never raises: it says in its note what it guessed.

Vietnamese companies also trade with Japanese, Chinese and Korean partners, whose mailers send
ISO-2022-JP (7-bit, so it must be decoded by its label even without an 8-bit byte), Shift_JIS,
GB2312 (in practice GBK: labels follow the WHATWG Encoding Standard, as browsers and
Thunderbird read them) and EUC-KR, often unlabelled or labelled ``iso-8859-1``.

Detection is two-staged. charset-normalizer, among Vietnamese and Western codecs, first: it
reads short Vietnamese lines right, and when it finds a readable Western decoding that is what
the bytes are. Only when no Western reading is coherent — of the whole part, or of its lines
dense with 8-bit bytes (an English mail signed in Japanese) — are the CJK codecs considered,
and there chardet decides: charset-normalizer 3.5 tells CJK from Latin but not the CJK codecs from
each other (it reads Shift_JIS as cp949), while chardet's per-language character distributions
do. If neither finds anything the fallback is Latin-1, flagged, which at least keeps every byte.
"""

from __future__ import annotations

import codecs
import importlib
import re
from typing import Any

from connectors.envelope import nfc

# Labels seen in the wild that Python's codec registry does not know under that name.
_ALIASES = {
    "windows-1258": "cp1258",
    "x-windows-1258": "cp1258",
    "cp-1258": "cp1258",
    "utf8": "utf-8",
    "x-utf-8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "ks_c_5601-1987": "cp949",
    # WHATWG Encoding Standard: what browsers and mail readers decode these labels as.
    "gb2312": "gbk",
    "gb_2312-80": "gbk",
    "x-gbk": "gbk",
    "csgb2312": "gbk",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "euc-kr": "cp949",
    "x-euc-kr": "cp949",
    "x-user-defined": "latin-1",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
}
# Labels whose text is pure 7-bit or single-byte Latin: UTF-8 bytes under these labels are
# the most common mislabel, and valid multi-byte UTF-8 is almost never accidental.
_WEAK_LABELS = {"ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"}
# Codecs that write text in 7-bit bytes with escape sequences: no 8-bit byte says nothing.
_SEVEN_BIT = {"iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3",
              "iso2022_jp_ext", "iso2022_kr", "utf_7", "hz"}
# A designation of a multi-byte set in an ISO-2022 text (JIS X 0208 ``ESC $ B``/``ESC $ @``,
# JIS X 0212, GB 2312 and KS C 5601 in ISO-2022-JP-2, KS C 5601 in ISO-2022-KR): such bytes
# are ISO-2022 text whatever a 7-bit label says (Japanese mailers label it ``us-ascii`` too).
_ISO2022_DESIGNATION = re.compile(rb"\x1b(?:\$[@AB]|\$\([CDQ]|\$\)C)")
# What chardet may name in the CJK stage; anything else it says there is not taken.
_CJK = {"cp932", "shift_jis", "euc_jp", "iso2022_jp", "gb18030", "gbk", "gb2312", "big5",
        "big5hkscs", "cp950", "cp949", "euc_kr", "johab"}


def _detector(name: str = "charset_normalizer") -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def codec_name(label: str | None) -> str | None:
    """Python's codec name for a MIME charset label, or ``None`` if Python has no such codec."""
    if not label:
        return None
    cleaned = label.strip().strip('"').lower()
    cleaned = _ALIASES.get(cleaned, cleaned)
    try:
        return codecs.lookup(cleaned).name
    except LookupError:
        return None


# What Vietnamese and Western mail is actually written in. Letting the detector pick among all
# codecs makes it read a short Latin-1 line as Big5 or Urdu (cp1006).
_CANDIDATES = ["utf_8", "cp1258", "cp1252", "latin_1", "iso8859_15", "cp1250", "iso8859_2",
               "utf_16"]


def _detect_western(data: bytes) -> tuple[str, str] | None:
    module = _detector()
    if module is None:
        return None
    best = module.from_bytes(data, cp_isolation=_CANDIDATES).best()
    if best is None:
        return None
    return str(best), str(best.encoding)


def _detect_cjk(data: bytes) -> tuple[str, str] | None:
    """The CJK reading of ``data`` when chardet names a CJK codec that decodes it strictly."""
    if b"\x1b$" in data or b"\x1b(" in data:  # ISO-2022-JP escapes, unlabelled
        try:
            return data.decode("iso2022_jp_2"), "iso2022_jp_2"
        except UnicodeDecodeError:
            pass
    module = _detector("chardet")
    if module is None:
        return None
    verdict = module.detect(data)
    codec = codec_name(verdict.get("encoding"))
    if codec is None or codec not in _CJK:
        return None
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError:
        return None


def _cjk_reading(data: bytes) -> tuple[str, str] | None:
    """``data`` read as CJK when its lines dense with 8-bit bytes are CJK (no Western codec
    reads them coherently, chardet names a CJK codec) and that codec reads all of it: an
    English mail signed in Japanese is not Latin mojibake for its mostly ASCII bytes."""
    dense = b"\n".join(line for line in data.splitlines() if len(line) >= 4
                        and _mostly_8bit(line))
    if not dense or _detect_western(dense) is not None:
        return None
    found = _detect_cjk(dense)
    if found is None:
        return None
    try:
        return data.decode(found[1]), found[1]
    except UnicodeDecodeError:
        return None


def _detect(data: bytes) -> tuple[str, str] | None:
    western = _detect_western(data)
    if western is None:
        return _detect_cjk(data)
    return _cjk_reading(data) or western


def decode_text(data: bytes, label: str | None) -> tuple[str, str, str | None]:
    """``(text, codec used, note)``; ``note`` says when the label was not simply obeyed.

    The text is NFC. Never raises; undecodable bytes become U+FFFD only as a last resort.
    """
    codec = codec_name(label)
    has_8bit = any(b > 0x7F for b in data)
    if not has_8bit:
        if codec in _SEVEN_BIT or ((codec is None or codec in _WEAK_LABELS)
                                   and _ISO2022_DESIGNATION.search(data)):
            seven = _seven_bit(data, codec)
            if seven is not None:
                return seven
        return nfc(data.decode("ascii", "replace")), codec or "ascii", None
    if codec is None or codec in _WEAK_LABELS:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            note = None if codec == "utf-8" else f"charset {label or 'missing'!s}: read as utf-8"
            return nfc(text), "utf-8", note
        if codec is not None:
            # A Western label on bytes no Western codec reads coherently: CJK, mislabelled.
            cjk = _cjk_reading(data)
            if cjk is not None:
                return nfc(cjk[0]), cjk[1], f"charset {label}: detected {cjk[1]}"
    if codec is not None:
        try:
            return nfc(data.decode(codec)), codec, None
        except UnicodeDecodeError:
            pass
        replaced = data.decode(codec, "replace")
        if replaced.count("\ufffd") <= max(2, len(replaced) // 100):
            # A stray bad byte in otherwise valid text: trust the label, not a guess.
            return nfc(replaced), codec, f"charset {label}: invalid bytes replaced"
    detected = _detect(data)
    if detected is not None:
        text, name = detected
        return nfc(text), name, f"charset {label or 'missing'}: detected {name}"
    if codec is not None:
        return (nfc(data.decode(codec, "replace")), codec,
                f"charset {label}: invalid bytes replaced")
    return (nfc(data.decode("latin-1")), "latin-1",
            f"charset {label or 'missing'}: unknown, latin-1 fallback")


def _mostly_8bit(data: bytes) -> bool:
    """Whether a third of the bytes are 8-bit: CJK text (two 8-bit bytes a character) is; a
    Western text in a Latin label (a few accented letters) is not, and is read as labelled."""
    return sum(1 for b in data if b > 0x7F) * 3 >= len(data)


def _seven_bit(data: bytes, codec: str | None) -> tuple[str, str, str | None] | None:
    """7-bit text in an escape-sequence codec (ISO-2022-JP): by its label, else by its escapes
    (also under a plain 7-bit or Latin label, which such text often carries); a label's
    stricter variant failing is read by the superset ``iso2022_jp_2``."""
    labelled = codec if codec in _SEVEN_BIT else None
    korean = "iso2022_kr" if b"\x1b$)C" in data else None
    for name in dict.fromkeys(c for c in (labelled, korean, "iso2022_jp_2", "iso2022_jp_ext")
                              if c):
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        note = None if name == codec else f"charset {codec or 'missing'}: read as {name}"
        return nfc(text), name, note
    return None
