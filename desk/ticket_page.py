"""``/inbox/tickets/{number}``: one ticket's thread, its customer, and the officer's actions.

- ``GET /inbox/tickets/{number}``: the page; a ticket the officer may not see is 404, by any
  URL below too (the staff API's ``visible`` rule);
- ``POST /inbox/tickets/{number}/{action}``: claim, reply, note, waiting, resume, resolve,
  reopen, reassign, relabel, retry (a failed reply, ``message_id``), callback: the staff
  API's own actions (``desk.api_actions.perform``), so both obey one rule. htmx posts get the
  ticket's part back; a plain form goes back to the page (303). Refused: the part again with
  the reason in Vietnamese (``desk.action_errors``) and the action's 4xx;
- ``POST /inbox/tickets/{number}/call``: click-to-call through the PBX
  (``desk.api_calls.call_customer``, as ``POST /api/v1/tickets/{id}/call``); the page says
  whether the PBX accepted the call (502 when it did not, with its words);
- ``GET /inbox/tickets/{number}/answers?q=``: canned answers of the ticket's queue, filled in
  for it, as buttons ``static/js/ticket.js`` inserts into the reply;
- ``GET /inbox/tickets/{number}/files/{message}/{index}``: an attachment we stored, as a
  download (never rendered).

A reply carries the id of the last customer message the officer saw; if newer ones came in
meanwhile, nothing is sent and the page comes back with them and the draft kept.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.action_errors import PAGE_MESSAGES, action_error
from desk.api import CLOCK, SESSIONS, read_sessions, ticket_key
from desk.api_actions import actions_by_name, perform
from desk.api_answers import rendered_answers
from desk.api_calls import call_customer, click_to_call_on
from desk.auth import visible
from desk.delivery import delivery_json
from desk.i18n import N_, gettext
from desk.kb import plain_text, suggested, ticket_text
from desk.pages import LOCAL_TZ
from desk.reply_window import closed_window, refuse_if_closed
from desk.surveys.by_hand import SURVEY_POLICY, by_hand, hand_link
from desk.thread_view import thread_items
from desk.ticket_actions import Action, Actor
from desk.warranty import MATCHED_CATEGORIES, match_ticket
from desk.web_session import page_login_required, render_staff_page, request_staff
from router import actions
from router.callbacks import BUSY, HOTLINE, NO_ANSWER, REACHED, RESOLVED, callback_number
from router.events import OutboundMessage, outbound_message_id
from router.rules import CATEGORIES
from storage.models import (
    Contact,
    Customer,
    Message,
    ProcessedEvent,
    Staff,
    Ticket,
    staff_queues,
    ticket_number,
)
from storage.models import Queue as QueueRow

# The channels replies leave on (``ingest.senders.reply_senders``); set by the app factory.
REPLY_CHANNELS: web.AppKey[frozenset[str]] = web.AppKey("desk.reply_channels", frozenset)
# Where attachments are stored (``CSKH_ATTACHMENT_DIR``); only files under it are served.
ATTACHMENT_DIR: web.AppKey[Path] = web.AppKey("desk.attachment_dir", Path)
ACTIONS = ("claim", "reply", "note", "waiting", "resume", "resolve", "reopen", "reassign",
           "relabel", "retry", "callback", "call", "merge", "survey-link")
# A callback's outcomes as the page offers them (``router.callbacks.OUTCOMES``).
CALLBACK_OUTCOMES = ((REACHED, N_("Reached the customer")), (NO_ANSWER, N_("No answer")),
                     (BUSY, N_("Busy")), (RESOLVED, N_("Resolved on the call")))
OTHER_TICKETS = 10
PART_HEADER = "X-CSKH-Part"


class StaleThread(Exception):
    """The customer wrote again after the officer opened the page: show it, send nothing."""


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(text=gettext("No such ticket."), content_type="text/plain")


async def _visible_ticket(session: AsyncSession, staff: Staff, raw: str) -> Ticket:
    key = ticket_key(raw)
    ticket = None if key is None else await session.scalar(
        select(Ticket).where(Ticket.id == key, visible(staff)))
    if ticket is None:
        raise _not_found()
    return ticket


@dataclass(frozen=True)
class Delivery:
    """What the page says of one reply: ``state`` ``pending``, ``sent``, ``failed`` or
    ``manual`` (no sender for the channel: send it by hand); for a failure, the reason in
    Vietnamese and the provider's own words; whether the officer may send it again."""

    state: str
    reason_vi: str | None = None
    reason: str | None = None
    may_retry: bool = False


