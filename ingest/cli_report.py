"""``cskh report NAME``: the department's reports on a terminal or into a file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports import REPORTS, Report, build_report, parse_window
from desk.reports.periods import PERIODS, local_date
from desk.reports.registry import GROUPINGS, NAMED_GROUPINGS, NAMED_REPORTS
from desk.reports.render import FORMATS, render


def cmd_report(args: argparse.Namespace) -> int:
    from ingest.cli import CliError, _settings, _with_session

    settings = _settings(args)
    today = local_date(datetime.now(UTC))
    fmt = "json" if args.json else args.format
    if fmt == "xlsx" and args.out is None:
        raise CliError("--format xlsx writes a file: give --out FILE.xlsx")
    window = parse_window(args.period, args.from_, args.to, today)

    async def work(session: AsyncSession) -> Report:
        return await build_report(session, args.name, window, args.by, settings.calendars,
                                  args.subject)

    data = render(asyncio.run(_with_session(settings, work)), fmt)
    if args.out is not None:
        args.out.write_bytes(data)
        print(f"{args.name}: {args.out} ({len(data)} bytes, {fmt})", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def add_report_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``cskh report`` on the ``cskh`` subcommands ``sub``."""
    report = sub.add_parser(
        "report", parents=[common],
        help="the department's reports (satisfaction, volume, SLA, officers, low ratings, "
             "campaign NAME)",
        description="Figures by calendar day, ISO week or month in Asia/Ho_Chi_Minh. "
                    "volume: tickets opened, resolved, reopened, backlog at period end, "
                    "messages in and out. sla: first response and resolution times in "
                    "business minutes (median, p90), share within SLA, breaches. officers: "
                    "the monthly KPI sheet per officer. satisfaction: surveys sent, "
                    "answered, response rate, CSAT % (4-5 of 5), mean, distribution. "
                    "low-ratings: every rating of 1-2 with its comment and follow-up, by "
                    "category. campaign NAME: the campaign's response rate, every "
                    "question's mean and distribution, by tier, segment and owner (--by "
                    "one of them), and the lowest-rated accounts; not cut by period. "
                    "Without --from/--to: the current period; either alone: that one "
                    "period.")
    report.add_argument("name", choices=sorted([*REPORTS, *NAMED_REPORTS]),
                        help="which report")
    report.add_argument("subject", nargs="?", metavar="NAME",
                        help="campaign only: the campaign's name")
    report.add_argument("--period", choices=PERIODS, default="month",
                        help="day, week (ISO) or month (default month)")
    report.add_argument("--from", dest="from_", metavar="D", help="first local date, YYYY-MM-DD")
    report.add_argument("--to", metavar="D", help="last local date, YYYY-MM-DD (inclusive)")
    groupings = {*GROUPINGS, *(g for named in NAMED_GROUPINGS.values() for g in named)}
    report.add_argument("--by", choices=sorted(groupings),
                        help="split every period by this (channel, category, queue, officer, "
                             "tier; campaign: tier, segment, owner)")
    report.add_argument("--format", choices=FORMATS, default="table",
                        help="table (default), csv (UTF-8 with BOM), xlsx (needs --out), json")
    report.add_argument("--json", action="store_true", help="the same as --format json")
    report.add_argument("--out", type=Path, metavar="F", help="write to this file")
    report.set_defaults(func=cmd_report)
