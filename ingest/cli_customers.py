"""``cskh customers ls|show|export|assign``: the customer directory from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.directory import (
    DirectoryError,
    Filters,
    assign_owner,
    describe_account,
    export_rows,
    find_account,
    list_accounts,
    rows_csv,
    rows_xlsx,
)
from desk.warranty import LOCAL, list_items
from router.customers import TIERS


def _run(args: argparse.Namespace, work: Any) -> Any:
    from ingest.cli import CliError, _settings, _with_session

    try:
        return asyncio.run(_with_session(_settings(args), work))
    except DirectoryError as exc:
        raise CliError(str(exc)) from exc


def _filters(args: argparse.Namespace) -> Filters:
    return Filters(tier=args.tier, segment=args.segment, owner=getattr(args, "owner_filter", None),
                   search=getattr(args, "search", None))


def cmd_customers_ls(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return await list_accounts(session, _filters(args))

    rows = _run(args, work)
    _print(args, rows, [f"{'TAX CODE':<14} {'TIER':<8} {'SEGMENT':<14} {'OWNER':<20} "
                        f"{'OPEN':>4}  NAME"]
           + [f"{r['tax_code'] or '-':<14} {r['tier']:<8} {(r['segment'] or '-')[:14]:<14} "
              f"{(r['owner'] or '-')[:20]:<20} {r['open_tickets']:>4}  {r['name']}"
              for r in rows])
    return 0


def cmd_customers_show(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> dict[str, Any]:
        customer = await find_account(session, args.account)
        detail = await describe_account(session, customer)
        today = datetime.now(LOCAL).date()
        return detail | {"warranty": await list_items(session, customer_id=customer.id,
                                                      on=today)}

    d = _run(args, work)
    lines = [f"{d['name']}  (tax code {d['tax_code'] or '-'}, tier {d['tier']}, segment "
             f"{d['segment'] or '-'}, owner {d['owner'] or '-'}"
             f"{'' if d['active'] else ', no longer active'})",
             f"founded {d['founded_on'] or '-'}, store opened {d['opened_on'] or '-'}; "
             f"domains {', '.join(d['domains']) or '-'}", "contacts:"]
    lines += [f"  {c['name'] or '-'}  {c['email'] or ''} {c['phone'] or ''}  "
              f"[{', '.join(c['channels'])}]{'  (survey contact)' if c['survey_contact'] else ''}"
              for c in d["contacts"]] or ["  (none)"]
    lines += ["tickets:"] + ([f"  {t['number']}  {t['status']:<9} {t['category']:<12} "
                             f"{(t['subject'] or '')[:60]}" for t in d["tickets"]] or ["  (none)"])
    lines += ["survey answers:"] + ([f"  {s['answered_at'][:10]}  {s['kind']:<8} "
                                    f"{s['rating'] or '-'}  {(s['comment'] or '')[:60]}"
                                    for s in d["surveys"]] or ["  (none)"])
    lines += ["warranty register:"] + ([
        f"  {w['serial']}  {w['model']}  delivered {w['delivered_on']}, "
        + (f"in warranty until {w['warranty_ends']}" if w["in_warranty"]
           else f"out of warranty since {w['warranty_ends']}")
        for w in d["warranty"]] or ["  (none)"])
    _print(args, d, lines)
    return 0


def cmd_customers_export(args: argparse.Namespace) -> int:
    from ingest.cli import CliError

    fmt = args.format or ("xlsx" if args.out and args.out.suffix.lower() == ".xlsx" else "csv")
    if fmt == "xlsx" and args.out is None:
        raise CliError("an xlsx export needs --out FILE.xlsx")

    async def work(session: AsyncSession) -> list[dict[str, str]]:
        return await export_rows(session, _filters(args))

    rows = _run(args, work)
    if fmt == "xlsx":
        args.out.write_bytes(rows_xlsx(rows))
    elif args.out is not None:
        args.out.write_text(rows_csv(rows), encoding="utf-8")
    else:
        sys.stdout.write(rows_csv(rows))
    if args.out is not None:
        print(f"{len(rows)} account(s) written to {args.out}", file=sys.stderr)
    return 0


def cmd_customers_assign(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    keys = list(args.account)
    if args.file is not None:
        keys += [line.strip() for line in args.file.read_text(encoding="utf-8-sig").splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
    chosen = args.tier is not None or args.segment is not None

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        done = await assign_owner(session, args.owner, accounts=keys,
                                  filters=Filters(tier=args.tier, segment=args.segment)
                                  if chosen else None)
        return [{"name": c.name, "tax_code": c.tax_code} for c in done]

    rows = _run(args, work)
    _print(args, {"owner": args.owner, "accounts": rows},
           [f"{len(rows)} account(s) now owned by {args.owner}"]
           + [f"  {r['tax_code'] or '-':<14} {r['name']}" for r in rows])
    return 0


def add_customers_parser(customers: Any, common: argparse.ArgumentParser,
                         out: argparse.ArgumentParser) -> None:
    """Add ``ls``, ``show``, ``export`` and ``assign`` to ``cskh customers``."""
    pick = argparse.ArgumentParser(add_help=False)
    pick.add_argument("--tier", choices=TIERS)
    pick.add_argument("--segment", help="segment, case ignored")

    ls = customers.add_parser(
        "ls", parents=[common, out, pick], help="list accounts",
        description="Accounts by name with tax code, tier, segment, owner and open tickets.")
    ls.add_argument("--owner", dest="owner_filter", metavar="N",
                    help="accounts this officer owns ('none': accounts nobody owns)")
    ls.add_argument("--search", metavar="WORDS",
                    help="words of the name or tax code, with or without diacritics")
    ls.set_defaults(func=cmd_customers_ls)

    show = customers.add_parser(
        "show", parents=[common, out], help="one account in full",
        description="An account with its contacts and their channels, founding and opening "
                    "days, tickets and survey answers. ACCOUNT: its tax code, its name, or "
                    "words of the name that fit one account only.")
    show.add_argument("account", metavar="ACCOUNT")
    show.set_defaults(func=cmd_customers_show)

    export = customers.add_parser(
        "export", parents=[common, pick], help="write accounts as CSV or xlsx",
        description="The import's columns, so that the file imports back unchanged "
                    "(`cskh customers import`). CSV to standard output unless --out; xlsx "
                    "needs --out.")
    export.add_argument("--owner", dest="owner_filter", metavar="N",
                        help="accounts this officer owns ('none': nobody)")
    export.add_argument("--format", choices=("csv", "xlsx"),
                        help="default: xlsx when --out ends in .xlsx, else csv")
    export.add_argument("--out", type=Path, metavar="F")
    export.set_defaults(func=cmd_customers_export)

    assign = customers.add_parser(
        "assign", parents=[common, out, pick], help="allocate accounts to an officer",
        description="Make --owner the officer who cares for the accounts named (tax codes or "
                    "names), those listed in --file (one a line) and every account of --tier "
                    "and --segment. When any named account is unknown, nothing changes.")
    assign.add_argument("account", nargs="*", metavar="ACCOUNT")
    assign.add_argument("--owner", required=True, metavar="N", help="the officer's name")
    assign.add_argument("--file", type=Path, metavar="F",
                        help="a text file of tax codes or names, one a line")
    assign.set_defaults(func=cmd_customers_assign)
