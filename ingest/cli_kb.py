"""``cskh kb import DIR|ls``: the knowledge base from a terminal."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.kb import import_articles, read_folder, search
from storage.models_care import KB_CATEGORIES


def cmd_kb_import(args: argparse.Namespace) -> int:
    from ingest.cli import _print, _settings, _with_session

    files = read_folder(args.folder)

    async def work(session: AsyncSession) -> Any:
        return await import_articles(session, files, datetime.now(UTC))

    report = asyncio.run(_with_session(_settings(args), work))
    _print(args, {"created": report.created, "updated": report.updated,
                  "errors": [{"file": f, "error": e} for f, e in report.errors]},
           [f"knowledge base: {report.created} created, {report.updated} updated"]
           + [f"{f}: {e}" for f, e in report.errors])
    return 1 if report.errors else 0


def cmd_kb_ls(args: argparse.Namespace) -> int:
    from ingest.cli import _print, _settings, _with_session

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [{"slug": a.slug, "category": a.category, "title": a.title}
                for a in await search(session, args.search or "", args.category)]

    rows = asyncio.run(_with_session(_settings(args), work))
    _print(args, rows, [f"{r['category']:<20} {r['slug']:<32} {r['title']}" for r in rows])
    return 0


def add_kb_parser(sub: Any, common: argparse.ArgumentParser,
                  out: argparse.ArgumentParser) -> None:
    """Add ``cskh kb …``."""
    kb = sub.add_parser(
        "kb", help="the knowledge base (public /kb pages)",
        description="Articles in Markdown for customers (usage guides, prices and "
                    "promotions, warranty policy, documents and invoices), served at /kb and "
                    "suggested on tickets.").add_subparsers(
        dest="kb_command", required=True, metavar="ACTION")
    imp = kb.add_parser(
        "import", parents=[common, out], help="load Markdown articles from a folder",
        description="Files DIR/<category>/<slug>.md (UTF-8 Markdown; the first '# ' heading "
                    f"is the title); categories: {', '.join(KB_CATEGORIES)}; slugs a-z, 0-9 "
                    "and '-'. Articles are matched by slug; refused files are listed (exit 1).")
    imp.add_argument("folder", type=Path, metavar="DIR")
    imp.set_defaults(func=cmd_kb_import)
    ls = kb.add_parser("ls", parents=[common, out], help="list or search articles",
                        description="List the articles, or those matching WORDS (with or "
                                    "without diacritics), optionally of one category.")
    ls.add_argument("--search", metavar="WORDS", help="with or without diacritics")
    ls.add_argument("--category", choices=KB_CATEGORIES)
    ls.set_defaults(func=cmd_kb_ls)
