"""``/form``: the public web form, its thank-you page and the snippet for the company's site.

``GET /form`` shows the form; it posts (a plain browser form, no script) to
``POST /webhooks/webform``, whose handler reads it with the connector like any other post and,
for a browser, answers with the pages made here: the form again with the reasons next to the
fields (400), a 303 to the thank-you page, or a page saying why nothing was sent. The form
pages may be framed by our own pages and the allowed origins (``frame-ancestors``), nobody else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from connectors.webform import FORM_CATEGORIES, HONEYPOT_FIELD
from desk.api import CLOCK, SESSIONS
from desk.form.thanks import read_token, thanks_token, ticket_of_reference
from desk.i18n import gettext
from desk.pages import CSP, environment
from normalizer import follow_up
from storage.models import ticket_number

FIELDS = ("name", "company", "email", "phone", "subject", "category", "message")
ACTION = "/webhooks/webform"
REFRESH_SECONDS = 2
REFRESH_TIMES = 30  # then the page stops refreshing itself (the reference stays valid)


@dataclass(frozen=True, slots=True)
class FormConfig:
    """What the form pages need from the settings."""

    public_url: str
    """Where customers reach the service, without a trailing slash (the snippet's links)."""
    allowed_origins: frozenset[str]
    link_key: bytes
    """Signs the thank-you links (``desk.form.thanks``)."""
    follow_up_secret: str | None = None
    """``CSKH_FOLLOW_UP_SECRET``: the thank-you page gives a link that continues the ticket
    (``normalizer.follow_up``); unset, every form is a new ticket."""


FORM: web.AppKey[FormConfig] = web.AppKey("desk.form", FormConfig)

CATEGORY_LABELS = {
    "quality": "Product or service quality",
    "price": "Prices and quotations",
    "promotion": "Promotions, vouchers, gifts",
    "discount": "Trade discounts and rebates",
    "quantity": "Short or wrong quantity",
    "delivery": "Delivery",
    "debt": "Receivables and reconciliation",
    "invoice": "Invoices (VAT, e-invoice)",
    "documents": "Documents and paperwork",
    "payment_due": "Payment due dates and transfers",
    "warranty": "Warranty",
    "maintenance": "Repair and maintenance",
    "usage": "How to use or install",
    "other": "Something else",
}
# The message ids above, for the catalogue's extraction (gettext marks them).
_ = [gettext("Product or service quality"), gettext("Prices and quotations"),
     gettext("Promotions, vouchers, gifts"), gettext("Trade discounts and rebates"),
     gettext("Short or wrong quantity"), gettext("Delivery"),
     gettext("Receivables and reconciliation"), gettext("Invoices (VAT, e-invoice)"),
     gettext("Documents and paperwork"), gettext("Payment due dates and transfers"),
     gettext("Warranty"), gettext("Repair and maintenance"), gettext("How to use or install"),
     gettext("Something else")]


def form_csp(config: FormConfig) -> str:
    """The pages' policy, except that our own pages and the allowed origins may frame it."""
    ancestors = " ".join(["'self'", *sorted(config.allowed_origins)])
    return CSP.replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}")


def _headers(request: web.Request, private: bool = False) -> dict[str, str]:
    headers = {"Content-Security-Policy": form_csp(request.app[FORM])}
    if private:
        headers.update({"Cache-Control": "no-store", "X-Robots-Tag": "noindex",
                        "Referrer-Policy": "no-referrer"})
    return headers


def _render(request: web.Request, template: str, context: dict[str, Any], status: int = 200,
            *, private: bool = False) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers.update(_headers(request, private))
    return response


def _field_error(field: str, message: str) -> str:
    if field == "name":
        return gettext("Please enter your name (at most 200 characters).")
    if field == "email" and message.startswith("email or phone"):
        return gettext("Please give an e-mail address or a phone number so that we can answer.")
    if field == "email":
        return gettext("This e-mail address is not valid.")
    if field == "phone":
        return gettext("This phone number is not valid.")
    if field == "company":
        return gettext("The company name is too long (at most 300 characters).")
    if field == "subject":
        return gettext("The subject is too long (at most 300 characters).")
    if field == "category":
        return gettext("Please choose a topic from the list.")
    if field == "message":
        return gettext("Please write your message (at most 20,000 characters).")
    return gettext("The form could not be read; please send it again.")


