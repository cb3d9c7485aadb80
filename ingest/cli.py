"""The ``cskh`` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports import ReportError
from desk.views import tickets_json
from ingest.bus.base import Bus, BusUnavailable
from ingest.cli_answers import add_answers_parser
from ingest.cli_backup import add_backup_parser
from ingest.cli_campaign import add_campaign_parser
from ingest.cli_care import add_care_parser
from ingest.cli_channels import add_channels_parser
from ingest.cli_customers import add_customers_parser
from ingest.cli_kb import add_kb_parser
from ingest.cli_password import add_password_parser, password_hash
from ingest.cli_report import add_report_parser
from ingest.cli_tickets import add_staff_admin_parsers, add_tickets_parser
from ingest.cli_warranty import add_warranty_parser
from ingest.dlq import list_dead_letters, replay_dead_letters
from ingest.logging import configure_logging
from ingest.settings import ALL_ROLES, Role, Settings, load_settings
from router.staff import (
    ACTIVE_TICKET_STATUSES,
    ROLES,
    STATUSES,
    StaffError,
    add_staff,
    find_staff,
    set_shift,
    set_status,
)
from storage.db import create_engine, is_sqlite, session_factory
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import LabelCorrection, Queue, Staff, Ticket, staff_queues

T = TypeVar("T")
# Tickets no one holds: waiting for an officer, or on the customer after an officer left.
UNASSIGNED_STATUSES = ("new", "queued", "waiting")


class CliError(Exception):
    """A command that cannot do what was asked; printed without a traceback, exit 2."""


def _settings(args: argparse.Namespace) -> Settings:
    config: Path | None = getattr(args, "config", None)
    return load_settings(config)


async def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = create_engine(settings.database_url)
    try:
        if is_sqlite(settings.database_url):
            await upgrade(engine)
        elif await current_revision(engine) != head_revision():
            raise CliError("the database schema is not up to date: run `cskh migrate` first")
        async with session_factory(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def _print(args: argparse.Namespace, data: Any, lines: Sequence[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        for line in lines:
            print(line)


# -- commands ----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import time

    import structlog

    from ingest.keys import MODEL_STATE
    from ingest.lifecycle import SchemaOutOfDate
    from ingest.startup import StartupRefused, listen, ready_fields, single_instance
    from ingest.web.app import create_app  # the web stack is only needed by `serve`
    from storage.log_events import LogEvent

    began = time.monotonic()
    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    log = structlog.get_logger("ingest.serve")
    roles: tuple[Role, ...] = tuple(args.role) if args.role else ALL_ROLES
    host = args.host or settings.http_host
    port = args.port if args.port is not None else settings.http_port
    log.info(LogEvent.SERVICE_STARTING, roles=list(roles), pid=os.getpid())
    try:
        # Both before anything is opened or migrated: a second serve on the same embedded
        # files, or on a taken port, refuses having touched nothing.
        with single_instance(settings), listen(host, port) as sockets:
            app = create_app(settings, roles)
            address = f"http://{host}:{sockets[0].getsockname()[1]}"

            async def ready(app: web.Application) -> None:
                await asyncio.sleep(0)  # the consumer tasks say they started: ready is last
                log.info(LogEvent.SERVICE_READY, **ready_fields(
                    settings, address, roles, app.get(MODEL_STATE), time.monotonic() - began))

            async def stopping(_app: web.Application) -> None:
                log.info(LogEvent.SERVICE_STOPPING)

            app.on_startup.append(ready)  # after every cleanup_ctx has started
            app.on_shutdown.append(stopping)
            web.run_app(app, sock=sockets, shutdown_timeout=settings.shutdown_timeout,
                        access_log=None, print=None)
    except StartupRefused as exc:  # another serve holds the files or the port: exit 1
        print(f"cskh: error: {exc}", file=sys.stderr)
        return 1
    except SchemaOutOfDate as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    log.info(LogEvent.SERVICE_STOPPED)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def run() -> tuple[str | None, str | None]:
        engine = create_engine(settings.database_url)
        try:
            before = await current_revision(engine)
            return before, await upgrade(engine)
        finally:
            await engine.dispose()

    before, after = asyncio.run(run())
    _print(args, {"from": before, "to": after},
           [f"schema: {before or 'empty'} -> {after}" if before != after
            else f"schema already at {after}"])
    return 0


def cmd_staff_add(args: argparse.Namespace) -> int:
    hashed = password_hash(True) if args.password_stdin else None

    async def work(session: AsyncSession) -> Any:
        return await add_staff(session, args.name, args.queue, capacity=args.capacity,
                               role=args.role, shift=args.shift, email=args.email,
                               password_hash=hashed)

    made = asyncio.run(_with_session(_settings(args), work))
    _print(args, {"id": made.id, "name": made.name, "token": made.token},
           [f"id: {made.id}", f"token: {made.token}",
            "(the token is shown only now; store it safely)"])
    return 0


def cmd_staff_ls(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        staff = list(await session.scalars(select(Staff).order_by(Staff.id)))
        loads = dict((await session.execute(
            select(Ticket.assignee_id, func.count()).where(
                Ticket.status.in_(ACTIVE_TICKET_STATUSES)).group_by(Ticket.assignee_id)
        )).all())
        return [{"id": s.id, "name": s.name, "role": s.role, "status": s.status,
                 "capacity": s.capacity, "open_tickets": loads.get(s.id, 0),
                 "queues": [q.name for q in s.queues], "shift": s.shift} for s in staff]

    rows = asyncio.run(_with_session(_settings(args), work))
    _print(args, rows, [f"{'ID':>4}  {'NAME':<24} {'ROLE':<6} {'STATUS':<7} {'LOAD':>9}  "
                        f"{'QUEUES':<24} SHIFT"]
           + [f"{r['id']:>4}  {r['name']:<24} {r['role']:<6} {r['status']:<7} "
              f"{r['open_tickets']:>4}/{r['capacity']:<4}  {','.join(r['queues']):<24} "
              f"{r['shift'] or '(always)'}" for r in rows])
    return 0


def cmd_staff_set_status(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> dict[str, Any]:
        staff = await set_status(session, args.name, args.status)
        return {"id": staff.id, "name": staff.name, "status": staff.status}

    row = asyncio.run(_with_session(_settings(args), work))
    _print(args, row, [f"{row['name']}: {row['status']}"])
    return 0


def cmd_staff_set_shift(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> dict[str, Any]:
        staff = await set_shift(session, args.name, args.shift)
        return {"id": staff.id, "name": staff.name, "shift": staff.shift}

    row = asyncio.run(_with_session(_settings(args), work))
    _print(args, row, [f"{row['name']}: shift {row['shift'] or 'none (always on shift)'}"])
    return 0


# The ticket states, in the staff API's words (``status`` of a ticket), as `queue ls` counts
# them: queued (no officer yet), assigned (not answered yet), open (answered), waiting (on the
# customer), resolved. ``new`` tickets are not routed yet; ``closed`` ones are left out.
QUEUE_LS_STATES = ("queued", "assigned", "open", "waiting", "resolved")


def cmd_queue_ls(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        queues = list(await session.scalars(select(Queue).order_by(Queue.id)))
        counts: dict[tuple[str | None, str], int] = {
            (q, s): n for q, s, n in (await session.execute(
                select(Ticket.queue, Ticket.status, func.count())
                .group_by(Ticket.queue, Ticket.status))).all()
        }
        members: dict[int, int] = dict((await session.execute(
            select(staff_queues.c.queue_id, func.count()).group_by(staff_queues.c.queue_id)
        )).all())
        return [{"name": q.name, "staff": members.get(q.id, 0)}
                | {state: counts.get((q.name, state), 0) for state in QUEUE_LS_STATES}
                for q in queues]

    rows = asyncio.run(_with_session(_settings(args), work))
    _print(args, rows, [f"{'QUEUE':<12} {'STAFF':>5} "
                        + " ".join(f"{s.upper():>8}" for s in QUEUE_LS_STATES)]
           + [f"{r['name']:<12} {r['staff']:>5} "
              + " ".join(f"{r[s]:>8}" for s in QUEUE_LS_STATES) for r in rows])
    return 0


def cmd_queue_show(args: argparse.Namespace) -> int:
    if (args.queue is None) == (args.staff is None):
        raise CliError("give a QUEUE (its unassigned tickets) or --staff N (their tickets)")

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        if args.staff is not None:
            staff = await find_staff(session, args.staff)
            where = [Ticket.assignee_id == staff.id, Ticket.status.in_(ACTIVE_TICKET_STATUSES)]
        else:
            if await session.scalar(select(Queue.id).where(Queue.name == args.queue)) is None:
                names = ", ".join(await session.scalars(select(Queue.name).order_by(Queue.id)))
                raise CliError(f"no queue {args.queue!r} (queues: {names})")
            where = [Ticket.queue == args.queue, Ticket.assignee_id.is_(None),
                     Ticket.status.in_(UNASSIGNED_STATUSES)]
        tickets = list(await session.scalars(
            select(Ticket).where(*where)
            .order_by(Ticket.resolution_due.is_(None), Ticket.resolution_due, Ticket.id)
        ))
        return await tickets_json(session, tickets)

    rows = asyncio.run(_with_session(_settings(args), work))
    _print(args, rows, [f"{'NUMBER':<12} {'STATUS':<9} {'CATEGORY':<12} {'PRIORITY':<8} "
                        f"{'CHANNEL':<9} SUBJECT"]
           + [f"{r['number']:<12} {r['status']:<9} {r['category']:<12} {r['priority']:<8} "
              f"{r['channel']:<9} {(r['subject'] or '')[:60]}" for r in rows])
    return 0


async def _with_bus(settings: Settings, work: Callable[[Bus], Awaitable[T]]) -> T:
    from ingest.lifecycle import make_bus

    bus = make_bus(settings)
    await bus.start()
    try:
        return await work(bus)
    finally:
        await bus.close()


def cmd_dlq_ls(args: argparse.Namespace) -> int:
    letters = asyncio.run(_with_bus(_settings(args), list_dead_letters))
    rows = [d.as_json() for d in letters]
    _print(args, rows, [f"{'PART':>4} {'OFFSET':>7}  {'FROM':<14} {'GROUP':<16} ERROR"]
           + [f"{r['partition']:>4} {r['offset']:>7}  {r['topic'] or r['source']:<14} "
              f"{r['group']:<16} "
              f"{r['error'][:80]}" for r in rows])
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    letters = asyncio.run(_with_bus(_settings(args), replay_dead_letters))
    rows = [d.as_json() for d in letters]
    _print(args, {"replayed": len(rows), "records": rows},
           [f"replayed {len(rows)} dead letter(s) onto their original topics"])
    return 0


def cmd_model_train(args: argparse.Namespace) -> int:
    from normalizer.classifier import shipped_data_paths, train

    settings = _settings(args)
    out: Path = args.out or settings.model_path

    async def corrections(session: AsyncSession) -> list[dict[str, str]]:
        rows = await session.scalars(select(LabelCorrection).order_by(LabelCorrection.id))
        return [{"text": r.text, "channel": r.channel, "category": r.category,
                 "priority": r.priority, "sentiment": r.sentiment} for r in rows]

    extra = [] if args.no_corrections else asyncio.run(_with_session(settings, corrections))
    data = [*shipped_data_paths(), *args.data]
    report = train(data, out, extra=extra, seed=args.seed)
    _print(args, report.to_json(), report.format_text().splitlines())
    return 0


def cmd_model_eval(args: argparse.Namespace) -> int:
    from normalizer.classifier import Classifier, evaluate

    settings = _settings(args)
    path: Path = args.model or settings.model_path
    if not path.is_file():
        print(f"cskh: no model at {path} yet: training one from the shipped data first, as "
              "`cskh serve` does (`cskh model train` builds it with officers' corrections)",
              file=sys.stderr)
    # As `serve` does: a missing model, or one of an older format, is trained first.
    model = Classifier.load_or_train(path)
    report = evaluate(model, args.file)
    _print(args, report.to_json(), report.format_text().splitlines())
    return 0


def cmd_customers_import(args: argparse.Namespace) -> int:
    from router.customers import import_customers

    if args.file.suffix.lower() == ".xlsx":
        from desk.directory import DirectoryError, xlsx_csv

        try:
            text = xlsx_csv(args.file.read_bytes())
        except DirectoryError as exc:
            raise CliError(str(exc)) from exc
    else:
        text = args.file.read_text(encoding="utf-8")

    async def work(session: AsyncSession) -> Any:
        return await import_customers(session, text)

    report = asyncio.run(_with_session(_settings(args), work))
    data = {"created": report.created, "updated": report.updated,
            "contacts": report.contacts,
            "errors": [{"line": line, "error": error} for line, error in report.errors]}
    _print(args, data, [f"customers: {report.created} created, {report.updated} updated; "
                        f"{report.contacts} contacts"]
           + [f"line {line}: {error}" for line, error in report.errors])
    return 1 if report.errors else 0


# -- parser ------------------------------------------------------------------------------------

SHIFT_HELP = ("days and hours in Asia/Ho_Chi_Minh, parts separated by ';', e.g. "
              "'mon-sat 07:30-11:30,13:00-17:00' or 'mon-fri 08:00-17:00; sat 08:00-12:00' "
              "(days mon..sun as ranges or lists; no period crosses midnight; public "
              "holidays are not taken off)")


def build_parser() -> argparse.ArgumentParser:
    """The ``cskh`` argument parser (every command has ``--help``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, metavar="F",
                        help="TOML file of settings, e.g. [[mailboxes]] tables of IMAP "
                             "mailboxes (CSKH_* environment variables win)")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print machine-readable JSON")

    parser = argparse.ArgumentParser(
        prog="cskh", description="cskh-inbox: every customer message becomes one assigned ticket.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the daemon",
                           description="Run the HTTP app, consumers, pullers and senders in one "
                           "process. Roles: webhooks (HTTP: webhooks and the staff API), "
                           "pullers (mailboxes, Asterisk call log), normalizer, router, senders "
                           "(replies by e-mail, Messenger, Zalo OA, Shopee, Lazada, TikTok Shop). "
                           "Logs service.starting, "
                           "then one service.ready line (address, backends, roles, channels, "
                           "model). "
                           "Exits 1 at once, touching nothing, when another serve holds the same "
                           "embedded files (a lock beside them) or the port is taken.")
    serve.add_argument("--role", action="append", choices=ALL_ROLES,
                       help="run only this part (repeatable; default: all roles)")
    serve.add_argument("--host", help="listen address (default: CSKH_HTTP_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default: CSKH_HTTP_PORT)")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser(
        "migrate", parents=[common, out], help="create or upgrade the database schema",
        description="Bring the database of CSKH_DATABASE_URL to the schema this version needs "
                    "(nothing to do when it is there already). The embedded SQLite file is "
                    "also migrated by `serve` and every command; PostgreSQL only by this one.")
    migrate.set_defaults(func=cmd_migrate)

    staff = sub.add_parser(
        "staff", help="staff members",
        description="The officers tickets are assigned to: add, list, availability, shift, "
                    "password and API token, rename, remove.").add_subparsers(
        dest="staff_command", required=True, metavar="ACTION")
    add = staff.add_parser(
        "add", parents=[common, out],
        help="add a staff member; prints the id and a new API token once",
        description="Add an officer serving one or more queues. Prints their id and a new API "
                    "token (for the staff API and `Authorization: Bearer`) once: it is not "
                    "stored in clear and cannot be shown again (`cskh staff reset-token` "
                    "issues a new one).")
    add.add_argument("--name", required=True)
    add.add_argument("--queue", action="append", required=True,
                     help="queue served (repeatable): cskh, sales, accounting, warehouse, "
                          "technical")
    add.add_argument("--capacity", type=int, default=20,
                     help="most active tickets at once (default 20)")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--shift", metavar="SPEC", help=f"weekly shift: {SHIFT_HELP} "
                     "(default: none, always on shift)")
    add.add_argument("--email", help="their e-mail; they may sign in with it or the name")
    add.add_argument("--password-stdin", action="store_true",
                     help="read a password for the pages from standard input's first line "
                          "(without it: no password yet; see `cskh staff set-password`)")
    add.set_defaults(func=cmd_staff_add)
    add_password_parser(staff, common, out)
    ls = staff.add_parser(
        "ls", parents=[common, out], help="list staff members",
        description="Every staff member: id, name, role, status, active tickets against "
                    "capacity, queues and shift.")
    ls.set_defaults(func=cmd_staff_ls)
    status = staff.add_parser(
        "set-status", parents=[common, out], help="change availability",
        description="online: gets new tickets (while on shift); away and off: gets none. "
                    "NAME is matched ignoring case and diacritics.")
    status.add_argument("name")
    status.add_argument("status", choices=STATUSES)
    status.set_defaults(func=cmd_staff_set_status)
    shift = staff.add_parser(
        "set-shift", parents=[common, out], help="set or clear a weekly shift",
        description="Officers get new tickets only while online and on shift. "
                    f"SPEC: {SHIFT_HELP}. 'none': no shift, always on shift. An officer off shift "
                    "for CSKH_RELEASE_GRACE_MINUTES hands back the tickets they have not "
                    "answered yet; when a shift starts, the router's next pass gives them "
                    "queued tickets, oldest due first.")
    shift.add_argument("name")
    shift.add_argument("shift", metavar="SPEC|none")
    shift.set_defaults(func=cmd_staff_set_shift)
    add_staff_admin_parsers(staff, common, out)

    queue = sub.add_parser(
        "queue", help="queues",
        description="The queues tickets are routed to (cskh, sales, accounting, warehouse, "
                    "technical) and what waits in them.").add_subparsers(
        dest="queue_command", required=True, metavar="ACTION")
    qls = queue.add_parser(
        "ls", parents=[common, out], help="queues with their staff and ticket counts by status",
        description="Per queue: staff serving it and tickets by status, in the staff API's "
                    "words: queued (no officer yet), assigned (given to an officer, not "
                    "answered yet), open (answered), waiting (on the customer: SLA paused), "
                    "resolved.")
    qls.set_defaults(func=cmd_queue_ls)
    show = queue.add_parser(
        "show", parents=[common, out],
        help="a queue's unassigned tickets, or one officer's active tickets",
        description="QUEUE: its tickets no one holds; --staff N: the tickets assigned to N "
                    "(assigned, open, waiting). Earliest resolution due first.")
    show.add_argument("queue", nargs="?", metavar="QUEUE",
                      help="cskh, sales, accounting, warehouse or technical")
    show.add_argument("--staff", metavar="N",
                      help="the officer's name (case and diacritics ignored)")
    show.set_defaults(func=cmd_queue_show)
    customers = sub.add_parser(
        "customers", help="B2B accounts (CSV import)",
        description="The business customers (accounts) tickets are matched to by their "
                    "contacts' e-mails, phones and domains.").add_subparsers(
        dest="customers_command", required=True, metavar="ACTION")
    cimport = customers.add_parser(
        "import", parents=[common, out], help="load accounts from a CSV or xlsx file",
        description="Columns: name, tax_code, tier (key|standard|small), segment, owner (a "
                    "staff name), emails, phones and the company's own e-mail domains "
                    "(separated by ';'), active, survey_contact, founded_on and opened_on "
                    "(ISO dates: the founding and store opening days the care plan "
                    "remembers). A .xlsx file's first sheet is read the same way (as "
                    "`cskh customers export` writes it). Accounts are matched by tax code, "
                    "else by name; bad lines are listed and skipped (exit 1).")
    cimport.add_argument("file", type=Path, metavar="FILE.csv|FILE.xlsx")
    cimport.set_defaults(func=cmd_customers_import)
    add_customers_parser(customers, common, out)

    model = sub.add_parser(
        "model", help="the message classifier",
        description="The model that gives each message its category, priority and "
                    "sentiment (CSKH_MODEL_PATH): train it, evaluate it.").add_subparsers(
        dest="model_command", required=True, metavar="ACTION")
    mtrain = model.add_parser(
        "train", parents=[common, out],
        help="rebuild the classifier from the shipped data and officers' corrections",
        description="Train reproducibly (fixed seed) on the shipped labelled data, any extra "
                    "JSONL files, and the corrections officers made through the staff API.")
    mtrain.add_argument("data", nargs="*", type=Path, help="extra labelled JSONL files")
    mtrain.add_argument("--out", type=Path, help="model file (default: CSKH_MODEL_PATH)")
    mtrain.add_argument("--seed", type=int, default=13)
    mtrain.add_argument("--no-corrections", action="store_true",
                        help="leave the officers' corrections out")
    mtrain.set_defaults(func=cmd_model_train)
    meval = model.add_parser(
        "eval", parents=[common, out], help="accuracy and macro-F1 on a labelled JSONL file",
        description="Print accuracy and macro-F1 for category, priority and sentiment, the "
                    "category confusion matrix, and the same on the no-diacritics subset "
                    "and on a copy with every message's diacritics removed. Lines may carry "
                    "their context (tier, repeat, missed_call), which the model reads. A "
                    "missing model is trained from the shipped data first.")
    meval.add_argument("file", type=Path, metavar="FILE.jsonl")
    meval.add_argument("--model", type=Path, help="model file (default: CSKH_MODEL_PATH)")
    meval.set_defaults(func=cmd_model_eval)

    dlq = sub.add_parser(
        "dlq", help="dead letters (cskh.dlq)",
        description="Messages a consumer could not process are kept on cskh.dlq with the "
                    "error and the original bytes, never dropped: list them, replay them "
                    "once the cause is fixed.").add_subparsers(
        dest="dlq_command", required=True, metavar="ACTION")
    dls = dlq.add_parser(
        "ls", parents=[common, out], help="list dead letters with their error and origin",
        description="Each dead letter: partition, offset, the topic it came from, the "
                    "consumer group that gave up and the error.")
    dls.set_defaults(func=cmd_dlq_ls)
    replay = dlq.add_parser(
        "replay", parents=[common, out],
        help="append every dead letter not replayed before to its topic",
        description="Append each dead letter not replayed before back onto its original "
                    "topic, for its consumers to try again; effects are idempotent, so a "
                    "message that had partly gone through makes no duplicate.")
    replay.set_defaults(func=cmd_dlq_replay)

    add_report_parser(sub, common)
    add_tickets_parser(sub, common, out)
    add_campaign_parser(sub, common, out)
    add_answers_parser(sub, common, out)
    add_backup_parser(sub, common, out)
    add_channels_parser(sub, common, out)
    add_care_parser(sub, common, out)
    add_warranty_parser(sub, common, out)
    add_kb_parser(sub, common, out)
    return parser


def as_module() -> None:
    """Name the ``cskh`` console script's main module ``ingest.__main__`` (``python -m ingest``,
    which it is). ``multiprocessing``'s ``spawn`` runs a main module given by path again in
    every child (the mail parsers of ``ingest.mail_records.ParsePool``), importing this whole
    CLI there (about 100 MiB and seconds a worker); one named ``*.__main__`` it leaves alone.
    Any other program's main module is never touched."""
    main_module = sys.modules.get("__main__")
    path = getattr(main_module, "__file__", None)
    if main_module is not None and getattr(main_module, "__spec__", None) is None \
            and path is not None and Path(path).name == "cskh":
        main_module.__spec__ = importlib.util.find_spec("ingest.__main__")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cskh`` console script."""
    as_module()
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (CliError, StaffError, ReportError, FileNotFoundError, ValueError,
            BusUnavailable) as exc:
        print(f"cskh: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
