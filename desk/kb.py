"""The knowledge base: articles in Markdown (Vietnamese), in four categories.

Articles are imported from a folder (``DIR/<category>/<slug>.md``, the first ``# `` heading is
the title), upserted by slug. Markdown is rendered with markdown-it-py with raw HTML off, then
cleaned by nh3 (links keep ``http(s)``/``mailto`` only), so an article can never carry script.
Search matches every word in the title or body with and without diacritics.
"""

from __future__ import annotations

import html as html_lib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import nh3
from markdown_it import MarkdownIt
from sqlalchemy import String, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.i18n import N_
from desk.search import folded, terms
from storage.models_care import KB_CATEGORIES, KbArticle
from storage.search_fold import fold

# the catalogue's message ids of the categories (desk/locale)
CATEGORY_LABELS = {"usage": "Usage guides", "prices_promotions": "Prices and promotions",
                   "warranty_policy": "Warranty policy",
                   "documents_invoices": "Documents and invoices"}
# a ticket's category → the knowledge base category that answers it
FOR_TICKET = {"usage": "usage", "quality": "usage", "other": "usage",
              "price": "prices_promotions", "promotion": "prices_promotions",
              "discount": "prices_promotions", "warranty": "warranty_policy",
              "maintenance": "warranty_policy", "invoice": "documents_invoices",
              "documents": "documents_invoices", "debt": "documents_invoices",
              "payment_due": "documents_invoices", "quantity": "usage", "delivery": "usage"}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,199}$")
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong",
         "em", "code", "pre", "blockquote", "a", "table", "thead", "tbody", "tr", "th", "td"}


