"""The knowledge base editor of the staff pages: leads and admins write the articles.

``GET /inbox/kb`` lists every article (drafts too) with its state; ``/inbox/kb/new`` and
``/inbox/kb/{slug}`` are the editor: address (new articles only), category, title, the
Markdown text, published or draft. "Preview" shows the text as the public page will (the same
renderer: raw HTML off, nh3-cleaned) without saving; "Save" stores it, NFC, with who and when,
and the public ``/kb`` pages show it at once if published. Agents read the public pages; the
editor answers them 403. A bad field is the form again with the reasons (400), nothing lost.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from markupsafe import Markup

from desk.api import CLOCK, SESSIONS
from desk.i18n import gettext
from desk.kb import (
    CATEGORY_LABELS,
    ArticleForm,
    any_article,
    every_article,
    read_article_form,
    render,
    save_article,
)
from desk.web_session import forbidden, page_login_required, render_staff_page, request_staff
from router.staff import LEADS
from storage.models_care import KB_CATEGORIES, KbArticle


def _editor(request: web.Request) -> int:
    staff = request_staff(request)
    if staff.role not in LEADS:
        raise forbidden(gettext("Only leads and admins write the knowledge base."))
    return staff.id


def _page(request: web.Request, form: ArticleForm, *, new: bool, status: int = 200,
          preview: bool = False, saved: bool = False) -> web.Response:
    context: dict[str, Any] = {
        "form": form, "new": new, "saved": saved,
        "problems": [gettext(p) for p in form.problems],
        "categories": [(c, CATEGORY_LABELS[c]) for c in KB_CATEGORIES],
        "preview": Markup(render(form.body)) if preview and form.body else None,  # noqa: S704 (nh3-cleaned)
    }
    return render_staff_page("kb_edit.html", request, context, status=status)


def _form_of(article: KbArticle) -> ArticleForm:
    return ArticleForm(slug=article.slug, category=article.category, title=article.title,
                       body=article.body, published=article.published)


@page_login_required
async def kb_list(request: web.Request) -> web.Response:
    """``GET /inbox/kb``: every article, drafts included."""
    _editor(request)
    async with request.app[SESSIONS]() as session:
        articles = await every_article(session)
    return render_staff_page("kb_list.html", request, {
        "articles": articles, "labels": CATEGORY_LABELS,
        "saved": request.query.get("saved", "")})


@page_login_required
async def kb_new(request: web.Request) -> web.Response:
    """``GET /inbox/kb/new``: an empty editor."""
    _editor(request)
    return _page(request, ArticleForm(slug="", category="usage", title="", body="",
                                      published=True), new=True)


@page_login_required
async def kb_edit(request: web.Request) -> web.Response:
    """``GET /inbox/kb/{slug}``: the editor on an article."""
    _editor(request)
    async with request.app[SESSIONS]() as session:
        found = await any_article(session, request.match_info["slug"])
    if found is None:
        raise web.HTTPNotFound(text=gettext("No article has this address."))
    return _page(request, _form_of(found), new=False,
                 saved=request.query.get("saved") == "1")


async def _submitted(request: web.Request, slug: str) -> tuple[ArticleForm, bool]:
    data = await request.post()

    def field(name: str) -> str:
        value = data.get(name, "")
        return value if isinstance(value, str) else ""

    form = read_article_form(slug or field("slug"), field("category"), field("title"),
                             field("body"), field("published") == "1")
    return form, field("action") == "preview"


@page_login_required
async def kb_save(request: web.Request) -> web.StreamResponse:
    """``POST /inbox/kb/new`` and ``POST /inbox/kb/{slug}``: preview, or save and show the
    editor again (303)."""
    staff_id = _editor(request)
    slug = request.match_info.get("slug", "")
    new = not slug
    form, preview = await _submitted(request, slug)
    if preview or form.problems:
        return _page(request, form, new=new, preview=preview,
                     status=400 if form.problems and not preview else 200)
    async with request.app[SESSIONS]() as session, session.begin():
        existing = None if new else await any_article(session, slug)
        if not new and existing is None:
            raise web.HTTPNotFound(text=gettext("No article has this address."))
        saved = await save_article(session, form, staff_id=staff_id,
                                   now=request.app[CLOCK](), existing=existing)
    if saved is None:
        return _page(request, form, new=new, status=400)
    raise web.HTTPSeeOther(f"/inbox/kb/{form.slug}?saved=1")


def add_kb_edit_routes(app: web.Application) -> None:
    """Mount the editor (``app`` must hold SESSIONS and CLOCK, and the page sessions)."""
    app.router.add_get("/inbox/kb", kb_list)
    app.router.add_get("/inbox/kb/new", kb_new)
    app.router.add_post("/inbox/kb/new", kb_save)
    app.router.add_get("/inbox/kb/{slug}", kb_edit)
    app.router.add_post("/inbox/kb/{slug}", kb_save)