async def _ledger(session: AsyncSession, ticket: Ticket,
                  replies: list[Message]) -> set[int]:
    """The replies the sender's ledger holds as sent (replies stored before delivery was
    tracked on the message)."""
    if not replies:
        return set()
    ids = {outbound_message_id(m.envelope_id): m.id for m in replies}
    # the first piece of a reply sent in several (``ingest.senders._keys``)
    firsts = {uuid.uuid5(event, "part:0"): mid for event, mid in ids.items()}
    done = set(await session.scalars(select(ProcessedEvent.event_id).where(
        ProcessedEvent.consumer == f"sender:{ticket.channel}",
        ProcessedEvent.event_id.in_([*ids, *firsts]))))
    return {ids.get(e) or firsts[e] for e in done}


async def _delivery(session: AsyncSession, staff: Staff, ticket: Ticket,
                    messages: list[Message], channels: frozenset[str]) -> dict[int, Delivery]:
    """Each reply's delivery, from its own columns (``desk.delivery``); a reply stored before
    they existed falls back on the sender's ledger."""
    replies = [m for m in messages if m.direction == "outbound"]
    has_sender = ticket.channel in channels
    untracked = [m for m in replies if m.delivery_status is None]
    sent = await _ledger(session, ticket, untracked) if has_sender else set()
    may_act = actions.may_act(staff, ticket)
    shown: dict[int, Delivery] = {}
    for m in replies:
        state = delivery_json(m)
        if state is None:
            shown[m.id] = Delivery("sent" if m.id in sent else
                                   "pending" if has_sender else "manual")
        elif state["status"] == "failed":
            survey = bool((m.raw or {}).get("survey"))
            again = state["code"] != "no_sender" or has_sender
            shown[m.id] = Delivery("failed", state["reason_vi"], state["reason"],
                                   may_act and again and not survey)
        elif state["status"] == "pending" and not has_sender:
            shown[m.id] = Delivery("manual")
        else:
            shown[m.id] = Delivery(str(state["status"]))
    return shown


async def ticket_context(request: web.Request, session: AsyncSession, staff: Staff,
                         ticket: Ticket) -> dict[str, Any]:
    """What ``ticket.html`` shows of ``ticket`` to ``staff``."""
    messages = list(await session.scalars(
        select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)))
    customer = await session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    assignee = (staff if ticket.assignee_id == staff.id else
                await session.get(Staff, ticket.assignee_id) if ticket.assignee_id else None)
    owner = (await session.get(Staff, customer.owner_id)
             if customer is not None and customer.owner_id else None)
    others: list[Ticket] = []
    if ticket.customer_id is not None:
        others = list(await session.scalars(
            select(Ticket).where(Ticket.customer_id == ticket.customer_id,
                                 Ticket.id != ticket.id, visible(staff))
            .order_by(Ticket.status.in_(actions.CLOSED), Ticket.id.desc())
            .limit(OTHER_TICKETS)))
    colleagues: list[str] = []
    if staff.role in ("lead", "admin") and ticket.queue:
        colleagues = list(await session.scalars(
            select(Staff.name).join(staff_queues, staff_queues.c.staff_id == Staff.id)
            .join(QueueRow, QueueRow.id == staff_queues.c.queue_id)
            .where(QueueRow.name == ticket.queue).order_by(Staff.name)))
    channels = request.app.get(REPLY_CHANNELS, frozenset())
    inbound = [m.id for m in messages if m.direction == "inbound"]
    now = request.app[CLOCK]()
    has_sender = ticket.channel in channels
    reply_window = (await closed_window(session, request.app, ticket, contact, now, messages)
                    if has_sender and ticket.status not in actions.CLOSED else None)
    articles = await suggested(session, ticket.category, ticket_text(
        ticket.subject, [m.text for m in messages if m.direction == "inbound"]))
    return {
        "ticket": ticket, "customer": customer, "contact": contact, "assignee": assignee,
        "owner": owner, "others": others, "colleagues": colleagues,
        "items": thread_items(messages, request.app.get(ATTACHMENT_DIR)),
        "delivery": await _delivery(session, staff, ticket, messages, channels),
        "has_sender": has_sender, "reply_window": reply_window,
        # the register items the ticket names, under warranty or not today; the suggested
        # articles, each insertable as its public address or as plain text
        "register_matched": ticket.category in MATCHED_CATEGORIES,
        "register": await match_ticket(session, ticket, now.astimezone(LOCAL_TZ).date()),
        "articles": [a | {"url": f"{request.url.origin()}{a['path']}",
                          "plain": plain_text(a["text"])} for a in articles],
        "last_message_id": max(inbound, default=0),
        "survey_by_hand": await by_hand(session, ticket), "survey_link": None,
        "closed": ticket.status in actions.CLOSED,
        "may_act": actions.may_act(staff, ticket),
        "may_claim": ticket.assignee_id is None and ticket.status not in actions.CLOSED,
        "may_reassign": bool(colleagues),
        "categories": CATEGORIES, "priorities": actions.PRIORITIES,
        "page_messages": PAGE_MESSAGES, "now": now, "notice": None, "error": None, "draft": "",
        # a hotline ticket is answered by calling back: the number to dial, the outcomes
        "hotline": ticket.channel == HOTLINE,
        "callback_number": (callback_number(ticket, contact)
                            if ticket.channel == HOTLINE else None),
        "callback_outcomes": CALLBACK_OUTCOMES,
        "click_to_call": ticket.channel == HOTLINE and click_to_call_on(request.app),
        "error_said": None,
        # the reply form's idempotency key: the same form sent twice (a double click, a
        # resubmit) stores and sends one reply
        "reply_key": uuid.uuid4().hex,
    }


