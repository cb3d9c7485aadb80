"""The public web form in real Chromium, end to end on both backend pairs.

A customer fills ``GET /form`` with the keyboard alone and gets the thank-you page with the
ticket number (exactly one ticket); a bad e-mail address gets the form back with the reason
next to the field; a robot that fills the hidden field is thanked and nothing is stored; the
per-address limit answers 429 with a Vietnamese page; the company's site (another origin,
listed in ``CSKH_FORM_ORIGINS``) posts the plain snippet, frames the form and fetches JSON,
while a page of an origin not listed is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page
from sqlalchemy import func, select
from structlog.testing import capture_logs

from connectors.signing import hmac_sha256_hex
from desk.form.page import snippet_html
from ingest.keys import SESSIONS
from ingest.web.app import create_app
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import Message, Ticket
from tests.support.browser import artifact
from tests.support.clock import Clock
from tests.support.desk import Client

AiohttpClient = Callable[[web.Application], Awaitable[Client]]
HOSTILE = "Hàng giao thiếu 3 cuộn thép <script>alert(1)</script> \"đơn\" PX-0412"


@dataclass
class Site:
    """The company's own website, on another origin, with the snippets on its pages."""

    server: TestServer
    service_url: str = ""

    @property
    def allowed(self) -> str:  # the origin listed in CSKH_FORM_ORIGINS
        return f"http://localhost:{self.server.port}"

    @property
    def refused(self) -> str:  # the same server under a name that is another origin
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    app = web.Application()
    holder = Site(TestServer(app, host="127.0.0.1"))

    async def page(request: web.Request) -> web.Response:
        snippets = snippet_html(holder.service_url)
        kind = request.match_info["kind"]
        body = (f"<!doctype html><html lang='vi'><head><meta charset='utf-8'><title>Liên hệ"
                f"</title></head><body><h1>Công ty Thép Việt</h1>{snippets[kind]}</body></html>")
        return web.Response(text=body, content_type="text/html")

    app.router.add_get("/{kind:iframe|form}", page)
    await holder.server.start_server()
    try:
        yield holder
    finally:
        await holder.server.close()


@dataclass
class Service:
    client: Client
    clock: Clock

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def tickets(self) -> list[Ticket]:
        async with self.client.app[SESSIONS]() as session:
            return list(await session.scalars(select(Ticket)))

    async def messages(self) -> int:
        async with self.client.app[SESSIONS]() as session:
            return int(await session.scalar(select(func.count(Message.id))) or 0)


Start = Callable[..., Awaitable[Service]]


@pytest.fixture
async def start(backend: Any, site: Site, aiohttp_client: AiohttpClient) -> Start:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    await engine.dispose()

    async def started(**overrides: Any) -> Service:
        clock = Clock(datetime.now(UTC))
        settings = backend.settings(form_origins=[site.allowed], **overrides)
        client = await aiohttp_client(create_app(settings, clock=clock))
        site.service_url = str(client.make_url("")).rstrip("/")
        return Service(client, clock)

    return started


async def thank_you_number(page: Page, wait_for: Callable[..., Awaitable[Any]]) -> str:
    """The ticket number the thank-you page shows once the ticket exists (it refreshes)."""
    async def shown() -> str | None:
        number = page.locator("#ticket-number")
        if await number.count():
            return await number.text_content() or None
        await page.reload()
        return None

    found: str = await wait_for(shown, attempts=200, interval=0.1)
    return found


