"""The inbox in real Chromium on both backend pairs: a web form posted while the officer looks
appears without a reload, hostile text stays text, an agent sees only their rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Browser

from ingest.web.app import create_app
from storage.db import SessionFactory
from tests.support.browser import artifact
from tests.support.pages import Client, add_officer, page_errors, sign_in_page

AiohttpClient = Callable[..., Awaitable[Client]]
QUEUES = ["cskh", "sales", "accounting", "warehouse", "technical"]
HOSTILE = ('<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
           "Hóa đơn VAT số 0000123 ghi sai mã số thuế, đề nghị xuất lại.")


async def test_a_web_form_appears_live_and_stays_text(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    await add_officer(sessions, "Trần Bình", QUEUES)
    async with sessions() as session, session.begin():
        from router.staff import set_status
        await set_status(session, "Trần Bình", "off")  # every new ticket goes to An
    client = await aiohttp_client(create_app(backend.settings(rebalance_seconds=0.2)))
    base = str(client.make_url("")).rstrip("/")

    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "nguyễn văn an")
    assert await page.locator("tr.ticket").count() == 0
    await page.wait_for_function("document.querySelector('[sse-connect]') !== null")

    resp = await client.post("/webhooks/webform", json={
        "name": "Trần Thị Hoa", "company": "Công ty TNHH Minh Phát",
        "email": "hoa@minhphat.vn", "subject": "Hóa đơn sai MST", "message": HOSTILE})
    assert resp.status == 202, await resp.text()
    row = page.locator("tr.ticket")
    await row.first.wait_for(timeout=60_000)  # no reload: the events redrew the rows
    assert await row.count() == 1
    excerpt = await row.locator(".excerpt").text_content()
    assert excerpt is not None and excerpt.startswith("<script>window.pwned=1</script><img")
    assert await page.evaluate("window.pwned === undefined")
    assert await page.locator("tr.ticket img, tr.ticket script").count() == 0
    number = await row.get_attribute("data-number")
    assert number is not None and number.startswith("CSKH-")
    assert await row.locator("td").nth(7).text_content() == "Nguyễn Văn An"
    # codes are named in Vietnamese (the code itself stays in data-code)
    assert await row.locator("td").nth(2).text_content() == "Biểu mẫu web"
    category = row.locator("td").nth(3)
    assert await category.get_attribute("data-code") == "invoice"
    assert await category.text_content() == "Hóa đơn"
    assert await page.locator("#f-priority option[value=urgent]").text_content() == "Khẩn cấp"
    assert await page.locator("#f-status option[value=waiting]").text_content() == (
        "Chờ khách phản hồi")
    assert "còn" in (await row.locator(".sla").text_content() or "")
    await page.screenshot(path=str(artifact(f"inbox-{backend.name}.png")), full_page=True)

    # a second form while the page is open: its row appears too, with no reload
    resp = await client.post("/webhooks/webform", json={
        "name": "Lê Văn Tùng", "email": "tung@thepviet.vn", "subject": "Báo giá",
        "message": "Xin báo giá sơn chống thấm 20 thùng"})
    assert resp.status == 202, await resp.text()
    await row.nth(1).wait_for(timeout=60_000)
    numbers = [await r.get_attribute("data-number") for r in await row.all()]
    assert number in numbers and len(set(numbers)) == 2

    # the keyboard: j/k move the selection, ? shows the keys, / goes to the search, Enter opens
    assert await row.nth(0).get_attribute("aria-selected") == "true"
    await page.keyboard.press("j")
    assert [await r.get_attribute("aria-selected") for r in await row.all()] == [
        "false", "true"]
    await page.keyboard.press("k")
    assert [await r.get_attribute("aria-selected") for r in await row.all()] == [
        "true", "false"]
    await page.keyboard.press("?")
    assert await page.locator("#keys").is_visible()
    await page.keyboard.press("/")
    assert await page.evaluate("document.activeElement.id") == "q"
    await page.keyboard.type("hoa don vat")  # without diacritics
    await page.keyboard.press("Enter")
    await page.wait_for_url("**q=hoa+don+vat**")
    assert await page.locator("tr.ticket").count() == 1
    await page.fill("#q", "giao hàng")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**q=giao**")
    assert await page.locator("tr.ticket").count() == 0
    await page.goto(f"{base}/inbox")
    await page.keyboard.press("j")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/inbox/tickets/{numbers[1]}")
    # on the ticket page j/k open the next and previous ticket of that list; none past its end
    await page.keyboard.press("k")
    await page.wait_for_url(f"{base}/inbox/tickets/{numbers[0]}")
    await page.keyboard.press("k")
    await page.keyboard.press("?")  # the keys list opened: k did not leave the page
    assert await page.locator("#keys").is_visible()
    assert page.url == f"{base}/inbox/tickets/{numbers[0]}"
    await page.keyboard.press("j")
    await page.wait_for_url(f"{base}/inbox/tickets/{numbers[1]}")

    # at phone width the rows are cards, still readable
    phone = await browser.new_page(viewport={"width": 390, "height": 844})
    await sign_in_page(phone, base, "Nguyễn Văn An")
    assert await phone.locator("tr.ticket").count() == 2
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await phone.screenshot(path=str(artifact(f"inbox-phone-{backend.name}.png")),
                           full_page=True)

    # another agent sees none of An's rows, in any tab they have
    other = await browser.new_page()
    await sign_in_page(other, base, "Trần Bình")
    assert await other.locator("tr.ticket").count() == 0
    await other.click("#tab-unassigned")
    await other.wait_for_url("**tab=unassigned**")
    assert await other.locator("tr.ticket").count() == 0
    assert await other.locator("#tab-all").count() == 0
    refused = await other.goto(f"{base}/inbox?tab=all")
    assert refused is not None and refused.status == 400
    assert errors == []
