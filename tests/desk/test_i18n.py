"""The Vietnamese catalogue covers every string the pages show."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from desk.i18n import LOCALE_DIR, available_locales, translations

DESK = Path(__file__).resolve().parents[2] / "desk"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def message_ids() -> set[str]:
    """Every message id used in ``desk/`` (templates and Python)."""
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            DESK, METHODS, options_map=OPTIONS, keywords=KEYWORDS):
        found.update([message] if isinstance(message, str) else
                     [m for m in message if m])
    return found


def test_vietnamese_is_the_catalogue_we_ship() -> None:
    assert "vi" in available_locales()
    assert (LOCALE_DIR / "vi" / "LC_MESSAGES" / "messages.po").is_file()


def test_every_message_has_a_vietnamese_translation() -> None:
    ids = message_ids()
    assert "Customer care" in ids  # the extraction itself works
    vi = translations("vi")
    missing = sorted(m for m in ids if vi.gettext(m) == m)
    assert missing == [], f"add these to desk/locale/vi/LC_MESSAGES/messages.po: {missing}"
