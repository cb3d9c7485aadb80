"""The pages' one string catalogue: English message ids, Vietnamese by default.

Every user-facing string in ``desk/`` templates and handlers is a gettext message id
(``{{ _("Sign in") }}`` in a template, ``gettext("Sign in")`` in Python); the translations live
in ``desk/locale/<locale>/LC_MESSAGES/messages.po``, read with Babel at start-up (no build
step: the ``.po`` file is the source of truth, compiled in memory). Adding a locale is adding
its ``.po`` file. An id with no translation shows as itself, and a test keeps the Vietnamese
catalogue complete.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT_LOCALE = "vi"


def available_locales() -> tuple[str, ...]:
    """The locales that have a catalogue, sorted."""
    return tuple(sorted(p.parent.parent.name
                        for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")))


@cache
def translations(locale: str = DEFAULT_LOCALE) -> NullTranslations:
    """The catalogue of ``locale``; message ids as they are for a locale without one."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue; translated where it is shown."""
    return message


def gettext(message: str, locale: str = DEFAULT_LOCALE) -> str:
    """``message`` in ``locale``."""
    return translations(locale).gettext(message)
