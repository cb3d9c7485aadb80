"""``cskh ticket show|reply|resolve|assign|merge|claim|callback`` and the staff commands an
operator on call needs without a browser: ``staff reset-token|rm|rename``.

Ticket actions run ``desk.ticket_actions`` — the code the staff API runs — as the officer
``--as NAME`` (names match ignoring case and diacritics), so the same rules apply: who may
reply, resolve, claim or reassign, capacity, closed tickets. A reply is committed, then
emitted on ``cskh.outbound``; if the bus is down it stays queued and the router's outbox
sends it later.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk import ticket_actions
from desk.api import ticket_key
from desk.ticket_actions import Action, act_on_ticket
from desk.views import tickets_json
from router.actions import ActionError
from router.callbacks import OUTCOMES
from router.events import OutboundMessage
from router.staff import find_staff, remove_staff, rename_staff, reset_token
from storage.db import create_engine, session_factory
from storage.models import Staff, Ticket

TICKET_HELP = "the ticket: its number (CSKH-000042) or id (42)"
AS_HELP = "the staff member who acts (name, case and diacritics ignored)"


def _key(raw: str) -> int:
    from ingest.cli import CliError

    key = ticket_key(raw)
    if key is None:
        raise CliError(f"{raw!r} is no ticket number (e.g. CSKH-000042 or 42)")
    return key


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def card_lines(t: dict[str, Any]) -> list[str]:
    """A ticket's card: status, labels, queue, people and deadlines."""
    who = t["assignee"]["name"] if t["assignee"] else "(unassigned)"
    customer = t["customer"]
    contact = t["contact"]
    lines = [
        f"{t['number']}  {t['status']}  {t['channel']}  "
        f"{t['category']} / {t['priority']} / {t['sentiment']}"
        + ("  (needs review)" if t["needs_review"] else ""),
        f"queue: {t['queue'] or '-'}   assignee: {who}",
        "customer: " + (f"{customer['name']} (tax code {customer['tax_code'] or '-'}, "
                        f"{customer['tier']})" if customer else "-"),
        "contact: " + (" ".join(p for p in (contact["name"], contact["email"],
                                            contact["phone"]) if p) if contact else "-"),
        f"subject: {t['subject'] or '-'}",
        f"created {_when(t['created_at'])}; first response due "
        f"{_when(t['first_response_due'])}; resolution due {_when(t['resolution_due'])}",
    ]
    if t.get("merged_into"):
        lines.append(f"merged into {t['merged_into']}")
    return lines


def thread_lines(t: dict[str, Any]) -> list[str]:
    """A ticket's messages, oldest first, as plain text."""
    lines: list[str] = []
    for m in t["messages"]:
        sender = m["sender"]
        who = " ".join(p for p in (sender["name"], sender["email"] and f"<{sender['email']}>",
                                   sender["phone"]) if p) or "-"
        arrow = "<- customer" if m["direction"] == "inbound" else "-> reply"
        lines += ["", f"--- {_when(m['sent_at'] or m['received_at'])}  {arrow}  {who}"]
        lines += (m["text"] or "").splitlines() or [""]
    return lines


def cmd_ticket_show(args: argparse.Namespace) -> int:
    from ingest.cli import CliError, _print, _settings, _with_session

    key = _key(args.ticket)

    async def work(session: AsyncSession) -> dict[str, Any]:
        ticket = await session.get(Ticket, key)
        if ticket is None:
            raise CliError(f"no ticket {args.ticket}")
        return (await tickets_json(session, [ticket]))[0]

    data = asyncio.run(_with_session(_settings(args), work))
    _print(args, data, [*card_lines(data), *thread_lines(data)])
    return 0


