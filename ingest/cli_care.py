"""``cskh care plan|ls|budget|submit|approve|return|export``: the yearly care plan."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.care.export import plan_xlsx
from desk.care.plan import (
    PlanError,
    PlanSummary,
    amount,
    build_plan,
    entries,
    move_plan,
    set_budget,
    summarize,
)
from desk.care.policy import CarePolicy
from desk.care.tasks import CareTaskPolicy, CreateCareTasks, record_outcome


def _run(args: argparse.Namespace, work: Any) -> Any:
    from ingest.cli import CliError, _settings, _with_session

    try:
        return asyncio.run(_with_session(_settings(args), work))
    except PlanError as exc:
        raise CliError(str(exc)) from exc


def _money(value: int | None) -> str:
    return "-" if value is None else f"{value:,}".replace(",", ".")


def _budget_lines(summary: PlanSummary) -> list[str]:
    p = summary.plan
    lines = [f"care plan {p.year}: {p.state}",
             f"{'SCOPE':<8} {'KEY':<16} {'BUDGET':>15} {'PLANNED':>15} {'SPENT':>15} "
             f"{'ENTRIES':>7} {'DONE':>5}"]
    lines += [f"{b.scope:<8} {b.key or '-':<16} {_money(b.budget):>15} {_money(b.planned):>15} "
              f"{_money(b.spent):>15} {b.entries:>7} {b.done:>5}" for b in summary.lines]
    return lines


def cmd_care_plan(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> tuple[dict[str, int], PlanSummary]:
        report = await build_plan(session, args.year, CarePolicy(), datetime.now(UTC))
        return report.as_json(), await summarize(session, args.year)

    report, summary = _run(args, work)
    _print(args, report | {"plan": summary.as_json()},
           [f"care plan {args.year}: {report['accounts']} accounts; {report['added']} entries "
            f"added, {report['updated']} updated, {report['kept']} unchanged, "
            f"{report['dropped']} dropped", *_budget_lines(summary)])
    return 0


def cmd_care_ls(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return await entries(session, args.year, officer=args.officer, month=args.month)

    rows = _run(args, work)
    _print(args, rows, [f"{'ID':>6} {'DATE':<10} {'ACTION':<6} {'VALUE':>11} {'STATUS':<8} "
                        f"{'OFFICER':<18} ACCOUNT — OCCASION"]
           + [f"{r['id']:>6} {r['date']:<10} {r['action']:<6} {_money(r['planned_value']):>11} "
              f"{r['status']:<8} {(r['officer'] or '-')[:18]:<18} {r['account']} — {r['label']}"
              f"{' (' + r['gift'] + ')' if r['gift'] else ''}" for r in rows])
    return 0


def _pairs(values: list[str], scope: str) -> list[tuple[str, str, str]]:
    from ingest.cli import CliError

    out = []
    for value in values:
        key, sep, amount = value.rpartition("=")
        if not sep or not key.strip():
            raise CliError(f"--{scope} takes KEY=AMOUNT, not {value!r}")
        out.append((scope, key.strip(), amount))
    return out


def cmd_care_budget(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> PlanSummary:
        await set_budget(session, args.year, total=args.total,
                         lines=_pairs(args.tier, "tier") + _pairs(args.segment, "segment"))
        return await summarize(session, args.year)

    summary = _run(args, work)
    _print(args, summary.as_json(), _budget_lines(summary))
    return 0


def _mover(to: str) -> Any:
    def command(args: argparse.Namespace) -> int:
        from ingest.cli import _print

        async def work(session: AsyncSession) -> PlanSummary:
            await move_plan(session, args.year, to, args.as_name, datetime.now(UTC))
            return await summarize(session, args.year)

        summary = _run(args, work)
        _print(args, summary.as_json(), [f"care plan {args.year}: {summary.plan.state}"])
        return 0

    return command


def cmd_care_export(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> bytes:
        return plan_xlsx(await summarize(session, args.year), await entries(session, args.year))

    args.out.write_bytes(_run(args, work))
    print(f"care plan {args.year} written to {args.out}")
    return 0


def add_care_parser(sub: Any, common: argparse.ArgumentParser,
                    out: argparse.ArgumentParser) -> None:
    """Add ``cskh care …``."""
    care = sub.add_parser(
        "care", help="the yearly care plan and budget",
        description="The year's care plan (occasions and planned contacts per account), its "
                    "budget, its approval (draft, submitted, approved) and the care tasks it "
                    "puts in the officers' queues.").add_subparsers(
        dest="care_command", required=True, metavar="ACTION")
    year = argparse.ArgumentParser(add_help=False)
    year.add_argument("--year", type=int, required=True, metavar="Y")

    plan = care.add_parser(
        "plan", parents=[common, out, year], help="build or update the year's draft plan",
        description="Build the year's care plan from the directory: for every active account, "
                    "Tết Nguyên Đán (the lunar new year, as Vietnam reckons it), the other "
                    "public holidays, 8/3 and 20/10, its founding and store opening "
                    "anniversaries, and a planned call or e-mail every N months by tier (key 1, "
                    "standard 3, small 6). Each entry: account, occasion, date, action (call, "
                    "email, visit, gift), gift and planned value, officer (the account's "
                    "owner). Running it again changes only what the directory changed; a "
                    "submitted or approved plan is not rebuilt.")
    plan.set_defaults(func=cmd_care_plan)

    ls = care.add_parser("ls", parents=[common, out, year], help="the plan's entries by date",
                    description="The year's entries by date: account, occasion, action, gift "
                                "and planned value, officer, and the outcome once recorded.")
    ls.add_argument("--officer", metavar="N", help="only this officer's entries")
    ls.add_argument("--month", type=int, metavar="M", help="only this month (1-12)")
    ls.set_defaults(func=cmd_care_ls)

    budget = care.add_parser(
        "budget", parents=[common, out, year], help="set the budget; planned against spent",
        description="Set the year's total (--total) and budget lines per tier or segment "
                    "(whole đồng, e.g. 150.000.000), while the plan is a draft; prints each "
                    "line's budget, planned and spent sums. Without options: only prints.")
    budget.add_argument("--total", metavar="AMOUNT")
    budget.add_argument("--tier", action="append", default=[], metavar="TIER=AMOUNT")
    budget.add_argument("--segment", action="append", default=[], metavar="SEGMENT=AMOUNT")
    budget.set_defaults(func=cmd_care_budget)

    for name, to, text in (("submit", "submitted", "submit the draft for approval (a lead "
                                                   "or admin)"),
                           ("approve", "approved", "approve the submitted plan (an admin)"),
                           ("return", "draft", "send the submitted plan back to draft (an "
                                               "admin)")):
        move = care.add_parser(name, parents=[common, out, year], help=text,
                               description=text[0].upper() + text[1:] + "; --as names who "
                               "does it.")
        move.add_argument("--as", dest="as_name", required=True, metavar="NAME")
        move.set_defaults(func=_mover(to))

    export = care.add_parser("export", parents=[common, year],
                             help="write the plan and its budget as xlsx for the approval",
                             description="Write the year's plan (sheet 'Kế hoạch') and its "
                                         "budget (sheet 'Ngân sách') to an xlsx file.")
    export.add_argument("--out", type=Path, required=True, metavar="F.xlsx")
    export.set_defaults(func=cmd_care_export)
    add_care_task_parsers(care, common, out)


def cmd_care_tasks(args: argparse.Namespace) -> int:
    from ingest.cli import _print, _settings

    settings = _settings(args)

    async def run() -> int:
        from storage.db import create_engine, session_factory

        engine = create_engine(settings.database_url)
        try:
            policy = CareTaskPolicy(lead_days=settings.care_lead_days,
                                    calendars=settings.calendars)
            return await CreateCareTasks(session_factory(engine), lambda: datetime.now(UTC),
                                         policy).run_once()
        finally:
            await engine.dispose()

    _run(args, _schema_ready)  # as every command: SQLite migrated, PostgreSQL checked
    made = asyncio.run(run())
    _print(args, {"created": made}, [f"{made} care task ticket(s) created"])
    return 0


async def _schema_ready(session: AsyncSession) -> None:
    return None


def cmd_care_done(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> dict[str, Any]:
        entry = await record_outcome(
            session, args.entry, args.as_name, status="skipped" if args.skipped else "done",
            spent=amount(args.spent) if args.spent is not None else None,
            gift_sent=args.gift_sent, words=args.words, now=datetime.now(UTC))
        return {"id": entry.id, "status": entry.status, "spent": entry.spent,
                "gift_sent": entry.gift_sent, "customer_words": entry.customer_words,
                "ticket_id": entry.ticket_id}

    row = _run(args, work)
    _print(args, row, [f"care entry {row['id']}: {row['status']}, spent {_money(row['spent'])}"])
    return 0


def add_care_task_parsers(care: Any, common: argparse.ArgumentParser,
                          out: argparse.ArgumentParser) -> None:
    """``cskh care tasks`` and ``cskh care done``."""
    tasks = care.add_parser(
        "tasks", parents=[common, out], help="create the care task tickets now due",
        description="What the router role does every CSKH_CARE_SECONDS: each entry of an "
                    "approved plan within CSKH_CARE_LEAD_DAYS of its date becomes one task "
                    "ticket (kind care) in its officer's queue, once.")
    tasks.set_defaults(func=cmd_care_tasks)
    done = care.add_parser(
        "done", parents=[common, out], help="record an entry's outcome",
        description="Record how a care entry went: done (or --skipped), the real cost "
                    "(counted against the budget), whether the gift was sent, the customer's "
                    "words; its task ticket is resolved. By its officer, a lead or an admin.")
    done.add_argument("entry", type=int, metavar="ENTRY", help="the entry id (`cskh care ls`)")
    done.add_argument("--as", dest="as_name", required=True, metavar="NAME")
    done.add_argument("--spent", metavar="AMOUNT", help="what it really cost, in đồng")
    done.add_argument("--gift-sent", action="store_true")
    done.add_argument("--words", metavar="TEXT", help="what the customer said")
    done.add_argument("--skipped", action="store_true", help="it did not take place")
    done.set_defaults(func=cmd_care_done)
