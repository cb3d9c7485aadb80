"""The knowledge base editor in real Chromium on both backend pairs: a lead writes an article
(Vietnamese, with hostile markup in it), previews it, saves it, finds it on the public pages
without diacritics, edits it into a draft (gone from the public pages); a bad address is the
form again with the reason and the text kept; an agent and a forged form are refused."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Browser
from sqlalchemy import select

from ingest.web.app import create_app
from storage.db import SessionFactory
from storage.models import Staff
from storage.models_care import KbArticle
from tests.support.browser import artifact
from tests.support.pages import Client, add_officer, page_errors, sign_in, sign_in_page

AiohttpClient = Callable[..., Awaitable[Client]]
QUEUES = ["cskh", "technical"]
# decomposed (NFD) on purpose: what a Mac's keyboard may send; it is stored NFC
TITLE = unicodedata.normalize("NFD", "Hướng dẫn vệ sinh lõi lọc")
BODY = ("## Các bước\n\n1. Khóa van nước.\n2. Tháo lõi lọc, rửa dưới vòi.\n\n"
        "<script>window.pwned=1</script> <img src=x onerror=\"window.pwned=2\">\n\n"
        "[Hỗ trợ](javascript:window.pwned=3)\n")


async def test_a_lead_writes_previews_saves_and_unpublishes(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    await add_officer(sessions, "Lê Thị Lan", QUEUES, role="lead")
    await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    client = await aiohttp_client(create_app(backend.settings()))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors = page_errors(page)
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await sign_in_page(page, base, "Lê Thị Lan")
    await page.click("#nav-kb")
    await page.wait_for_url(f"{base}/inbox/kb")
    assert await page.locator("#kb-empty").is_visible()
    await page.click("#kb-new")
    await page.wait_for_url(f"{base}/inbox/kb/new")

    # a bad address: the form again with the reason, nothing typed lost, nothing stored
    await page.fill("#kb-slug", "Vệ sinh lõi lọc")
    await page.select_option("#kb-category", "usage")
    await page.fill("#kb-title", TITLE)
    await page.fill("#kb-body", BODY)
    await page.evaluate("document.querySelector('#kb-slug').removeAttribute('pattern')")
    await page.click("#kb-save")
    assert "Địa chỉ gồm 1 đến 200 ký tự" in (await page.text_content("#kb-problems") or "")
    assert await page.input_value("#kb-title") == unicodedata.normalize("NFC", TITLE)
    assert "Tháo lõi lọc" in await page.input_value("#kb-body")

    # the preview shows the text as customers will see it: markup is not run
    await page.fill("#kb-slug", "ve-sinh-loi-loc")
    await page.click("#kb-preview-button")
    assert await page.locator("#kb-preview li", has_text="Khóa van nước").count() == 1
    assert await page.locator("#kb-preview script, #kb-preview img").count() == 0
    async with sessions() as s:
        assert (await s.scalars(select(KbArticle))).all() == []  # a preview saves nothing
    await page.click("#kb-save")
    await page.wait_for_url(f"{base}/inbox/kb/ve-sinh-loi-loc?saved=1")
    assert await page.locator("#kb-saved").is_visible()
    await page.screenshot(path=str(artifact(f"kb-editor-{backend.name}.png")), full_page=True)
    async with sessions() as s:
        article = (await s.scalars(select(KbArticle))).one()
        lan = await s.scalar(select(Staff.id).where(Staff.name == "Lê Thị Lan"))
    assert article.title == unicodedata.normalize("NFC", TITLE) and article.published
    assert article.updated_by == lan and article.category == "usage"

    # customers find it without diacritics, and nothing in it runs
    await page.click("#kb-view")
    await page.wait_for_url(f"{base}/kb/ve-sinh-loi-loc")
    await page.click("text=Hỗ trợ")
    assert await page.evaluate("window.pwned === undefined") and dialogs == []
    await page.goto(f"{base}/kb?q=ve+sinh+loi+loc")
    assert "Số bài tìm thấy: 1" in (await page.text_content("#kb-count") or "")

    # edited into a draft: listed as such, gone from the public pages
    await page.goto(f"{base}/inbox/kb")
    await page.click("text=Hướng dẫn vệ sinh lõi lọc")
    await page.wait_for_url(f"{base}/inbox/kb/ve-sinh-loi-loc")
    await page.fill("#kb-title", "Vệ sinh lõi lọc (bản cũ)")
    await page.uncheck("#kb-published")
    await page.click("#kb-save")
    await page.wait_for_url(f"{base}/inbox/kb/ve-sinh-loi-loc?saved=1")
    await page.goto(f"{base}/inbox/kb")
    row = page.locator("#kb-articles tr[data-slug='ve-sinh-loi-loc']")
    assert "Bản nháp" in (await row.locator(".kb-state").text_content() or "")
    gone = await page.goto(f"{base}/kb/ve-sinh-loi-loc")
    assert gone is not None and gone.status == 404
    assert errors == []

    # a second article at the same address is refused with the reason
    csrf = await sign_in(client, "Lê Thị Lan")
    again = await client.post("/inbox/kb/new", data={
        "csrf_token": csrf, "slug": "ve-sinh-loi-loc", "category": "usage", "title": "Khác",
        "body": "Khác", "action": "save"})
    assert again.status == 400 and "Đã có bài viết ở địa chỉ này" in await again.text()
    forged = await client.post("/inbox/kb/ve-sinh-loi-loc", data={
        "slug": "x", "category": "usage", "title": "Giả", "body": "Giả", "action": "save"})
    assert forged.status == 403

    # an agent reads the public pages but does not write
    agent = await aiohttp_client(create_app(backend.settings()))
    csrf = await sign_in(agent, "Nguyễn Văn An")
    assert (await agent.get("/inbox/kb")).status == 403
    refused = await agent.post("/inbox/kb/new", data={
        "csrf_token": csrf, "slug": "cua-an", "category": "usage", "title": "An",
        "body": "An", "action": "save"})
    assert refused.status == 403
    assert "nav-kb" not in await (await agent.get("/inbox")).text()
    async with sessions() as s:
        titles = [a.title for a in await s.scalars(select(KbArticle))]
    assert titles == ["Vệ sinh lõi lọc (bản cũ)"]