async def _act(args: argparse.Namespace, action: Action, body: dict[str, Any]) -> dict[str, Any]:
    from ingest.cli import CliError, _settings, _with_session
    from ingest.lifecycle import make_bus
    from ingest.pipeline import outbound_publisher

    settings = _settings(args)
    key = _key(args.ticket)
    await _with_session(settings, _nothing)  # migrates an embedded database, checks the schema
    engine = create_engine(settings.database_url)

    async def publish(replies: Sequence[OutboundMessage]) -> None:
        bus = make_bus(settings)
        await bus.start()
        try:
            await outbound_publisher(bus)(replies)
        finally:
            await bus.close()

    async def actor(session: AsyncSession) -> Staff:
        return await find_staff(session, args.as_)

    try:
        return await act_on_ticket(session_factory(engine), publish, key, actor, action, body,
                                   datetime.now(UTC), visible_only=False)
    except ActionError as exc:
        raise CliError(f"{args.ticket}: {exc.reason} ({exc.code})") from exc
    finally:
        await engine.dispose()


async def _nothing(_session: AsyncSession) -> None:
    return None


def _ticket_command(action: Action, body: Any = None) -> Any:
    def command(args: argparse.Namespace) -> int:
        from ingest.cli import _print

        data = asyncio.run(_act(args, action, body(args) if body else {}))
        _print(args, data, card_lines(data))
        return 0

    return command


def _reply_body(args: argparse.Namespace) -> dict[str, Any]:
    text = sys.stdin.read() if args.text == "-" else args.text
    return {"text": text}


def cmd_ticket_reply(args: argparse.Namespace) -> int:
    from ingest.cli import _print, _settings

    domain = _settings(args).message_id_domain
    data = asyncio.run(_act(args, partial(ticket_actions.reply, mail_domain=domain),
                            _reply_body(args)))
    _print(args, data, [*card_lines(data), f"reply queued on {data['channel']} "
                        f"(message {data['messages'][-1]['id']})"])
    return 0


def cmd_staff_reset_token(args: argparse.Namespace) -> int:
    from ingest.cli import _print, _settings, _with_session

    async def work(session: AsyncSession) -> Any:
        return await reset_token(session, args.name)

    made = asyncio.run(_with_session(_settings(args), work))
    _print(args, {"id": made.id, "name": made.name, "token": made.token},
           [f"{made.name}: new token: {made.token}",
            "(the old token no longer works; this one is shown only now)"])
    return 0


def cmd_staff_rm(args: argparse.Namespace) -> int:
    from ingest.cli import _print, _settings, _with_session

    async def work(session: AsyncSession) -> Any:
        return await remove_staff(session, args.name)

    gone = asyncio.run(_with_session(_settings(args), work))
    _print(args, {"id": gone.id, "name": gone.name, "returned": gone.returned},
           [f"removed {gone.name}; {len(gone.returned)} ticket(s) back in their queues"
            + (f": {', '.join(gone.returned)}" if gone.returned else "")])
    return 0


def cmd_staff_rename(args: argparse.Namespace) -> int:
    from ingest.cli import _print, _settings, _with_session

    async def work(session: AsyncSession) -> dict[str, Any]:
        staff = await rename_staff(session, args.old, args.new)
        return {"id": staff.id, "name": staff.name}

    row = asyncio.run(_with_session(_settings(args), work))
    _print(args, row, [f"{args.old} is now {row['name']}"])
    return 0


