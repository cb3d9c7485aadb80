"""The public knowledge base pages: ``/kb`` (search and categories) and ``/kb/{slug}``.

Anyone may read them (no sign-in); they are server-rendered, light (no script of their own)
and readable on a phone.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from desk.api import SESSIONS
from desk.kb import CATEGORY_LABELS, article, render, search
from storage.models_care import KB_CATEGORIES

MAX_QUERY = 200


async def kb_index(request: web.Request) -> web.Response:
    """``GET /kb?q=…&c=…``: the articles by category, or those matching the search."""
    query = request.query.get("q", "")[:MAX_QUERY].strip()
    category = request.query.get("c") or None
    if category is not None and category not in KB_CATEGORIES:
        category = None
    async with request.app[SESSIONS]() as session:
        found = await search(session, query, category)
    groups = [(c, CATEGORY_LABELS[c], [a for a in found if a.category == c])
              for c in KB_CATEGORIES]
    return aiohttp_jinja2.render_template(
        "kb.html", request, {"query": query, "category": category, "found": found,
                             "groups": [g for g in groups if g[2]],
                             "categories": [(c, CATEGORY_LABELS[c]) for c in KB_CATEGORIES]})


async def kb_article(request: web.Request) -> web.Response:
    """``GET /kb/{slug}``: one article, or 404."""
    async with request.app[SESSIONS]() as session:
        found = await article(session, request.match_info["slug"])
    if found is None:
        response = aiohttp_jinja2.render_template("kb_missing.html", request, {})
        response.set_status(404)
        return response
    return aiohttp_jinja2.render_template(
        "kb_article.html", request, {"article": found, "html": Markup(render(found.body)),  # noqa: S704 (nh3-cleaned)
                                     "label": CATEGORY_LABELS[found.category]})


def add_kb_routes(app: web.Application) -> None:
    """Mount the public knowledge base pages (``app`` must hold SESSIONS)."""
    app.router.add_get("/kb", kb_index, name="kb")
    app.router.add_get("/kb/{slug}", kb_article, name="kb_article")
