"""What the web form's webhook adds for browsers: rate limit, CORS, and pages instead of JSON.

The post itself is read, verified and appended by the same ``webhook_handler`` as every
channel (one parsing path: ``connectors.webform``). This edge is asked twice on the way:
``admit`` after verification (the per-address limit of unsigned posts, 429 with
``Retry-After``) and ``answer`` with the JSON answer made, which it may replace for a browser
form post (``Accept: text/html``): the form again with the reasons (400), a 303 to the
thank-you page (2xx), a Vietnamese page saying why nothing was sent (others). JSON clients
keep their JSON, with CORS headers when their page's origin is allowed.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web

from connectors.base import PayloadError, RawRequest, WebhookError
from connectors.webform import WebformConnector, form_values, own_origin
from desk.form.page import FormConfig, accepted_answer, invalid_answer, refused_answer
from desk.json_answers import json_response
from ingest.keys import Clock
from ingest.settings import Settings
from ingest.web.ratelimit import RateLimiter

_FORM_MEDIA = ("application/x-www-form-urlencoded", "multipart/form-data")
PREFLIGHT_MAX_AGE = "600"


class RateLimited(WebhookError):
    """Too many unsigned posts from one address: answered 429 with ``Retry-After``."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many form posts from this address; retry in {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}


def _browser_form(request: web.Request) -> bool:
    media = request.headers.get(hdrs.CONTENT_TYPE, "").split(";", 1)[0].strip().lower()
    return media in _FORM_MEDIA and "text/html" in request.headers.get(hdrs.ACCEPT, "")


@dataclass(frozen=True, slots=True)
class FormEdge:
    """The web form channel's browser side (see the module)."""

    connector: WebformConnector
    limiter: RateLimiter | None

    def admit(self, request: web.Request, raw: RawRequest) -> WebhookError | None:
        """``RateLimited`` when this unsigned post's address is over its limit."""
        if self.limiter is None or self.connector.signed(raw):
            return None
        wait = self.limiter.hit(request.remote or "unknown")
        return None if wait is None else RateLimited(wait)

    def answer(self, request: web.Request, raw: RawRequest | None, status: int,
               data: Mapping[str, Any], response: web.Response) -> web.Response:
        """The answer to send: ``response`` (the JSON one), or a page for a browser form."""
        if _browser_form(request):
            return self._page(request, raw, status, data, response)
        self._cors(request, response)
        return response

    def _page(self, request: web.Request, raw: RawRequest | None, status: int,
              data: Mapping[str, Any], response: web.Response) -> web.Response:
        if 200 <= status < 300 and data.get("ids"):
            return accepted_answer(request, uuid.UUID(str(data["ids"][0])))
        if status == 400 and raw is not None:
            try:
                values = form_values(raw)
            except PayloadError:
                values = {}
            return invalid_answer(request, values, data.get("details", ()),
                                  str(data.get("reason", "")))
        return refused_answer(request, status, response.headers.get("Retry-After"))

    def _cors(self, request: web.Request, response: web.Response) -> None:
        origin = request.headers.get(hdrs.ORIGIN, "").rstrip("/").lower()
        if origin in self.connector.allowed_origins:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.VARY] = "Origin"

    async def preflight(self, request: web.Request) -> web.Response:
        """``OPTIONS /webhooks/webform``: CORS for JSON posts from the allowed origins."""
        origin = request.headers.get(hdrs.ORIGIN, "").rstrip("/").lower()
        asked = {h.strip().lower() for h in request.headers.get(
            hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "").split(",") if h.strip()}
        method = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD, "")
        if origin not in self.connector.allowed_origins and origin != own_origin(str(request.url)):
            reason = f"origin {origin[:200] or '(none)'} may not post this form"
        elif method != "POST":
            reason = "only POST is allowed"
        elif asked - {"content-type"}:
            reason = "only the Content-Type header may be sent (never a signature from a page)"
        else:
            return web.Response(status=204, headers={
                hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin, hdrs.VARY: "Origin",
                hdrs.ACCESS_CONTROL_ALLOW_METHODS: "POST",
                hdrs.ACCESS_CONTROL_ALLOW_HEADERS: "Content-Type",
                hdrs.ACCESS_CONTROL_MAX_AGE: PREFLIGHT_MAX_AGE})
        return json_response({"error": "forbidden_origin", "reason": reason}, status=403)


def link_key(settings: Settings) -> bytes:
    """The key of the thank-you links: from a configured secret, so that every webhook process
    reads the others' links; without one, this process's own (its links die with it)."""
    for secret in (settings.webform_secret, settings.follow_up_secret):
        if secret is not None and secret.get_secret_value():
            return hashlib.sha256(b"cskh-form-links\x1f" + secret.get_secret_value().encode()
                                  ).digest()
    return secrets.token_bytes(32)


def form_edge(settings: Settings, connector: WebformConnector, clock: Clock) -> FormEdge:
    """The edge of ``connector`` as ``settings`` configure it."""
    rate = settings.form_rate_per_minute
    return FormEdge(connector, RateLimiter(rate, clock) if rate else None)


def form_config(settings: Settings) -> FormConfig:
    """What the form pages need from ``settings``."""
    secret = settings.follow_up_secret
    return FormConfig(public_url=settings.customer_url,
                      allowed_origins=frozenset(settings.form_origins),
                      link_key=link_key(settings),
                      follow_up_secret=secret.get_secret_value() if secret else None)
