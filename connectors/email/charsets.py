"""Bytes of a mail part → text, whatever its charset label claims.

Mailers in Vietnam send UTF-8, Windows-1258 (Outlook on Vietnamese Windows, a charset that
writes tone marks as *combining* characters, so the result must be NFC-composed) and the
ISO-8859 family; labels are often wrong (``iso-8859-1`` on UTF-8 bytes) or unknown to Python
(``x-unknown``, ``vni``). ``decode_text`` never raises: it says in its note what it guessed.

Detection uses charset-normalizer when it is importable (it is optional: not a declared
dependency); otherwise the fallback is Latin-1, flagged, which at least keeps every byte.
"""

from __future__ import annotations

import codecs
import importlib
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
    "x-user-defined": "latin-1",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
}
# Labels whose text is pure 7-bit or single-byte Latin: UTF-8 bytes under these labels are
# the most common mislabel, and valid multi-byte UTF-8 is almost never accidental.
_WEAK_LABELS = {"ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"}


def _detector() -> Any | None:
    try:
        return importlib.import_module("charset_normalizer")
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


def _detect(data: bytes) -> tuple[str, str] | None:
    module = _detector()
    if module is None:
        return None
    best = module.from_bytes(data, cp_isolation=_CANDIDATES).best()
    if best is None:
        return None
    return str(best), str(best.encoding)


def decode_text(data: bytes, label: str | None) -> tuple[str, str, str | None]:
    """``(text, codec used, note)``; ``note`` says when the label was not simply obeyed.

    The text is NFC. Never raises; undecodable bytes become U+FFFD only as a last resort.
    """
    codec = codec_name(label)
    has_8bit = any(b > 0x7F for b in data)
    if not has_8bit:
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
