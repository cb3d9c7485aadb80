"""``cskh warranty import|ls|show``: the warranty and maintenance register."""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from desk.directory import DirectoryError
from desk.maintenance import record_visit
from desk.warranty import import_register, list_items, show_item

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def _run(args: argparse.Namespace, work: Any) -> Any:
    from ingest.cli import CliError, _settings, _with_session

    try:
        return asyncio.run(_with_session(_settings(args), work))
    except DirectoryError as exc:
        raise CliError(str(exc)) from exc


def _today() -> Any:
    return datetime.now(LOCAL).date()


def cmd_warranty_import(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    text = args.file.read_text(encoding="utf-8")

    async def work(session: AsyncSession) -> Any:
        return await import_register(session, text)

    report = _run(args, work)
    _print(args, {"created": report.created, "updated": report.updated,
                  "errors": [{"line": n, "error": e} for n, e in report.errors]},
           [f"register: {report.created} created, {report.updated} updated"]
           + [f"line {n}: {e}" for n, e in report.errors])
    return 1 if report.errors else 0


def _line(r: dict[str, Any]) -> str:
    state = "in warranty" if r["in_warranty"] else "out of warranty"
    who = r["customer"]["name"] if r["customer"] else "-"
    return (f"{r['serial']:<20} {r['model']:<18} {r['delivered_on']} → {r['warranty_ends']} "
            f"{state:<15} {who}")


def cmd_warranty_ls(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return await list_items(session, account=args.account, model=args.model, on=_today())

    rows = _run(args, work)
    _print(args, rows, [f"{'SERIAL':<20} {'MODEL':<18} DELIVERED → WARRANTY ENDS"]
           + [_line(r) for r in rows])
    return 0


def cmd_warranty_show(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await show_item(session, args.serial, _today())

    item = _run(args, work)
    every = (f"maintenance every {item['maintenance_months']} months"
             if item["maintenance_months"] else "no periodic maintenance")
    _print(args, item, [_line(item), every, "visits:"]
           + ([f"  due {v['due_on']}  done {v['done_on'] or '-'}  {v['outcome'] or ''}"
               for v in item["visits"]] or ["  (none)"]))
    return 0


def cmd_warranty_visit(args: argparse.Namespace) -> int:
    from ingest.cli import CliError, _print, _settings
    from storage.db import create_engine, session_factory

    try:
        due, done = date.fromisoformat(args.due), date.fromisoformat(args.done or args.due)
    except ValueError as exc:
        raise CliError(f"dates are YYYY-MM-DD: {exc}") from exc
    settings = _settings(args)

    async def run() -> dict[str, Any]:
        engine = create_engine(settings.database_url)
        try:
            visit = await record_visit(session_factory(engine), args.serial, due, done,
                                       args.outcome, datetime.now(LOCAL))
            return {"due_on": visit.due_on.isoformat(), "done_on": done.isoformat(),
                    "on_time": done <= visit.due_on, "outcome": visit.outcome,
                    "ticket_id": visit.ticket_id}
        finally:
            await engine.dispose()

    _run(args, _schema_ready)
    try:
        row = asyncio.run(run())
    except DirectoryError as exc:
        raise CliError(str(exc)) from exc
    _print(args, row, [f"visit due {row['due_on']} done {row['done_on']}"
                       f"{'' if row['on_time'] else ' (late)'}"])
    return 0


async def _schema_ready(session: AsyncSession) -> None:
    return None


def add_warranty_parser(sub: Any, common: argparse.ArgumentParser,
                        out: argparse.ArgumentParser) -> None:
    """Add ``cskh warranty …``."""
    warranty = sub.add_parser(
        "warranty", help="the warranty and maintenance register",
        description="Products delivered to accounts (serial, model, delivery date, warranty "
                    "and maintenance interval), their maintenance visits, and what warranty "
                    "and maintenance tickets are matched to.").add_subparsers(
        dest="warranty_command", required=True, metavar="ACTION")
    imp = warranty.add_parser(
        "import", parents=[common, out], help="load products delivered to accounts",
        description="CSV columns: serial, model, account (tax code or name), delivered_on "
                    "(YYYY-MM-DD), warranty_months, maintenance_months (blank: none). Items "
                    "are matched by serial (case and spaces ignored); bad lines are listed "
                    "and skipped (exit 1).")
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.set_defaults(func=cmd_warranty_import)
    ls = warranty.add_parser("ls", parents=[common, out], help="list register items",
                             description="The register's items, optionally of one account "
                                         "or model, with whether each is in warranty.")
    ls.add_argument("--account", metavar="ACCOUNT", help="tax code or name")
    ls.add_argument("--model", metavar="M")
    ls.set_defaults(func=cmd_warranty_ls)
    show = warranty.add_parser("show", parents=[common, out],
                               help="one item, its warranty and its maintenance visits",
                               description="One item by serial (case and spaces ignored): its "
                                           "account, warranty end and maintenance visits.")
    show.add_argument("serial", metavar="SERIAL")
    show.set_defaults(func=cmd_warranty_show)
    visit = warranty.add_parser(
        "visit", parents=[common, out], help="record a maintenance visit's outcome",
        description="The router role queues a task ticket in the technical queue "
                    "CSKH_CARE_LEAD_DAYS before each maintenance visit falls due; this records "
                    "the visit (resolving that ticket).")
    visit.add_argument("serial", metavar="SERIAL")
    visit.add_argument("--due", required=True, metavar="YYYY-MM-DD",
                       help="the due date of the visit (`cskh warranty show`)")
    visit.add_argument("--done", metavar="YYYY-MM-DD", help="when it took place (default: due)")
    visit.add_argument("--outcome", metavar="TEXT", help="what the technician found and did")
    visit.set_defaults(func=cmd_warranty_visit)