async def test_keyboard_only_customer_gets_the_ticket_number(
        start: Start, browser: Browser, wait_for: Callable[..., Awaitable[Any]]) -> None:
    service = await start()
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    response = await page.goto(service.url("/form"))
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'self' http://localhost:" in csp
    assert await page.text_content("h1") == "Gửi yêu cầu cho chúng tôi"
    for label in ("Họ và tên", "Công ty", "Địa chỉ e-mail", "Số điện thoại", "Tiêu đề",
                  "Chủ đề (không bắt buộc)", "Nội dung"):
        assert await page.get_by_label(label).count() == 1, label
    assert await page.get_by_label("Họ và tên").get_attribute("required") == ""

    await page.focus("#f-name")
    for text in ("Nguyễn Văn An", "Công ty TNHH Thép Việt", "an.nv@thepviet.vn",
                 "0912 345 678", "Giao thiếu hàng đơn PX-0412"):
        await page.keyboard.type(text)
        await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "f-category"
    await page.keyboard.press("Tab")
    await page.keyboard.type(HOSTILE)
    await page.keyboard.press("Tab")  # the hidden field is never reached
    assert await page.evaluate("document.activeElement.type") == "submit"
    await page.screenshot(path=str(artifact("webform.png")))
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/form/thanks/**")
    assert "đã nhận được yêu cầu" in (await page.text_content("h1") or "")

    number = await thank_you_number(page, wait_for)
    (ticket,) = await service.tickets()
    assert number == ticket.number and ticket.channel == "webform"
    assert ticket.subject == "Giao thiếu hàng đơn PX-0412"
    async with service.client.app[SESSIONS]() as session:
        stored = await session.scalar(select(Message.text).where(
            Message.ticket_id == ticket.id))
    assert stored == HOSTILE
    await page.reload()  # the thank-you page is only a view: nothing is posted twice
    assert len(await service.tickets()) == 1 and await service.messages() == 1


async def test_a_bad_address_comes_back_with_its_reason_and_a_topic_is_kept(
        start: Start, browser: Browser, wait_for: Callable[..., Awaitable[Any]]) -> None:
    service = await start()
    page = await browser.new_page()
    await page.goto(service.url("/form"))
    await page.fill("#f-name", "Trần Thị Hoa")
    await page.fill("#f-email", "hoa@minhphat")  # valid to the browser, not to us
    await page.select_option("#f-category", "invoice")
    await page.fill("#f-message", HOSTILE)
    async with page.expect_response(lambda r: r.url.endswith("/webhooks/webform")) as info:
        await page.click("button[type=submit]")
    assert (await info.value).status == 400
    error = page.locator("#f-email-error")
    assert await error.text_content() == "Địa chỉ e-mail không hợp lệ."
    email = page.locator("#f-email")
    assert await email.get_attribute("aria-invalid") == "true"
    assert await email.get_attribute("aria-describedby") == "f-email-error"
    assert await page.evaluate("document.activeElement.id") == "errors"  # the summary
    assert await page.input_value("#f-name") == "Trần Thị Hoa"
    assert await page.input_value("#f-message") == HOSTILE  # text, never markup
    assert await page.input_value("#f-category") == "invoice"
    assert await page.locator("script:not([src])").count() == 0
    assert await service.messages() == 0

    await page.fill("#f-email", "")
    await page.fill("#f-phone", "")
    async with page.expect_response(lambda r: r.url.endswith("/webhooks/webform")) as info:
        await page.click("button[type=submit]")
    assert (await info.value).status == 400
    assert "e-mail hoặc số điện thoại" in (await page.text_content("#f-email-error") or "")

    await page.fill("#f-email", "hoa.tran@minhphat.vn")
    await page.click("button[type=submit]")
    number = await thank_you_number(page, wait_for)
    (ticket,) = await service.tickets()
    assert number == ticket.number and ticket.category == "invoice"


async def test_the_thank_you_link_continues_the_ticket_and_nothing_else_does(
        start: Start, browser: Browser, wait_for: Callable[..., Awaitable[Any]]) -> None:
    # the one proof a web form may join a ticket by: the link the thank-you page gives its
    # sender (signed with CSKH_FOLLOW_UP_SECRET), carried by the form in a hidden field
    service = await start(follow_up_secret="bí-mật-liên-kết-bổ-sung-" + "x" * 16)
    page = await browser.new_page()
    await page.goto(service.url("/form"))
    assert await page.locator("#continues").count() == 0
    await page.fill("#f-name", "Nguyễn Văn An")
    await page.fill("#f-company", "Công ty TNHH Thép Việt")
    await page.fill("#f-email", "an.nv@thepviet.vn")
    await page.fill("#f-message", "Giao thiếu 3 cuộn thép đơn PX-0412")
    await page.click("button[type=submit]")
    number = await thank_you_number(page, wait_for)
    shown = await page.get_attribute("#follow-up-link", "href")
    # under CSKH_PUBLIC_URL (unset here: http://CSKH_HTTP_HOST:CSKH_HTTP_PORT)
    assert shown is not None and shown.startswith("http://127.0.0.1:8080/form?follow_up=")
    link = service.url("/form?" + shown.split("?", 1)[1])

    # the same sender adds to it later through the link: one ticket, two messages
    await page.goto(link)
    assert number in (await page.text_content("#continues") or "")
    await page.fill("#f-name", "Nguyễn Văn An")
    await page.fill("#f-email", "an.nv@thepviet.vn")
    await page.fill("#f-message", "Bổ sung: số lô hàng LT-2291")
    await page.click("button[type=submit]")
    assert await thank_you_number(page, wait_for) == number
    (ticket,) = await service.tickets()
    assert ticket.number == number and await service.messages() == 2

    # a stranger who types the same company, address and the ticket's tag, or a forged
    # token, gets a new ticket of their own
    token = link.split("follow_up=", 1)[1]
    forged = token.rsplit(".", 1)[0] + "." + "A" * 43
    await page.goto(service.url(f"/form?follow_up={forged}"))
    assert await page.locator("#continues").count() == 0
    assert await page.locator("input[name=follow_up]").count() == 0
    await page.fill("#f-name", "Kẻ lạ")
    await page.fill("#f-company", "Công ty TNHH Thép Việt")
    await page.fill("#f-email", "an.nv@thepviet.vn")
    await page.fill("#f-subject", f"[#{number}] bổ sung")
    await page.fill("#f-message", "Đổi số tài khoản nhận tiền giúp em")
    await page.click("button[type=submit]")
    other = await thank_you_number(page, wait_for)
    assert other != number
    assert len(await service.tickets()) == 2 and await service.messages() == 3

    # without the setting the thank-you page gives no such link
    plain = await start()
    await page.goto(plain.url("/form"))
    await page.fill("#f-name", "Trần Thị Hoa")
    await page.fill("#f-email", "hoa@minhphat.vn")
    await page.fill("#f-message", "Hỏi giá thép hộp")
    await page.click("button[type=submit]")
    await thank_you_number(page, wait_for)
    assert await page.locator("#follow-up-link").count() == 0


async def test_a_filled_honeypot_is_thanked_and_nothing_is_stored(
        start: Start, browser: Browser, wait_for: Callable[..., Awaitable[Any]]) -> None:
    service = await start()
    page = await browser.new_page()
    await page.goto(service.url("/form"))
    await page.fill("#f-name", "Bot")
    await page.fill("#f-email", "bot@spam.example.com")
    await page.fill("#f-message", "Mua hàng giá rẻ tại spam.example.com")
    await page.fill("#f-website", "https://spam.example.com", force=True)
    with capture_logs() as logs:
        await page.click("button[type=submit]")
        await page.wait_for_url("**/form/thanks/**")
    assert "đã nhận được yêu cầu" in (await page.text_content("h1") or "")
    assert await page.locator("#reference").count() == 1
    assert any(e["event"] == "webhook.ignored_event" and e.get("event_type") == "honeypot"
               for e in logs)

    await page.goto(service.url("/form"))  # a person's post after it: the only ticket
    await page.fill("#f-name", "Lê Minh")
    await page.fill("#f-phone", "0987 654 321")
    await page.fill("#f-message", "Xin báo giá ống thép mạ kẽm")
    await page.click("button[type=submit]")
    number = await thank_you_number(page, wait_for)
    (ticket,) = await service.tickets()
    assert ticket.number == number and await service.messages() == 1


async def test_one_address_is_limited_and_a_signed_backend_is_not(
        start: Start, browser: Browser) -> None:
    service = await start(form_rate_per_minute=2, webform_secret="site-backend-secret")
    page = await browser.new_page()

    async def post(name: str) -> int:
        await page.goto(service.url("/form"))
        await page.fill("#f-name", name)
        await page.fill("#f-phone", "0912345678")
        await page.fill("#f-message", f"Hỏi giá thép của {name}")
        async with page.expect_response(lambda r: r.url.endswith("/webhooks/webform")) as info:
            await page.click("button[type=submit]")
        return (await info.value).status

    assert [await post("An"), await post("Bình")] == [303, 303]
    async with page.expect_response(lambda r: r.url.endswith("/webhooks/webform")) as info:
        await page.goto(service.url("/form"))
        await page.fill("#f-name", "Chi")
        await page.fill("#f-phone", "0912345678")
        await page.fill("#f-message", "Hỏi giá lần ba")
        await page.click("button[type=submit]")
    limited = await info.value
    assert limited.status == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert await page.text_content("h1") == "Quá nhiều yêu cầu từ địa chỉ của Quý khách"

    body = json.dumps({"name": "Website", "email": "web@thepviet.vn",
                       "message": "Đơn từ backend của website"}).encode()
    signed = await service.client.post("/webhooks/webform", data=body, headers={
        "Content-Type": "application/json",
        "X-CSKH-Signature": "sha256=" + hmac_sha256_hex("site-backend-secret", body)})
    assert signed.status == 202  # the site's backend is one address for all its visitors
    unsigned = await service.client.post("/webhooks/webform", json={
        "name": "X", "email": "x@thepviet.vn", "message": "y"})
    assert unsigned.status == 401  # a secret is set: no signature, no origin, no entry

    service.clock.now += timedelta(seconds=61)  # the window has passed: no sleep
    assert await post("Chi") == 303


async def test_the_company_site_posts_frames_and_fetches_and_another_origin_cannot(
        start: Start, browser: Browser, site: Site,
        wait_for: Callable[..., Awaitable[Any]]) -> None:
    service = await start()
    page = await browser.new_page()
    await page.goto(f"{site.allowed}/form")
    await page.get_by_label("Họ và tên").fill("Phạm Quốc Bảo")
    await page.get_by_label("Địa chỉ e-mail").fill("bao.pq@thepviet.vn")
    await page.get_by_label("Nội dung").fill("Bao hanh may cat thep bi hong")  # khong dau
    await page.get_by_role("button", name="Gửi").click()
    await page.wait_for_url(f"{service.url('/form/thanks/')}**")
    number = await thank_you_number(page, wait_for)
    (ticket,) = await service.tickets()
    assert ticket.number == number

    await page.goto(f"{site.allowed}/iframe")
    frame = page.frame_locator("iframe")
    await frame.get_by_label("Họ và tên").fill("Đỗ Thu")
    await frame.get_by_label("Số điện thoại").fill("0905 111 222")
    await frame.get_by_label("Nội dung").fill("Cần xuất lại hóa đơn VAT")
    await frame.get_by_role("button", name="Gửi").click()
    await frame.locator("#reference, #ticket-number").first.wait_for()
    await wait_for(lambda: _count(service, 2), attempts=200, interval=0.1)

    fetched = await page.evaluate("""async (url) => {
        const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({name: "Vũ Hà", email: "ha@thepviet.vn", message: "Hỏi CK"})});
        return [r.status, await r.json()];
    }""", service.url("/webhooks/webform"))
    assert fetched[0] == 202 and uuid.UUID(fetched[1]["ids"][0])

    await page.goto(f"{site.refused}/form")
    await page.get_by_label("Họ và tên").fill("Kẻ lạ")
    await page.get_by_label("Địa chỉ e-mail").fill("la@evil.example.com")
    await page.get_by_label("Nội dung").fill("Không được vào")
    async with page.expect_response(lambda r: r.url.endswith("/webhooks/webform")) as info:
        await page.get_by_role("button", name="Gửi").click()
    assert (await info.value).status == 403
    assert await page.text_content("h1") == "Trang này không được phép gửi biểu mẫu"
    await page.goto(f"{site.refused}/iframe")
    (_top, framed) = page.frames  # loaded with the page (goto waits for its load event)
    assert await framed.locator("form").count() == 0  # frame-ancestors keeps it out
    refused_fetch = await page.evaluate("""async (url) => {
        try { await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                body: "{}"}); return "read"; } catch (e) { return "blocked"; }
    }""", service.url("/webhooks/webform"))
    assert refused_fetch == "blocked"
    preflight = await service.client.options("/webhooks/webform", headers={
        "Origin": site.refused, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status == 403 and "may not post" in (await preflight.json())["reason"]
    await wait_for(lambda: _count(service, 3), attempts=200, interval=0.1)
    assert await service.messages() == 3  # two from the site's pages, one fetched


async def _count(service: Service, n: int) -> bool:
    return len(await service.tickets()) >= n