def render(body: str) -> str:
    """The article's Markdown as safe HTML (no raw HTML, no script, no event attributes)."""
    html = _MD.render(unicodedata.normalize("NFC", body))
    return nh3.clean(html, tags=_TAGS, attributes={"a": {"href", "title"}},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener nofollow")


def _title(body: str, fallback: str) -> str:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip()[:300]
    return fallback


@dataclass
class KbImportReport:
    """Articles created and updated, and the files refused with why."""

    created: int = 0
    updated: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


def read_folder(folder: Path) -> list[tuple[str, str, bytes]]:
    """The ``(category, file name, bytes)`` of every ``<category>/<slug>.md`` in ``folder``."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    return [(p.parent.name, p.name, p.read_bytes()) for p in sorted(folder.glob("*/*.md"))]


async def import_articles(session: AsyncSession, files: list[tuple[str, str, bytes]],
                          now: datetime) -> KbImportReport:
    """Create or update the articles ``read_folder`` read (UTF-8 Markdown), by slug."""
    report = KbImportReport()
    for category, file_name, data in files:
        slug, name = file_name.removesuffix(".md").lower(), f"{category}/{file_name}"
        if category not in KB_CATEGORIES:
            report.errors.append((name, f"category must be one of {', '.join(KB_CATEGORIES)}"))
            continue
        if not _SLUG.match(slug):
            report.errors.append((name, "the file name must be a-z, 0-9 and '-'"))
            continue
        try:
            body = unicodedata.normalize("NFC", data.decode("utf-8").removeprefix("\ufeff"))
        except UnicodeDecodeError:
            report.errors.append((name, "not UTF-8 text"))
            continue
        article = await session.scalar(select(KbArticle).where(KbArticle.slug == slug))
        if article is None:
            article = KbArticle(slug=slug)
            session.add(article)
            report.created += 1
        else:
            report.updated += 1
        article.category, article.body, article.updated_at = category, body, now
        article.title = _title(body, slug.replace("-", " "))
        await session.flush()
    return report


MAX_BODY = 100_000  # characters of Markdown in one article
MAX_TITLE = 300


@dataclass
class ArticleForm:
    """What a lead typed in the editor, NFC; ``problems`` says what stops it being saved."""

    slug: str
    category: str
    title: str
    body: str
    published: bool
    problems: list[str] = field(default_factory=list)


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def read_article_form(slug: str, category: str, title: str, body: str,
                      published: bool) -> ArticleForm:
    """The editor's fields checked: a slug of a-z, 0-9 and '-', a known category, a title
    and a body within bounds. ``problems`` are catalogue message ids."""
    form = ArticleForm(slug=_nfc(slug).lower(), category=category.strip(), title=_nfc(title),
                       body=unicodedata.normalize("NFC", body).replace("\r\n", "\n")
                       .strip("\n"), published=published)
    if not _SLUG.match(form.slug) or form.slug == "new":
        form.problems.append(N_("The address must be 1 to 200 letters a-z, digits and '-', "
                             "starting with a letter or digit."))
    if form.category not in KB_CATEGORIES:
        form.problems.append(N_("Choose a category."))
    if not form.title or len(form.title) > MAX_TITLE:
        form.problems.append(N_("The title must be 1 to 300 characters."))
    if not form.body.strip() or len(form.body) > MAX_BODY:
        form.problems.append(N_("The text must be 1 to 100,000 characters."))
    return form


async def any_article(session: AsyncSession, slug: str) -> KbArticle | None:
    """The article ``slug``, published or not (for the editor)."""
    return await session.scalar(select(KbArticle).where(KbArticle.slug == slug.lower()))


async def every_article(session: AsyncSession) -> list[KbArticle]:
    """Every article, drafts included, by category and title (for the editor's list)."""
    return list(await session.scalars(select(KbArticle).order_by(KbArticle.category,
                                                                 KbArticle.title)))


async def save_article(session: AsyncSession, form: ArticleForm, *, staff_id: int,
                       now: datetime, existing: KbArticle | None) -> KbArticle | None:
    """Create (``existing`` None) or update the article; ``None`` and a problem in ``form``
    when a new article's slug is taken."""
    if existing is None:
        if await any_article(session, form.slug) is not None:
            form.problems.append(N_("An article already has this address."))
            return None
        existing = KbArticle(slug=form.slug)
        session.add(existing)
    existing.category, existing.title, existing.body = form.category, form.title, form.body
    existing.published, existing.updated_at, existing.updated_by = form.published, now, staff_id
    await session.flush()
    return existing


def _pattern(term: str) -> Any:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return literal(f"%{escaped}%", String())


async def search(session: AsyncSession, query: str = "", category: str | None = None,
                 limit: int = 50) -> list[KbArticle]:
    """Published articles with every word of ``query`` in the title or body (case and
    diacritics ignored), titles matching first; all of them for a blank query."""
    where: list[Any] = [KbArticle.published.is_(True)]
    if category:
        where.append(KbArticle.category == category)
    words = terms(query)
    for term in words:
        where.append(folded(KbArticle.title).like(_pattern(term), escape="\\")
                     | folded(KbArticle.body).like(_pattern(term), escape="\\"))
    found = list(await session.scalars(select(KbArticle).where(*where)
                                       .order_by(KbArticle.category, KbArticle.title)
                                       .limit(limit)))
    if words:
        found.sort(key=lambda a: -sum(t in (fold(a.title) or "") for t in words))
    return found


async def article(session: AsyncSession, slug: str) -> KbArticle | None:
    """The published article ``slug``."""
    return await session.scalar(select(KbArticle).where(KbArticle.slug == slug.lower(),
                                                        KbArticle.published.is_(True)))


_BLOCK_END = re.compile(r"</(?:p|h[1-6]|li|tr|blockquote|pre)>|<br\s*/?>|<hr\s*/?>")
_LINK = re.compile(r'<a href="([^"]*)"[^>]*>(.*?)</a>', re.S)


@lru_cache(maxsize=1024)  # a ticket page offers each suggested article's text
def plain_text(body: str) -> str:
    """The article's Markdown as plain text to paste in a chat or mail reply: no markup, a
    line per paragraph, heading and list item (``- `` before items), a link as its text and
    its address in brackets."""
    html = render(body).replace("<li>", "<li>- ")
    html = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})"
                     if m.group(1) and m.group(1) != m.group(2) else m.group(2), html)
    text = html_lib.unescape(nh3.clean(_BLOCK_END.sub("\n", html), tags=set()))
    lines = [line.strip() for line in text.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return re.sub(r"(?m)^(- .*)\n\n(?=- )", "\\1\n", text).strip()


def ticket_text(subject: str | None, inbound: list[str]) -> str:
    """What a ticket's suggestions are matched against: its subject and the customer's
    messages."""
    return " ".join([subject or "", *inbound])


@lru_cache(maxsize=4096)
def _words(title: str, body: str) -> frozenset[str]:
    """An article's search words (kept: every ticket page scores the category's articles)."""
    return frozenset(terms(f"{title} {body}"))


async def suggested(session: AsyncSession, ticket_category: str, text: str,
                    limit: int = 5) -> list[dict[str, Any]]:
    """Articles of the knowledge base category that answers ``ticket_category``, those
    sharing most words with ``text`` first; each with its path (``/kb/{slug}``, under
    CSKH_PUBLIC_URL) to insert as a link, and its Markdown to insert as text."""
    category = FOR_TICKET.get(ticket_category, "usage")
    words = {w for w in terms(text) if len(w) > 2}
    found = await search(session, "", category, limit=200)

    def score(a: KbArticle) -> int:
        return len(words & _words(a.title, a.body))

    ranked = sorted(found, key=lambda a: (-score(a), a.title))[:limit]
    return [{"slug": a.slug, "title": a.title, "category": a.category,
             "path": f"/kb/{a.slug}", "text": a.body} for a in ranked]