def add_tickets_parser(sub: Any, common: argparse.ArgumentParser,
                       out: argparse.ArgumentParser) -> None:
    """Register ``cskh ticket`` on the ``cskh`` subcommands ``sub``."""
    ticket = sub.add_parser(
        "ticket", help="work a ticket from a terminal (show, reply, resolve, assign, merge, "
                       "claim, callback)",
        description="The staff API's actions, as an officer (--as NAME): the same rules "
                    "decide who may do what.").add_subparsers(
        dest="ticket_command", required=True, metavar="ACTION")

    def action(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = ticket.add_parser(name, parents=[common, out], help=help_,
                                                       description=description)
        p.add_argument("ticket", metavar="TICKET", help=TICKET_HELP)
        return p

    show = action("show", "print a ticket's card and its thread",
                  "The card (status, labels, queue, assignee, customer, deadlines) and every "
                  "message, oldest first. --json: the staff API's form of the ticket.")
    show.set_defaults(func=cmd_ticket_show)
    reply = action("reply", "queue a reply to the customer on the ticket's channel",
                   "Store the reply and emit it on cskh.outbound, as the staff API does; the "
                   "senders role delivers it. Only the assignee, a lead of the queue or an "
                   "admin may reply.")
    reply.add_argument("text", metavar="TEXT", help="the reply; '-' reads it from stdin")
    reply.add_argument("--as", dest="as_", required=True, metavar="NAME", help=AS_HELP)
    reply.set_defaults(func=cmd_ticket_reply)
    resolve = action("resolve", "mark a ticket resolved",
                     "Only the assignee, a lead of the queue or an admin may resolve; the "
                     "freed place goes to a queued ticket.")
    resolve.add_argument("--as", dest="as_", required=True, metavar="NAME", help=AS_HELP)
    resolve.set_defaults(func=_ticket_command(ticket_actions.resolve))
    assign = action("assign", "hand a ticket to an officer of its queue",
                    "A lead of the ticket's queue (or an admin) gives it to STAFF, who must "
                    "serve that queue.")
    assign.add_argument("staff", metavar="STAFF", help="the officer who gets it")
    assign.add_argument("--as", dest="as_", required=True, metavar="NAME",
                        help="the lead or admin who reassigns")
    assign.set_defaults(func=_ticket_command(ticket_actions.reassign,
                                             lambda a: {"staff": a.staff}))
    merged = action("merge", "merge a ticket into another of the same matter",
                    "The customer's matter opened twice (a web form that could not prove it "
                    "continues a ticket, a second mail thread): TICKET's messages move to "
                    "--into, TICKET is closed with a note on both, and its conversation "
                    "continues on --into. Whoever merges must be allowed to act on both "
                    "(their assignee, a lead of their queues, an admin).")
    merged.add_argument("--into", required=True, metavar="TICKET",
                        help="the ticket that goes on (id or CSKH-number)")
    merged.add_argument("--as", dest="as_", required=True, metavar="NAME", help=AS_HELP)
    merged.set_defaults(func=_ticket_command(ticket_actions.merge,
                                             lambda a: {"into": a.into}))
    claim = action("claim", "take an unassigned ticket of one of one's queues",
                   "The officer --as NAME takes the ticket if it is unassigned, in one of "
                   "their queues and they are under capacity.")
    claim.add_argument("--as", dest="as_", required=True, metavar="NAME",
                       help="the officer who takes it")
    claim.set_defaults(func=_ticket_command(ticket_actions.claim))
    called = action("callback", "record a hotline callback's outcome",
                    "A hotline ticket is answered by calling back: record what became of the "
                    "call (reached; no_answer; busy; resolved: settled on the call, which "
                    "resolves the ticket) with a note. A missed call's ticket is resolved "
                    "only after a callback reached the customer.")
    called.add_argument("--outcome", required=True, choices=OUTCOMES, help="how the call went")
    called.add_argument("--note", help="what was said ('-' reads it from stdin)")
    called.add_argument("--as", dest="as_", required=True, metavar="NAME", help=AS_HELP)
    called.set_defaults(func=_ticket_command(ticket_actions.callback, lambda a: {
        "outcome": a.outcome, "note": sys.stdin.read() if a.note == "-" else a.note}))


def add_staff_admin_parsers(staff: Any, common: argparse.ArgumentParser,
                            out: argparse.ArgumentParser) -> None:
    """Register ``staff reset-token|rm|rename`` on the ``cskh staff`` actions ``staff``."""
    reset = staff.add_parser(
        "reset-token", parents=[common, out], help="issue a new API token (prints it once)",
        description="The old token stops working at once; the new one is printed only now.")
    reset.add_argument("name", help="the staff member (case and diacritics ignored)")
    reset.set_defaults(func=cmd_staff_reset_token)
    rm = staff.add_parser(
        "rm", parents=[common, out], help="remove a staff member; their tickets go back",
        description="Their active tickets go back to their queues unassigned (a wait on the "
                    "customer stays a wait) for the router to hand on; then the member is "
                    "deleted. Their past messages keep their name.")
    rm.add_argument("name", help="the staff member (case and diacritics ignored)")
    rm.set_defaults(func=cmd_staff_rm)
    rename = staff.add_parser(
        "rename", parents=[common, out], help="change a staff member's name",
        description="Refuses a name that matches another member's ignoring case and "
                    "diacritics.")
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")
    rename.set_defaults(func=cmd_staff_rename)
