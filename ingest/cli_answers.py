"""``cskh answers import|ls``: each queue's canned answers from a terminal."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.answers import answer_json, find_answers, import_answers


def cmd_answers_import(args: argparse.Namespace) -> int:
    from ingest.cli import CliError, _print, _settings, _with_session

    try:
        text = args.file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"{args.file} is not UTF-8 text: {exc}") from exc

    async def work(session: AsyncSession) -> Any:
        return await import_answers(session, text, datetime.now(UTC))

    report = asyncio.run(_with_session(_settings(args), work))
    data = {"created": report.created, "updated": report.updated,
            "unchanged": report.unchanged,
            "errors": [{"line": line, "error": error} for line, error in report.errors]}
    _print(args, data, [f"answers: {report.created} created, {report.updated} updated, "
                        f"{report.unchanged} unchanged"]
           + [f"line {line}: {error}" for line, error in report.errors])
    return 1 if report.errors else 0


def cmd_answers_ls(args: argparse.Namespace) -> int:
    from ingest.cli import _print, _settings, _with_session

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        queues = None if args.queue is None else [args.queue]
        found = await find_answers(session, queues, args.search or "", limit=args.limit)
        return [answer_json(a) for a in found]

    rows = asyncio.run(_with_session(_settings(args), work))
    _print(args, rows, [f"{r['id']:>5}  {r['queue']:<11} {r['title']}" for r in rows])
    return 0


def add_answers_parser(sub: Any, common: argparse.ArgumentParser,
                       out: argparse.ArgumentParser) -> None:
    """Register ``cskh answers`` on the ``cskh`` subcommands ``sub``."""
    answers = sub.add_parser(
        "answers", help="canned answers per queue",
        description="Ready-made replies officers pick on the ticket page and in the staff "
                    "API, per queue: import them from a CSV file, list them.").add_subparsers(
        dest="answers_command", required=True, metavar="ACTION")
    aimport = answers.add_parser(
        "import", parents=[common, out], help="load canned answers from a CSV file",
        description="Columns: queue (cskh, sales, accounting, warehouse, technical), title, "
                    "text; UTF-8 with or without a BOM (Excel's 'CSV UTF-8'). An answer is "
                    "matched by queue and title: a known one gets the new text. The text may "
                    "hold {khach_hang} (the customer), {so_phieu} (the ticket number) and "
                    "{nhan_vien} (the officer), filled when an officer inserts it. Bad lines "
                    "are listed and skipped (exit 1).")
    aimport.add_argument("file", type=Path, metavar="FILE.csv")
    aimport.set_defaults(func=cmd_answers_import)
    als = answers.add_parser("ls", parents=[common, out], help="list canned answers",
                             description="By queue and title.")
    als.add_argument("--queue", metavar="Q", help="only this queue")
    als.add_argument("--search", metavar="WORDS",
                     help="only answers whose title or text hold these words (with or "
                          "without diacritics)")
    als.add_argument("--limit", type=int, default=500, help="at most this many (500)")
    als.set_defaults(func=cmd_answers_ls)
