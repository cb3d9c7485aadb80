"""``GET /inbox``: the signed-in officer's tickets, filtered, paged, and live.

- ``GET /inbox``: the page (tabs, the filter form, the rows, paging);
- ``GET /inbox/rows``: the rows alone, as the page re-fetches them when told;
- ``GET /inbox/events``: server-sent ``changed`` events whenever a ticket the officer may see
  gets a message, an assignment, an update or an SLA warning, so the page redraws its rows
  without a reload (htmx's SSE extension; the page's own route, on the cookie session);
- ``POST /inbox/status``: the officer's own status (online, away, off), as the API's action.

A bad filter is the page again with the reason (400), never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from desk.api import CALENDARS, CLOCK, SESSIONS, read_sessions
from desk.i18n import gettext
from desk.inbox_rows import InboxQuery, Page, fingerprint, inbox_page, tabs_for
from desk.queue_filters import PRIORITIES, TICKET_STATUSES, FilterError
from desk.stream import STOPPING, client_left_quietly
from desk.web_session import page_login_required, render_staff_page, request_staff
from router import actions
from router.calendars import QueueCalendars
from router.rules import CATEGORIES
from router.staff import STATUSES
from storage.models import Staff

POLL_SECONDS = 1.0
HEARTBEAT_EVERY = 15
CHANNELS = ("email", "facebook", "zalo", "shopee", "lazada", "tiktok", "hotline", "webform")


def time_left(left: timedelta | None) -> str:
    """Business time left on a clock, in words: 'còn 2 giờ 05 phút', 'quá hạn 10 phút'."""
    if left is None:
        return ""
    minutes = int(abs(left.total_seconds()) // 60)
    hours, minutes = divmod(minutes, 60)
    amount = (gettext("{hours} h {minutes:02d} min").format(hours=hours, minutes=minutes)
              if hours else gettext("{minutes} min").format(minutes=minutes))
    if left <= timedelta():
        return gettext("{amount} overdue").format(amount=amount)
    return gettext("{amount} left").format(amount=amount)


def _link(params: dict[str, str], **changes: Any) -> str:
    merged = {**params, **{k: str(v) for k, v in changes.items() if v is not None}}
    return "/inbox?" + urlencode({k: v for k, v in merged.items() if v})


async def _load(request: web.Request) -> tuple[InboxQuery | None, Page | None, str | None]:
    staff = request_staff(request)
    params = {name: request.query.getall(name) for name in request.query}
    try:
        inbox = InboxQuery.parse(params, staff)
    except FilterError as exc:
        return None, None, str(exc)
    calendars = request.app.get(CALENDARS) or QueueCalendars()
    async with read_sessions(request.app)() as session:
        page = await inbox_page(session, staff, inbox, request.app[CLOCK](), calendars)
    return inbox, page, None


def _context(request: web.Request, inbox: InboxQuery | None, page: Page | None,
             error: str | None) -> dict[str, Any]:
    staff = request_staff(request)
    params = inbox.params if inbox is not None else {}
    return {
        "inbox": inbox, "page": page, "error": error, "params": params,
        "tab": inbox.tab if inbox is not None else "mine", "tabs": tabs_for(staff),
        "link": lambda **changes: _link(params, **changes),
        "rows_url": "/inbox/rows?" + urlencode(params),
        "time_left": time_left,
        "choices": {"status": TICKET_STATUSES, "category": CATEGORIES,
                    "priority": PRIORITIES, "channel": CHANNELS,
                    "queue": [q.name for q in staff.queues]},
    }


@page_login_required
async def inbox_view(request: web.Request) -> web.Response:
    """The inbox page."""
    inbox, page, error = await _load(request)
    return render_staff_page("inbox.html", request, _context(request, inbox, page, error),
                             status=400 if error else 200)


@page_login_required
async def inbox_rows(request: web.Request) -> web.Response:
    """The rows partial (what the page swaps in when the events say something changed)."""
    inbox, page, error = await _load(request)
    return render_staff_page("inbox_rows.html", request, _context(request, inbox, page, error),
                             status=400 if error else 200)


@page_login_required
async def inbox_events(request: web.Request) -> web.StreamResponse:
    """``changed`` events for this officer until they leave or the service stops."""
    staff = request_staff(request)
    async with request.app[SESSIONS]() as session:
        seen = await fingerprint(session, staff)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    with client_left_quietly(request, staff.id):
        await _changes(request, response, staff, seen)
    return response


async def _changes(request: web.Request, response: web.StreamResponse, staff: Staff,
                   seen: tuple[Any, ...]) -> None:
    sessions, stopping = request.app[SESSIONS], request.app[STOPPING]
    await response.write(b": connected\n\n")
    idle = 0
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), POLL_SECONDS)
        async with sessions() as session:
            now = await fingerprint(session, staff)
        if now != seen:
            seen, idle = now, 0
            await response.write(b"event: changed\ndata: rows\n\n")
            continue
        idle += 1
        if idle >= HEARTBEAT_EVERY / POLL_SECONDS:
            await response.write(b": keep-alive\n\n")
            idle = 0


def _back(request: web.Request) -> str:
    """The page the form was posted from (this site only), else the inbox."""
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.netloc and referer.netloc != request.host:
        return "/inbox"
    path = referer.path or "/inbox"
    if not path.startswith("/") or path.startswith("//"):
        return "/inbox"
    return path + (f"?{referer.query}" if referer.query else "")


@page_login_required
async def my_status(request: web.Request) -> web.Response:
    """Set my status from the header's form; back to the page it was on."""
    status = (await request.post()).get("status")
    if status not in STATUSES:
        raise web.HTTPBadRequest(text=gettext("Status must be online, away or off."))
    staff = request_staff(request)
    async with request.app[SESSIONS]() as session, session.begin():
        me = await session.merge(staff)
        await actions.set_my_status(session, me, str(status), request.app[CLOCK]())
    raise web.HTTPSeeOther(_back(request))


def add_inbox_routes(app: web.Application) -> None:
    """Mount ``/inbox`` and its parts (``add_sign_in_routes`` and the staff API first)."""
    app.router.add_get("/inbox", inbox_view)
    app.router.add_get("/inbox/rows", inbox_rows)
    app.router.add_get("/inbox/events", inbox_events)
    app.router.add_post("/inbox/status", my_status)
