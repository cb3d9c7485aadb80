"""``GET /``, ``GET/POST /login``, ``POST /logout``: officers sign in with name or e-mail.

A wrong password answers 401 with the form again, after a pause that grows with each failure;
after repeated failures for a name or from an address, 429 says in Vietnamese for how many
minutes sign-in is locked. The name typed is kept in the form, the password never; neither is
logged.
"""

from __future__ import annotations

import asyncio
import math

import aiohttp_jinja2
import structlog
from aiohttp import web

from desk.api import CLOCK, SESSIONS
from desk.i18n import gettext
from desk.lockout import LockoutPolicy, forget_failures, locked_until, record_failure
from desk.passwords import MAX_LENGTH, staff_by_login, verify_async
from desk.web_session import (
    check_csrf,
    csrf_token,
    end_session,
    page_login_required,
    signed_in,
    start_session,
)
from storage.log_events import LogEvent
from storage.models import login_key

log = structlog.get_logger(__name__)
LOCKOUT: web.AppKey[LockoutPolicy] = web.AppKey("desk.lockout", LockoutPolicy)
MAX_LOGIN = 320
NO_STORE = {"Cache-Control": "no-store"}


def _next(raw: object) -> str:
    """Where to go after signing in: a local path only (never another site)."""
    target = raw if isinstance(raw, str) else ""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


async def _form(request: web.Request, *, login: str = "", error: str | None = None,
                status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    context = {"login": login, "error": error, "next": _next(request.query.get("next")),
               "csrf": await csrf_token(request)}
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    response.headers.update(NO_STORE)
    response.headers.update(headers or {})
    return response


async def home(request: web.Request) -> web.Response:
    """``/inbox`` when signed in, else ``/login``."""
    raise web.HTTPSeeOther("/inbox" if await signed_in(request) is not None else "/login")


async def login_page(request: web.Request) -> web.Response:
    """The sign-in form (a signed-in officer goes on to the inbox)."""
    if await signed_in(request) is not None:
        raise web.HTTPSeeOther(_next(request.query.get("next")))
    return await _form(request)


def _locked_message(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return gettext("Too many wrong passwords. Signing in is locked for {minutes} "
                   "minute(s); try again later.").format(minutes=minutes)


async def login(request: web.Request) -> web.Response:
    """Check the name (or e-mail) and password; on success a fresh session, then ``next``."""
    await check_csrf(request)
    form = await request.post()
    raw_login, password = form.get("login"), form.get("password")
    typed = raw_login.strip() if isinstance(raw_login, str) else ""
    if not typed or not isinstance(password, str) or not password:
        return await _form(request, login=typed, status=400,
                           error=gettext("Enter your name or e-mail and your password."))
    if len(typed) > MAX_LOGIN or len(password) > MAX_LENGTH:
        return await _form(request, status=400, error=gettext("That name or password is too "
                                                              "long."))
    key, address = login_key(typed), request.remote or "unknown"
    policy, now = request.app[LOCKOUT], request.app[CLOCK]()
    failures = 0
    async with request.app[SESSIONS]() as session, session.begin():
        until = await locked_until(session, key, address, now, policy)
        if until is not None:
            wait = (until - now).total_seconds()
            log.warning(LogEvent.SIGN_IN_LOCKED, address=address)
            return await _form(request, login=typed, status=429,
                               error=_locked_message(wait),
                               headers={"Retry-After": str(max(1, math.ceil(wait)))})
        staff = await staff_by_login(session, typed)
        ok = await verify_async(None if staff is None else staff.password_hash, password)
        if ok and staff is not None:
            await forget_failures(session, key)
        else:
            failures = await record_failure(session, key, address, now, policy)
    if not ok or staff is None:
        log.info(LogEvent.SIGN_IN_FAILED, address=address, failures=failures)
        await asyncio.sleep(policy.slowdown(failures))
        if failures >= policy.per_name:
            return await _form(request, login=typed, status=429,
                               error=_locked_message(policy.window.total_seconds()))
        return await _form(request, login=typed, status=401,
                           error=gettext("Wrong name or password."))
    await start_session(request, staff)
    log.info(LogEvent.SIGN_IN, staff_id=staff.id)
    raise web.HTTPSeeOther(_next(request.query.get("next")), headers=NO_STORE)


@page_login_required
async def logout(request: web.Request) -> web.Response:
    """End the session; back to the sign-in form."""
    await end_session(request)
    raise web.HTTPSeeOther("/login", headers=NO_STORE)


def add_sign_in_routes(app: web.Application, policy: LockoutPolicy | None = None) -> None:
    """Mount ``/``, ``/login`` and ``/logout`` (``setup_sessions`` must have run)."""
    app[LOCKOUT] = policy or LockoutPolicy()
    app.router.add_get("/", home)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
