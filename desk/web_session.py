"""Who is signed in to the pages: an encrypted session cookie, idle expiry, CSRF tokens.

The cookie (``aiohttp-session``'s ``EncryptedCookieStorage``, Fernet) holds the officer's id,
when they were last seen, a stamp of their password hash (a new password ends every session
opened with the old one) and the session's CSRF token. It is HttpOnly, SameSite=Lax, and
Secure when the public address is https.

Page handlers use three things from here:

- ``@page_login_required``: the handler runs only for a signed-in officer (``request_staff``
  gives them); anyone else is sent to ``/login`` (an htmx request gets 401 and ``HX-Redirect``).
  A state-changing request (POST, PUT, PATCH, DELETE) must also carry the CSRF token, or 403.
- ``csrf_token(request)``: the token for a form's hidden ``csrf_token`` field; htmx sends it
  as the ``X-CSRF-Token`` header (``staff_base.html`` puts it in ``hx-headers``).
- ``check_csrf(request)``: refuse (403 with the reason) a request without the right token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import aiohttp_session
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet
from sqlalchemy import select

from desk.api import CLOCK, read_sessions
from desk.i18n import gettext
from storage.models import Staff

COOKIE = "cskh_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDLE: web.AppKey[timedelta] = web.AppKey("desk.session_idle", timedelta)
_STAFF = "staff_id"
_SEEN = "seen"
_STAMP = "pw"
_CSRF = "csrf"
_REQUEST_STAFF: web.RequestKey[Staff] = web.RequestKey("desk.staff", Staff)
_REQUEST_CSRF: web.RequestKey[str] = web.RequestKey("desk.csrf", str)
# "seen" is rewritten (a new cookie) at most this often, not on every request
_SEEN_GRANULARITY = 60

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup_sessions(app: web.Application, key: bytes, *, secure: bool,
                   idle: timedelta = timedelta(hours=12)) -> None:
    """Install the session middleware on ``app``: ``key`` is 32 random bytes."""
    if len(key) != 32:
        raise ValueError("the session key must be 32 bytes")
    storage = EncryptedCookieStorage(
        Fernet(base64.urlsafe_b64encode(key)), cookie_name=COOKIE, httponly=True,
        secure=secure, samesite="Lax", max_age=int(idle.total_seconds()))
    aiohttp_session.setup(app, storage)
    app[IDLE] = idle


def _stamp(staff: Staff) -> str:
    return hashlib.sha256((staff.password_hash or "").encode()).hexdigest()[:16]


def _now(request: web.Request) -> int:
    return int(request.app[CLOCK]().timestamp())


async def csrf_token(request: web.Request) -> str:
    """This session's CSRF token (made now if it has none; the cookie is then re-sent)."""
    cached = request.get(_REQUEST_CSRF)
    if isinstance(cached, str):
        return cached
    session = await aiohttp_session.get_session(request)
    token = session.get(_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[_CSRF] = token
    request[_REQUEST_CSRF] = token
    return token


def forbidden(reason: str) -> web.HTTPForbidden:
    """A 403 page that says why."""
    return web.HTTPForbidden(text=reason, content_type="text/plain")


async def check_csrf(request: web.Request) -> None:
    """Refuse (403) a request whose ``X-CSRF-Token`` header or ``csrf_token`` form field is not
    this session's token."""
    session = await aiohttp_session.get_session(request)
    expected = session.get(_CSRF)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded",
                                                 "multipart/form-data"):
        value = (await request.post()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(
            sent.encode(), expected.encode()):
        raise forbidden(gettext("The form has expired or did not come from this site. "
                                "Reload the page and try again."))


async def signed_in(request: web.Request) -> Staff | None:
    """The officer signed in on this request, or ``None`` (no session, idle too long, password
    changed since, or no longer on the staff)."""
    cached = request.get(_REQUEST_STAFF)
    if isinstance(cached, Staff):
        return cached
    session = await aiohttp_session.get_session(request)
    staff_id, seen = session.get(_STAFF), session.get(_SEEN)
    if not isinstance(staff_id, int) or not isinstance(seen, int):
        return None
    now = _now(request)
    if now - seen > request.app[IDLE].total_seconds():
        session.invalidate()
        return None
    async with read_sessions(request.app)() as db:
        staff = await db.scalar(select(Staff).where(Staff.id == staff_id))
    if staff is None or staff.password_hash is None or not hmac.compare_digest(
            _stamp(staff), str(session.get(_STAMP, ""))):
        session.invalidate()
        return None
    if now - seen >= _SEEN_GRANULARITY:
        session[_SEEN] = now
    request[_REQUEST_STAFF] = staff
    return staff


def request_staff(request: web.Request) -> Staff:
    """The officer ``@page_login_required`` let through."""
    staff = request.get(_REQUEST_STAFF)
    if not isinstance(staff, Staff):
        raise RuntimeError("request_staff outside a @page_login_required handler")
    return staff


async def start_session(request: web.Request, staff: Staff) -> None:
    """Sign ``staff`` in: a fresh session (new CSRF token) replaces whatever was there."""
    session = await aiohttp_session.new_session(request)
    session[_STAFF] = staff.id
    session[_SEEN] = _now(request)
    session[_STAMP] = _stamp(staff)
    session[_CSRF] = secrets.token_urlsafe(32)
    request[_REQUEST_STAFF] = staff
    request[_REQUEST_CSRF] = session[_CSRF]


async def end_session(request: web.Request) -> None:
    """Sign out: the cookie is cleared."""
    session = await aiohttp_session.get_session(request)
    session.invalidate()
    request.pop(_REQUEST_STAFF, None)


def login_url(request: web.Request) -> str:
    """``/login``, with the page to come back to."""
    target = request.path_qs if request.method in SAFE_METHODS else "/inbox"
    return f"/login?next={quote(target, safe='')}"


def page_login_required(handler: Handler) -> Handler:
    """Run ``handler`` only for a signed-in officer, and state changes only with the CSRF
    token; anyone else goes to ``/login`` (htmx: 401 with ``HX-Redirect``)."""
    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        staff = await signed_in(request)
        if staff is None:
            if request.headers.get("HX-Request") == "true":
                raise web.HTTPUnauthorized(headers={"HX-Redirect": login_url(request)},
                                           text=gettext("Please sign in again."))
            raise web.HTTPSeeOther(login_url(request))
        if request.method not in SAFE_METHODS:
            await check_csrf(request)
        await csrf_token(request)
        return await handler(request)

    return guarded


def render_staff_page(template: str, request: web.Request, context: dict[str, Any],
                      status: int = 200) -> web.Response:
    """``template`` (extending ``staff_base.html``) for the officer ``@page_login_required``
    let through: the context gains ``me`` and ``csrf``; the answer is never cached."""
    full = {"me": request_staff(request), "csrf": request.get(_REQUEST_CSRF, ""), **context}
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def missing_page(request: web.Request, message: str) -> web.Response:
    """The staff pages' 404: ``message`` (what is missing) and the way back, in the header's
    frame, for the officer ``@page_login_required`` let through."""
    return render_staff_page("missing.html", request, {"message": message}, status=404)