def field_errors(details: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The Vietnamese reason for each invalid field of a connector's 400 (``""``: the form)."""
    errors: dict[str, str] = {}
    for detail in details:
        field = str(detail.get("field", ""))
        field = field if field in FIELDS else ""
        errors.setdefault(field, _field_error(field, str(detail.get("message", ""))))
    return errors


def _now(request: web.Request) -> datetime:
    clock = request.app.get(CLOCK)
    return clock() if clock is not None else datetime.now(UTC)


def _continued(request: web.Request, token: object) -> tuple[str, str] | None:
    """(token, ticket number) when ``token`` is a valid follow-up token of ours."""
    config = request.app[FORM]
    ticket_id = follow_up.ticket_of(config.follow_up_secret, token, _now(request))
    return None if ticket_id is None else (str(token).strip(), ticket_number(ticket_id))


def _form(request: web.Request, values: Mapping[str, Any], errors: Mapping[str, str],
          status: int = 200) -> web.Response:
    shown = {f: str(values.get(f, "")) for f in FIELDS}
    categories = [(c, gettext(CATEGORY_LABELS[c])) for c in FORM_CATEGORIES]
    continued = _continued(request, values.get(follow_up.FIELD))
    return _render(request, "form.html", {
        "values": shown, "errors": errors, "categories": categories, "action": ACTION,
        "honeypot": HONEYPOT_FIELD, "follow_up": continued[0] if continued else None,
        "continues": continued[1] if continued else None},
        status, private=bool(errors) or continued is not None)


async def form_page(request: web.Request) -> web.Response:
    """``GET /form``: the empty form; with ``?follow_up=`` a valid token of a link we gave
    (the thank-you page's), the form that adds to that ticket (an invalid one: a new one)."""
    return _form(request, {follow_up.FIELD: request.query.get(follow_up.FIELD)}, {})


def invalid_answer(request: web.Request, values: Mapping[str, Any],
                   details: Iterable[Mapping[str, Any]], reason: str) -> web.Response:
    """A browser's invalid post: the form again, as filled, the reasons next to the fields."""
    errors = field_errors(details) or {"": _field_error("", reason)}
    return _form(request, values, errors, 400)


def accepted_answer(request: web.Request, ref: uuid.UUID) -> web.Response:
    """A browser's accepted post: 303 to its thank-you page."""
    token = thanks_token(request.app[FORM].link_key, ref)
    return web.Response(status=303, headers={"Location": f"/form/thanks/{token}",
                                             "Cache-Control": "no-store"})


def refused_answer(request: web.Request, status: int,
                   retry_after: str | None = None) -> web.Response:
    """A browser's post that was not taken (403, 401, 413, 429, 503): why, and what to do."""
    if status == 429:
        heading = gettext("Too many messages from your address")
        body = gettext("Nothing was saved. Please wait %(seconds)s seconds and send it again."
                       ) % {"seconds": retry_after or "60"}
    elif status == 413:
        heading = gettext("Your message is too long")
        body = gettext("Nothing was saved. Please shorten it and send it again.")
    elif status == 503:
        heading = gettext("We cannot receive your message right now")
        body = gettext("Nothing was saved. Please send it again in a moment.")
    else:
        heading = gettext("This page may not send us the form")
        body = gettext("Nothing was saved. Please use the form on our website, or call or "
                       "e-mail us.")
    response = _render(request, "form_message.html", {"heading": heading, "body": body,
                                                      "again": "/form"}, status, private=True)
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response


async def thanks_page(request: web.Request) -> web.Response:
    """``GET /form/thanks/{token}``: the ticket number, or the reference until it exists."""
    ref = read_token(request.app[FORM].link_key, request.match_info["token"])
    if ref is None:
        return _render(request, "form_message.html", {
            "heading": gettext("This link is not valid"),
            "body": gettext("Please check that you opened the whole link."),
            "again": "/form"}, 404, private=True)
    async with request.app[SESSIONS]() as session:
        ticket_id = await ticket_of_reference(session, ref)
    number = None if ticket_id is None else ticket_number(ticket_id)
    times = request.query.get("n", "0")
    done = int(times) if times.isdigit() and len(times) < 4 else 0
    refresh = (f"{REFRESH_SECONDS}; url={request.path}?n={done + 1}"
               if number is None and done < REFRESH_TIMES else None)
    config = request.app[FORM]
    link = None
    if ticket_id is not None and config.follow_up_secret:
        token = follow_up.mint(config.follow_up_secret, ticket_id, _now(request))
        link = follow_up.follow_up_link(f"{config.public_url}/form", token)
    return _render(request, "form_thanks.html", {
        "number": number, "reference": str(ref).split("-", 1)[0].upper(),
        "refresh": refresh, "follow_up_link": link}, private=True)


@cache
def _plain_environment() -> jinja2.Environment:
    return environment()  # the snippet is text to copy, not a page of this request


def snippet_html(public_url: str) -> dict[str, str]:
    """The two ways to put the form on an existing page, as HTML text: ``iframe`` and
    ``form`` (a plain form posting here; its origin must be in ``CSKH_FORM_ORIGINS``)."""
    template = _plain_environment().get_template("form_snippet_code.html")
    categories = [(c, gettext(CATEGORY_LABELS[c])) for c in FORM_CATEGORIES]
    return {kind: template.render(kind=kind, base=public_url, action=public_url + ACTION,
                                  categories=categories, honeypot=HONEYPOT_FIELD).strip()
            for kind in ("iframe", "form")}


async def snippet_page(request: web.Request) -> web.Response:
    """``GET /form/snippet``: the HTML to paste into the company's page, shown as text."""
    config = request.app[FORM]
    return _render(request, "form_snippet.html", {
        "snippets": snippet_html(config.public_url), "origins": sorted(config.allowed_origins)})


def add_form_routes(app: web.Application, config: FormConfig) -> None:
    """Register ``GET /form``, ``/form/snippet`` and ``/form/thanks/{token}`` on ``app``."""
    app[FORM] = config
    app.router.add_get("/form", form_page, name="form")
    app.router.add_get("/form/snippet", snippet_page)
    app.router.add_get("/form/thanks/{token}", thanks_page)
