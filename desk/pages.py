"""How ``desk/`` serves pages: Jinja2 templates, the catalogue, static files, page headers.

``setup_pages(app)`` is called once by the app factory. Templates live in ``desk/templates``
(autoescape on for every template: customer text is text, never markup), static files in
``desk/static`` under ``/static/`` (htmx and its SSE extension are vendored there: no CDN, a
LAN without internet works). Every HTML answer gets a Content-Security-Policy that forbids
inline script and any origin but our own, unless its handler set a policy of its own (the
embeddable form does, for ``frame-ancestors``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web

from desk.i18n import DEFAULT_LOCALE, translations
from desk.labels import label

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
       "frame-ancestors 'none'")
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def local_time(value: datetime | str | None, fmt: str = "%H:%M %d/%m/%Y") -> str:
    """``value`` (or its ISO form) in Asia/Ho_Chi_Minh, formatted; empty for none (naive
    values are UTC)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ).strftime(fmt)


def local_date(value: date | str | None) -> str:
    """A calendar day (or its ISO form) as Vietnamese write it, ``15/03/2008``; ``–`` for
    none."""
    if value is None or value == "":
        return "–"
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return day.strftime("%d/%m/%Y")


def vn_date(value: date | str | None) -> str:
    """``local_date``, but empty for none (inside a sentence)."""
    return "" if value is None or value == "" else local_date(value)


def vnd(value: int | None) -> str:
    """Whole đồng as Vietnamese write them, ``1.500.000 ₫``; ``–`` for none."""
    if value is None:
        return "–"
    return f"{value:,} ₫".replace(",", ".")


_ENV_OPTIONS: dict[str, Any] = {
    "undefined": jinja2.StrictUndefined,
    "extensions": ["jinja2.ext.i18n"],
    "trim_blocks": True,
    "lstrip_blocks": True,
    # the templates ship with the code: no stat() of each one on every render
    "auto_reload": False,
}


def _configure(env: jinja2.Environment, locale: str) -> jinja2.Environment:
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["local_time"] = local_time
    env.filters["local_date"] = local_date
    env.filters["vnd"] = vnd
    env.filters["vn_date"] = vn_date
    env.globals["locale"] = locale
    env.globals["named"] = label
    return env


def environment(locale: str = DEFAULT_LOCALE) -> jinja2.Environment:
    """A template environment for ``locale``, as ``setup_pages`` installs it (tests use it)."""
    return _configure(jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                         autoescape=True, **_ENV_OPTIONS), locale)


@web.middleware
async def page_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every HTML answer, keeping a policy the handler set itself."""
    response = await handler(request)
    if response.content_type == "text/html":
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def setup_pages(app: web.Application, locale: str = DEFAULT_LOCALE,
                context: Callable[[web.Request], Awaitable[dict[str, Any]]] | None = None) -> None:
    """Install templates, ``/static/`` and the page headers on ``app`` (once).

    ``context`` adds to every template's context (the signed-in officer, say).
    """
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES),
                               context_processors=[context] if context is not None else [],
                               autoescape=True, **_ENV_OPTIONS)
    _configure(env, locale)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    app.middlewares.append(page_headers)