async def _render(request: web.Request, staff: Staff, raw_key: str, *, status: int = 200,
                  part: bool = False, reload_staff: bool = True, **extra: Any) -> web.Response:
    """The page (``part``: its ``#ticket`` part) of ticket ``raw_key`` for ``staff``;
    ``reload_staff``: read the officer again first (after an action that may change them),
    else the one the sign-in check loaded on this request (its queues with it) serves."""
    async with read_sessions(request.app)() as session:
        me = (await session.get(Staff, staff.id) or staff) if reload_staff else staff
        ticket = await _visible_ticket(session, me, raw_key)
        context = await ticket_context(request, session, me, ticket)
    context.update(extra)
    template = "ticket_body.html" if part else "ticket.html"
    response = render_staff_page(template, request, context, status=status)
    if part:  # ticket.js swaps a part in whatever its status (a 502 from the PBX too)
        response.headers[PART_HEADER] = "ticket"
    return response


@page_login_required
async def ticket_view(request: web.Request) -> web.Response:
    """The ticket page."""
    return await _render(request, request_staff(request), request.match_info["number"],
                         reload_staff=False)


def _fresh_reply(reply: Action, app: web.Application) -> Action:
    """``reply``, refused with ``StaleThread`` when the customer wrote after the message id
    the form carries, and with 409 ``window_closed`` past the channel's reply window (a form
    left open since the window was still open: the sender would refuse it)."""
    async def checked(session: AsyncSession, staff: Staff, ticket: Ticket, body: dict[str, Any],
                      now: Any) -> OutboundMessage | None:
        raw = str(body.get("last_message_id") or "0")
        seen = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else 0
        newest = await session.scalar(select(func.max(Message.id)).where(
            Message.ticket_id == ticket.id, Message.direction == "inbound"))
        if newest is not None and newest > seen:
            raise StaleThread
        if ticket.channel in app.get(REPLY_CHANNELS, frozenset()):
            refuse_if_closed(await closed_window(session, app, ticket, None, now))
        return await reply(session, staff, ticket, body, now)

    return checked


@page_login_required
async def ticket_action(request: web.Request) -> web.StreamResponse:
    """One of the page's forms: run the API's action, then show the ticket again."""
    name, raw_key = request.match_info["action"], request.match_info["number"]
    if name not in ACTIONS:
        raise web.HTTPNotFound()
    staff = request_staff(request)
    form = await request.post()
    body = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    for field in ("category", "priority"):
        if body.get(field) == "":
            body.pop(field)

    async def who(session: AsyncSession) -> Staff:
        me = await session.get(Staff, staff.id)
        if me is None:
            raise actions.ActionError(404, "not_found", "no such ticket")
        return me

    htmx = request.headers.get("HX-Request") == "true"
    if name == "call":
        return await _call(request, who, raw_key, htmx)
    if name == "survey-link":
        return await _survey_link(request, raw_key, htmx)
    action = actions_by_name(request.app)[name]
    if name == "reply":
        action = _fresh_reply(action, request.app)
    try:
        await perform(request, who, raw_key, action, body)
    except StaleThread:
        return await _render(request, staff, raw_key, status=409, part=htmx,
                             draft=body.get("text", ""),
                             notice=gettext("The customer wrote again while you were typing: "
                                            "read the new message, then send your reply."))
    except actions.ActionError as exc:
        if exc.status == 404:
            raise _not_found() from exc
        return await _render(request, staff, raw_key, status=exc.status, part=htmx,
                             draft=body.get("text", "") if name in ("reply", "note") else "",
                             error=action_error(name, exc))
    if name == "merge":  # this ticket is closed now: on to the one that goes on
        kept = ticket_key(body.get("into", ""))
        target = f"/inbox/tickets/{ticket_number(kept) if kept else raw_key}"
        if htmx:
            return web.Response(status=200, headers={"HX-Redirect": target})
        raise web.HTTPSeeOther(target)
    if not htmx:
        raise web.HTTPSeeOther(f"/inbox/tickets/{raw_key}")
    notices = {"reply": gettext("Reply saved."), "note": gettext("Note saved."),
               "callback": gettext("Callback recorded."),
               "retry": gettext("The reply is being sent again.")}
    return await _render(request, staff, raw_key, part=True, notice=notices.get(name))


async def _survey_link(request: web.Request, raw_key: str, htmx: bool) -> web.Response:
    """Make the link of the ticket's by-hand survey; the page shows it once, to copy."""
    staff = request_staff(request)
    policy = request.app.get(SURVEY_POLICY)
    try:
        async with request.app[SESSIONS]() as session, session.begin():
            me = await session.get(Staff, staff.id) or staff
            ticket = await _visible_ticket(session, me, raw_key)
            if policy is None:
                raise actions.ActionError(409, "no_survey_by_hand", "surveys are not set up")
            link = await hand_link(session, me, ticket, policy, request.app[CLOCK]())
    except actions.ActionError as exc:
        return await _render(request, staff, raw_key, status=exc.status, part=htmx,
                             error=action_error("survey-link", exc))
    return await _render(request, staff, raw_key, part=htmx, survey_link=link)


async def _call(request: web.Request, who: Actor, raw_key: str, htmx: bool) -> web.Response:
    """Place the call through the PBX; the page (its part for htmx) says what became of it."""
    staff = request_staff(request)
    try:
        placed = await call_customer(request.app, who, raw_key)
    except actions.ActionError as exc:
        if exc.status == 404:
            raise _not_found() from exc
        return await _render(request, staff, raw_key, status=exc.status, part=htmx,
                             error=action_error("call", exc),
                             error_said=exc.reason if exc.status == 502 else None)
    notice = gettext("The PBX accepted the call (%(call_id)s): your phone rings first, then "
                     "the customer's %(number)s. Record the outcome below afterwards.") % {
        "call_id": placed.call_id, "number": placed.number}
    return await _render(request, staff, raw_key, part=htmx, notice=notice)


@page_login_required
async def answer_matches(request: web.Request) -> web.Response:
    """The canned answers of the ticket's queue matching ``q``, filled in, as buttons."""
    staff = request_staff(request)
    query = request.query.get("q", "")[:200].replace("\x00", "")
    async with request.app[SESSIONS]() as session:
        me = await session.get(Staff, staff.id) or staff
        ticket = await _visible_ticket(session, me, request.match_info["number"])
        found = await rendered_answers(session, me, ticket, query, 8)
    return render_staff_page("ticket_answers.html", request, {"answers": found})


@page_login_required
async def attachment(request: web.Request) -> web.StreamResponse:
    """A stored attachment of a message on a ticket the officer may see, as a download."""
    staff = request_staff(request)
    raw_message, raw_index = request.match_info["message"], request.match_info["index"]
    if not (raw_message.isdigit() and raw_index.isdigit()) or len(raw_message) > 18:
        raise _not_found()
    async with request.app[SESSIONS]() as session:
        me = await session.get(Staff, staff.id) or staff
        ticket = await _visible_ticket(session, me, request.match_info["number"])
        message = await session.scalar(select(Message).where(
            Message.id == int(raw_message), Message.ticket_id == ticket.id))
    files = (message.attachments or {}).get("files", []) if message is not None else []
    index = int(raw_index) if len(raw_index) < 6 else len(files)
    if index >= len(files) or not isinstance(files[index], dict):
        raise _not_found()
    meta = files[index]
    root = request.app.get(ATTACHMENT_DIR)
    stored = meta.get("stored_at")
    if root is None or not isinstance(stored, str) or "://" in stored:
        raise _not_found()
    path = await asyncio.to_thread(_inside, Path(stored), root)
    if path is None:
        raise _not_found()
    name = str(meta.get("name") or "attachment").replace('"', "")
    return web.FileResponse(path, headers={
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


def _inside(stored: Path, root: Path) -> Path | None:
    """``stored`` resolved, if it is a file under ``root``."""
    path = stored.resolve()
    return path if path.is_file() and path.is_relative_to(root.resolve()) else None


def add_ticket_routes(app: web.Application) -> None:
    """Mount the ticket page and its parts (after ``add_inbox_routes``)."""
    app.router.add_get("/inbox/tickets/{number}", ticket_view)
    app.router.add_get("/inbox/tickets/{number}/answers", answer_matches)
    app.router.add_get("/inbox/tickets/{number}/files/{message}/{index}", attachment)
    app.router.add_post("/inbox/tickets/{number}/{action}", ticket_action)
