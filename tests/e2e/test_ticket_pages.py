"""The ticket page in real Chromium on both backend pairs: open a web form's ticket from the
inbox, a ``<script>`` message inert; on a Messenger ticket insert a canned answer, reply and
see the Send API stand-in receive it and the page say it was sent, resolve with ``e``; a lead
reassigns; another queue's agent gets 404 by URL; a POST without the CSRF token is refused;
a missed call is called back from the page (its ``tel:`` link, the outcome recorded)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page
from sqlalchemy import select

from connectors.signing import hmac_sha256_hex
from desk.api import ticket_key
from desk.kb import import_articles
from desk.warranty import import_register
from ingest.web.app import create_app
from router.staff import set_status
from storage.db import SessionFactory
from storage.models import CannedAnswer, Contact, Ticket
from tests.support.browser import artifact
from tests.support.pages import Client, add_officer, page_errors, sign_in_page
from tests.support.pbx import running_pbx
from tests.support.signers import SECRETS, signed

AiohttpClient = Callable[..., Awaitable[Client]]
Wait = Callable[..., Awaitable[Any]]
QUEUES = ["cskh", "sales", "accounting", "warehouse", "technical"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DOCS = Path(__file__).resolve().parents[2] / "docs"
FB_SECRET = "e2e-fb-app-secret"
HOTLINE_SECRET = "e2e-hotline-secret"
PSID = "7283946152038475"
HOSTILE = ('<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
           "Giao hàng thiếu 2 thùng sơn, đề nghị giao bù.")


def messenger_body(text: str) -> tuple[bytes, dict[str, str]]:
    """Meta's ``message__text`` webhook with ``text``, a fresh ``mid`` and the time now (a
    reply is allowed only within 24 hours of it), signed."""
    payload = json.loads((FIXTURES / "facebook" / "message__text.json").read_text("utf-8"))
    body = copy.deepcopy(payload["body"])
    now_ms = int(time.time() * 1000)
    body["entry"][0]["time"] = now_ms
    item = body["entry"][0]["messaging"][0]
    item["timestamp"] = now_ms
    item["message"]["mid"], item["message"]["text"] = f"m_{uuid.uuid4().hex}", text
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json",
                 "X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(FB_SECRET, raw)}


async def open_row(page: Page, base: str, text: str, wait_for: Wait, tab: str = "mine") -> str:
    """Open the inbox row (of ``tab``) whose excerpt holds ``text`` once it is there; its
    number."""
    row = page.locator("tr.ticket", has_text=text)

    async def listed() -> bool:
        await page.goto(f"{base}/inbox?tab={tab}")
        return await row.count() > 0

    await wait_for(listed, attempts=120, interval=0.5)
    number = await row.first.get_attribute("data-number")
    assert number is not None
    await row.first.locator("a").click()
    await page.wait_for_url(f"{base}/inbox/tickets/{number}")
    return number


async def open_missed_call(client: Client, page: Page, base: str, wait_for: Wait) -> str:
    """Post a missed call through the signed PBX webhook, open its ticket; its number."""
    body = copy.deepcopy(json.loads((FIXTURES / "hotline" / "hangup__no_answer.json")
                                    .read_text("utf-8"))["body"])
    body["call_id"] = str(uuid.uuid4())
    raw = json.dumps(body, ensure_ascii=False).encode()
    resp = await client.post("/webhooks/hotline", data=raw, headers={
        "Content-Type": "application/json",
        "X-CSKH-Signature": "sha256=" + hmac_sha256_hex(HOTLINE_SECRET, raw)})
    assert resp.status == 200, await resp.text()
    row = page.locator("tr.ticket")

    async def listed() -> bool:
        await page.goto(f"{base}/inbox")
        return await row.count() > 0

    await wait_for(listed, attempts=120, interval=0.5)
    number = await row.first.get_attribute("data-number")
    assert number is not None
    await row.first.locator("a").click()
    await page.locator("#callback-form").wait_for()
    return number


async def test_work_a_ticket_in_the_browser(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser, messenger_api: Any, provider_answers: dict[str, Any],
        wait_for: Wait) -> None:
    await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    await add_officer(sessions, "Trần Bình", QUEUES)
    await add_officer(sessions, "Lê Lan", QUEUES, role="lead")
    await add_officer(sessions, "Kế Toán", ["accounting"])
    async with sessions() as session, session.begin():
        for name in ("Trần Bình", "Lê Lan", "Kế Toán"):
            await set_status(session, name, "off")  # every new ticket goes to An
        for queue in QUEUES:
            session.add(CannedAnswer(
                queue=queue, title="Xin lỗi giao thiếu", updated_at=datetime.now(UTC),
                text="Dạ {khach_hang} ơi, phiếu {so_phieu}: {nhan_vien} sẽ giao bù ngay ạ."))
    settings = backend.settings(
        rebalance_seconds=0.2, facebook_app_secret=FB_SECRET,
        facebook_page_token=provider_answers["messenger_token"],
        facebook_graph_url=f"{messenger_api.url}/v21.0")
    client = await aiohttp_client(create_app(settings))
    base = str(client.make_url("")).rstrip("/")

    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "Nguyễn Văn An")

    # a web form with a <script>: opened from the inbox, shown as text, inert
    resp = await client.post("/webhooks/webform", json={
        "name": "Trần Thị Hoa", "email": "hoa@minhphat.vn", "subject": "Thiếu hàng",
        "message": HOSTILE})
    assert resp.status == 202, await resp.text()
    form_number = await open_row(page, base, "Giao hàng thiếu", wait_for)
    first = page.locator("article.msg").first
    assert (await first.locator(".text").text_content() or "").startswith("<script>window")
    assert await page.locator("article.msg script, article.msg img").count() == 0
    assert await page.evaluate("window.pwned === undefined")
    assert await page.get_attribute("#sender-state", "data-sender") == "no"
    await page.fill("#note-text", "Kho Bình Dương xác nhận thiếu 2 thùng")
    await page.click("#save-note")
    await page.locator("article.msg-note").wait_for()

    # a Messenger ticket: insert a canned answer by a few letters, reply, see it delivered
    raw, headers = messenger_body("Shop ơi giao thiếu 2 thùng sơn rồi, giao bù giúp em")
    assert (await client.post("/webhooks/facebook", data=raw, headers=headers)).status == 200
    number = await open_row(page, base, "giao thiếu 2 thùng sơn rồi", wait_for)
    assert await page.get_attribute("#sender-state", "data-sender") == "yes"
    await page.keyboard.press("r")
    assert await page.evaluate("document.activeElement.id") == "reply-text"
    await page.click("#answer-search")
    await page.keyboard.type("xin loi")  # without diacritics
    button = page.locator("#answer-matches button.insert-answer")
    await button.first.wait_for()
    await button.first.click()
    expected = f"phiếu {number}: Nguyễn Văn An sẽ giao bù ngay ạ."
    assert expected in await page.input_value("#reply-text")
    await page.click("#send-reply")
    await page.locator("article.msg-outbound").wait_for()

    async def delivered() -> list[str] | None:
        texts: list[str] = messenger_api.texts(PSID)
        return texts or None

    sent = await wait_for(delivered, attempts=600)
    assert len(sent) == 1 and expected in sent[0]

    async def says_sent() -> bool:
        await page.reload()
        state = await page.get_attribute("article.msg-outbound .delivery", "data-state")
        return state == "sent"

    await wait_for(says_sent, attempts=60, interval=0.5)
    await page.screenshot(path=str(artifact(f"ticket-{backend.name}.png")), full_page=True)
    if backend.name == "embedded" and os.environ.get("CSKH_UPDATE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)  # the README's picture, refreshed on request
        shutil.copy(artifact(f"ticket-{backend.name}.png"), DOCS / "ticket.png")
    await page.keyboard.press("e")
    await page.locator("#t-status.status-resolved").wait_for()
    assert await page.locator("#reopen").count() == 1
    assert await page.text_content("#t-status") == "Đã giải quyết"  # named, not the code
    assert await page.get_attribute("#t-status", "data-code") == "resolved"

    # a lead reassigns the web form's ticket
    lead = await (await browser.new_context()).new_page()
    await sign_in_page(lead, base, "Lê Lan")
    await lead.goto(f"{base}/inbox/tickets/{form_number}")
    await lead.select_option("#reassign-to", "Trần Bình")
    await lead.click("#reassign")
    await lead.locator("#t-assignee", has_text="Trần Bình").wait_for()

    # another queue's agent: 404 by URL; a POST without the CSRF token is refused
    other = await (await browser.new_context()).new_page()
    await sign_in_page(other, base, "Kế Toán")
    refused = await other.goto(f"{base}/inbox/tickets/{form_number}")
    assert refused is not None and refused.status == 404
    # readable at phone width: nothing wider than the screen
    phone = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
    await sign_in_page(phone, base, "Nguyễn Văn An")
    shown = await phone.goto(f"{base}/inbox/tickets/{number}")
    assert shown is not None and shown.status == 200
    # the reply (the survey ask after resolving may follow it)
    assert await phone.locator("article.msg-outbound", has_text=expected).count() == 1
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await phone.screenshot(path=str(artifact(f"ticket-phone-{backend.name}.png")),
                           full_page=True)
    forged = await page.request.post(f"{base}/inbox/tickets/{form_number}/note",
                                     form={"text": "không có token"})
    assert forged.status == 403
    assert errors == []


async def test_a_failed_reply_shows_its_reason_and_is_sent_again(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser, messenger_api: Any, provider_answers: dict[str, Any],
        wait_for: Wait) -> None:
    await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    settings = backend.settings(
        facebook_app_secret=FB_SECRET, facebook_page_token=provider_answers["messenger_token"],
        facebook_graph_url=f"{messenger_api.url}/v21.0")
    client = await aiohttp_client(create_app(settings))
    base = str(client.make_url("")).rstrip("/")
    # the customer blocked the Page: Meta answers 551/1545041 to every send
    messenger_api.refuse[PSID] = provider_answers["graph_error"](
        551, "This person isn't available right now.", subcode=1545041)
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "Nguyễn Văn An")
    raw, headers = messenger_body("Shop ơi báo giá sơn chống thấm giúp em")
    assert (await client.post("/webhooks/facebook", data=raw, headers=headers)).status == 200
    await open_row(page, base, "báo giá sơn chống thấm", wait_for)
    await page.fill("#reply-text", "Dạ em gửi báo giá sơn chống thấm ạ.")
    await page.click("#send-reply")
    await page.locator("article.msg-outbound").wait_for()

    async def says(state: str) -> bool:
        await page.reload()
        found = await page.get_attribute("article.msg-outbound .delivery", "data-state")
        return found == state

    await wait_for(lambda: says("failed"), attempts=120, interval=0.5)
    failure = page.locator("article.msg-outbound .delivery-failure")
    assert (await failure.locator(".delivery-reason").inner_text()).startswith(
        "Không thể liên lạc với khách hàng trên kênh này")
    assert "551" in await failure.locator(".provider-reason").inner_text()
    await page.screenshot(path=str(artifact(f"ticket-failed-{backend.name}.png")),
                          full_page=True)
    assert messenger_api.texts(PSID) == []

    # unblocked: "send again" runs the API's retry; the stand-in gets it once
    del messenger_api.refuse[PSID]
    await failure.locator("button.retry").click()
    await page.locator("#notice", has_text="Đang gửi lại").wait_for()
    assert await page.locator("button.retry").count() == 0

    async def delivered() -> list[str] | None:
        texts: list[str] = messenger_api.texts(PSID)
        return texts or None

    assert await wait_for(delivered, attempts=600) == ["Dạ em gửi báo giá sơn chống thấm ạ."]
    await wait_for(lambda: says("sent"), attempts=60, interval=0.5)
    assert await page.locator(".delivery-failure").count() == 0
    assert errors == []


async def test_a_missed_call_is_called_back_from_the_page(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser, wait_for: Wait) -> None:
    await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    client = await aiohttp_client(create_app(backend.settings(hotline_secret=HOTLINE_SECRET)))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "Nguyễn Văn An")

    await open_missed_call(client, page, base, wait_for)
    # the number as a tel: link; no reply box (a hotline ticket is answered by calling back)
    assert await page.get_attribute("#callback-tel", "href") == "tel:+84912345678"
    assert await page.locator("#reply-form").count() == 0
    assert await page.locator("#place-call").count() == 0  # no PBX: the officer dials

    # no answer: recorded, the ticket still needs a callback
    await page.check("input[name=outcome][value=no_answer]")
    await page.fill("#callback-note", "Gọi lúc 10h, khách không nghe máy")
    await page.click("#record-callback")
    await page.locator("article.msg-outbound", has_text="khách không nghe máy").wait_for()
    assert "Đã ghi kết quả gọi lại." in (await page.text_content("#ticket") or "")
    # reached, with the customer's words (text, never markup): then it can be resolved
    await page.check("input[name=outcome][value=reached]")
    await page.fill("#callback-note", "Khách hẹn chiều gửi hóa đơn <b>VAT</b>")
    await page.click("#record-callback")
    said = page.locator("article.msg-outbound", has_text="<b>VAT</b>")
    await said.wait_for()
    assert await page.locator("article.msg-outbound .text b").count() == 0
    await page.keyboard.press("e")
    await page.locator("#t-status.status-resolved").wait_for()
    assert errors == []


async def test_the_call_button_places_the_call_through_the_pbx(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser, wait_for: Wait) -> None:
    await add_officer(sessions, "Nguyễn Văn An", QUEUES, email="an@congty.vn")
    async with running_pbx(HOTLINE_SECRET) as pbx:
        client = await aiohttp_client(create_app(backend.settings(
            hotline_secret=HOTLINE_SECRET, hotline_call_url=pbx.url)))
        base = str(client.make_url("")).rstrip("/")
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        errors = page_errors(page)
        await sign_in_page(page, base, "Nguyễn Văn An")
        number = await open_missed_call(client, page, base, wait_for)
        assert await page.get_attribute("#callback-tel", "href") == "tel:+84912345678"

        # the PBX accepts: the page says so, in Vietnamese; one call, for this officer
        await page.click("#place-call")
        notice = page.locator("#notice", has_text="Tổng đài đã nhận cuộc gọi (pbx-1)")
        await notice.wait_for()
        assert "+84912345678" in (await notice.inner_text())
        assert [(c["to"], c["agent"], c["agent_email"], c["reference"]) for c in pbx.calls] \
            == [("+84912345678", "Nguyễn Văn An", "an@congty.vn", number)]
        # nothing is recorded by the call itself: the outcome is still to be recorded
        assert await page.locator("article.msg-outbound").count() == 0

        # the PBX is away (503): the page says the call was not placed, with its words
        pbx.down = True
        await page.click("#place-call")
        failed = page.locator("#error", has_text="Tổng đài không phản hồi hoặc đang bận")
        await failed.wait_for()
        assert "trunk busy" in await failed.locator(".provider-reason").inner_text()
        assert await page.locator("#notice").count() == 0
        # the PBX refuses (403): said so too; the page stays usable (the form is still there)
        pbx.down, pbx.refuse = False, "agent <b>an</b> has no extension"
        await page.click("#place-call")
        refused = page.locator("#error", has_text="Tổng đài từ chối cuộc gọi")
        await refused.wait_for()
        assert "<b>an</b>" in await refused.locator(".provider-reason").inner_text()
        assert await page.locator("#error b").count() == 0
        assert len(pbx.calls) == 1
        await page.check("input[name=outcome][value=reached]")
        await page.click("#record-callback")
        await page.locator("#notice", has_text="Đã ghi kết quả gọi lại.").wait_for()
        await page.screenshot(path=str(artifact(f"ticket-call-{backend.name}.png")),
                              full_page=True)
        # without the CSRF token, no call is placed
        forged = await page.request.post(f"{base}/inbox/tickets/{number}/call", form={})
        assert forged.status == 403 and len(pbx.calls) == 1
        assert errors == []


def chat_message(channel: str, user: str, text: str,
                 ago: timedelta) -> tuple[bytes, dict[str, str]]:
    """A customer's text on Messenger (``message__text``) or Zalo (``user_send_text__plain``)
    from ``user``, sent ``ago`` before now, signed as the provider signs it."""
    name = "message__text" if channel == "facebook" else "user_send_text__plain"
    body = copy.deepcopy(json.loads((FIXTURES / channel / f"{name}.json").read_text("utf-8"))
                         ["body"])
    at = int((time.time() - ago.total_seconds()) * 1000)
    if channel == "facebook":
        item = body["entry"][0]["messaging"][0]
        item["sender"]["id"], item["timestamp"] = user, at
        item["message"]["mid"], item["message"]["text"] = f"m_{uuid.uuid4().hex}", text
        body["entry"][0]["time"] = at
        raw = json.dumps(body).encode()
    else:
        body["sender"]["id"], body["timestamp"] = user, str(at)
        body["message"]["msg_id"], body["message"]["text"] = uuid.uuid4().hex[:20], text
        raw = json.dumps(body, ensure_ascii=False).encode()
    return raw, signed(channel, raw)


async def test_past_the_reply_window_the_page_says_how_else_to_reach_the_customer(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser, messenger_api: Any, zalo_api: Any, provider_answers: dict[str, Any],
        wait_for: Wait) -> None:
    await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    settings = backend.settings(
        facebook_app_secret=SECRETS["facebook_app_secret"],
        facebook_page_token=provider_answers["messenger_token"],
        facebook_graph_url=f"{messenger_api.url}/v21.0",
        zalo_oa_secret=SECRETS["zalo_oa_secret"], zalo_app_id=SECRETS["zalo_app_id"],
        zalo_oa_access_token=provider_answers["zalo_token"], zalo_api_url=zalo_api.url)
    client = await aiohttp_client(create_app(settings))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "Nguyễn Văn An")

    async def arrives(channel: str, user: str, text: str, ago: timedelta) -> None:
        raw, headers = chat_message(channel, user, text, ago)
        assert (await client.post(f"/webhooks/{channel}", data=raw,
                                  headers=headers)).status == 200

    # Messenger, 25 hours after the customer's message: no reply box, the why and what else
    await arrives("facebook", PSID, "Shop ơi <b>báo giá</b> sơn lót giúp em", timedelta(hours=25))
    number = await open_row(page, base, "báo giá</b> sơn lót", wait_for)
    notice = page.locator("#window-closed")
    await notice.wait_for()
    assert await page.locator("#reply-text").count() == 0
    why = await page.locator("#window-why").inner_text()
    assert "Facebook Messenger chỉ cho phép trả lời trong vòng 24 giờ" in why
    assert await page.locator("#no-other-way").count() == 1  # a PSID only: no phone, no mail
    assert await page.locator("#note-text").count() == 1  # a note can still be kept
    # the contact's phone and e-mail become known: the notice offers them as links
    async with sessions() as session, session.begin():
        ticket = await session.get(Ticket, ticket_key(number))
        assert ticket is not None and ticket.contact_id is not None
        contact = await session.get(Contact, ticket.contact_id)
        assert contact is not None
        contact.phone, contact.email = "+84901234567", "mua-hang@sonviet.vn"
    await page.reload()
    assert await page.get_attribute("#other-ways a.other-phone", "href") == "tel:+84901234567"
    assert await page.get_attribute("#other-ways a.other-email", "href") == \
        "mailto:mua-hang@sonviet.vn"
    await page.screenshot(path=str(artifact(f"ticket-window-{backend.name}.png")),
                          full_page=True)
    # a reply posted anyway (a form left open since the window was open) is refused, sent never
    csrf = await page.get_attribute("#note-form input[name=csrf_token]", "value")
    late = await page.request.post(f"{base}/inbox/tickets/{number}/reply", form={
        "csrf_token": csrf or "", "text": "Dạ em gửi báo giá ạ", "last_message_id": "999999"})
    assert late.status == 409
    assert "Đã hết thời hạn trả lời của kênh" in await late.text()
    assert await page.locator("article.msg-outbound").count() == 0
    # the customer writes again: the reply box is back, and the reply goes out
    await arrives("facebook", PSID, "Em vẫn cần báo giá sơn lót ạ", timedelta(0))

    async def reopened() -> bool:
        await page.reload()
        return await page.locator("#reply-text").count() == 1

    await wait_for(reopened, attempts=120, interval=0.5)
    assert await page.locator("#window-closed").count() == 0
    await page.fill("#reply-text", "Dạ em gửi báo giá sơn lót ạ.")
    await page.click("#send-reply")
    await page.locator("article.msg-outbound").wait_for()

    async def delivered() -> list[str] | None:
        texts: list[str] = messenger_api.texts(PSID)
        return texts or None

    assert await wait_for(delivered, attempts=600) == ["Dạ em gửi báo giá sơn lót ạ."]

    # Zalo OA: 8 days after the user's message the window (7 days) is over; 6 days: open
    await arrives("zalo", "8438561224567800001", "Hoa don GTGT xuat sai ma so thue",
                  timedelta(days=8))
    await open_row(page, base, "xuat sai ma so thue", wait_for)
    await page.locator("#window-closed").wait_for()
    assert "Zalo OA chỉ cho phép trả lời trong vòng 7 ngày" in \
        await page.locator("#window-why").inner_text()
    await arrives("zalo", "8438561224567800002", "Cho em hoi lich bao tri may", timedelta(days=6))
    await open_row(page, base, "lich bao tri may", wait_for)
    await page.locator("#reply-text").wait_for()
    assert await page.locator("#window-closed").count() == 0
    assert errors == []


REGISTER = ("serial,model,account,delivered_on,warranty_months,maintenance_months\n"
            "MX200-2024-0012,Máy lọc nước MX200,,2025-06-10,24,6\n"
            "MX200-2023-0099,Máy lọc nước <i>MX200</i>,,2023-01-15,12,\n")
ARTICLES = [
    ("warranty_policy", "chinh-sach-bao-hanh.md",
     "# Chính sách bảo hành <b>2026</b>\n\nMáy lọc nước được **bảo hành 24 tháng** kể từ ngày "
     "giao.\n\n- Giữ phiếu bảo hành\n- Gọi [tổng đài](https://cskh.example.vn/lien-he)\n\n"
     '<img src=x onerror="window.pwned=3"> rò rỉ nước: ngắt điện trước.\n'),
    ("warranty_policy", "doi-tra.md", "# Đổi trả sản phẩm lỗi\n\nTrong 7 ngày đầu.\n"),
    ("usage", "lap-dat.md", "# Lắp đặt máy lọc nước\n\nBước 1.\n"),
]


async def test_the_register_and_the_knowledge_base_beside_a_warranty_ticket(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser, wait_for: Wait) -> None:
    await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    async with sessions() as session, session.begin():
        report = await import_register(session, REGISTER)
        assert report.errors == [] and report.created == 2
        await import_articles(session, [(c, n, b.encode()) for c, n, b in ARTICLES],
                              datetime.now(UTC))
    client = await aiohttp_client(create_app(backend.settings()))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "Nguyễn Văn An")
    resp = await client.post("/webhooks/webform", json={
        "name": "Lê Hùng", "email": "hung@thepviet.vn", "subject": "Máy lọc nước rò rỉ",
        "category": "warranty",
        "message": "Máy serial MX200-2024-0012 và mx200-2023-0099 bị rò rỉ nước, còn bảo "
                   "hành ko ạ?"})
    assert resp.status == 202, await resp.text()
    await open_row(page, base, "bị rò rỉ nước", wait_for)

    # the register items the text names, by serial, in or out of warranty today; no links
    items = page.locator("#register-items li.register-item")
    assert await items.count() == 2
    kept = items.and_(page.locator("[data-serial='MX200-2024-0012']"))
    assert await kept.locator("[data-warranty=in]").inner_text() == \
        "Hôm nay còn bảo hành, đến hết 10/06/2027"
    ended = items.and_(page.locator("[data-serial='MX200-2023-0099']"))
    assert await ended.locator("[data-warranty=out]").inner_text() == \
        "Hôm nay đã hết bảo hành (hết hạn 15/01/2024)"
    assert await ended.locator(".model").inner_text() == "Máy lọc nước <i>MX200</i>"
    assert await page.locator("#register a, #register i").count() == 0

    # the warranty policy articles (not the usage one), titles as text
    suggestions = page.locator("#kb-suggestions li.kb-article")
    assert sorted([await s.get_attribute("data-slug") or "" for s in await suggestions.all()]) \
        == ["chinh-sach-bao-hanh", "doi-tra"]
    policy = suggestions.and_(page.locator("[data-slug=chinh-sach-bao-hanh]"))
    assert await policy.locator(".kb-title").inner_text() == "Chính sách bảo hành <b>2026</b>"
    assert await page.locator("#kb-suggestions b").count() == 0
    # insert its address (absolute, from the host the page was asked at), then its text
    await page.fill("#reply-text", "Dạ anh xem chính sách tại:")
    await policy.locator("button.insert-kb-link").click()
    await policy.locator("button.insert-kb-text").click()
    draft = await page.input_value("#reply-text")
    assert draft.startswith(f"Dạ anh xem chính sách tại: {base}/kb/chinh-sach-bao-hanh\n")
    assert "Máy lọc nước được bảo hành 24 tháng kể từ ngày giao." in draft
    assert "- Giữ phiếu bảo hành\n- Gọi tổng đài (https://cskh.example.vn/lien-he)" in draft
    assert '<img src=x onerror="window.pwned=3"> rò rỉ nước' in draft  # text, never markup
    assert "**" not in draft and "Chính sách bảo hành" in draft
    assert await page.evaluate("window.pwned === undefined")
    await page.screenshot(path=str(artifact(f"ticket-kb-{backend.name}.png")), full_page=True)
    await page.click("#send-reply")
    sent = page.locator("article.msg-outbound", has_text=f"{base}/kb/chinh-sach-bao-hanh")
    await sent.wait_for()
    assert await page.locator("article.msg-outbound img").count() == 0
    # the inserted address is the public page of the article
    public = await (await browser.new_context()).new_page()
    shown = await public.goto(f"{base}/kb/chinh-sach-bao-hanh")
    assert shown is not None and shown.status == 200
    assert errors == []


async def test_a_refused_action_says_why_in_vietnamese(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser, wait_for: Wait) -> None:
    for name in ("Nguyễn Văn An", "Trần Bình"):
        await add_officer(sessions, name, ["warehouse"])
    await add_officer(sessions, "Lê Lan", ["warehouse"], role="lead")
    async with sessions() as session, session.begin():
        for name in ("Nguyễn Văn An", "Trần Bình", "Lê Lan"):
            await set_status(session, name, "off")  # the ticket waits unassigned in the queue
    client = await aiohttp_client(create_app(backend.settings()))
    base = str(client.make_url("")).rstrip("/")
    pages = {}
    for name in ("Nguyễn Văn An", "Trần Bình", "Lê Lan"):
        pages[name] = await (await browser.new_context()).new_page()
        await sign_in_page(pages[name], base, name)
    an, binh, lan = pages["Nguyễn Văn An"], pages["Trần Bình"], pages["Lê Lan"]
    errors = [page_errors(p) for p in (an, binh, lan)]
    resp = await client.post("/webhooks/webform", json={
        "name": "Phạm Thu", "email": "thu@kimkhi.vn", "subject": "Thiếu hàng",
        "category": "quantity", "message": "Đơn 1532 giao thiếu 3 cuộn thép"})
    assert resp.status == 202, await resp.text()
    number = await open_row(an, base, "giao thiếu 3 cuộn", wait_for, tab="unassigned")
    await lan.goto(f"{base}/inbox/tickets/{number}")

    async def said(page: Page, selector: str) -> str:
        box = page.locator(selector)
        await box.wait_for()
        text = await box.inner_text()
        assert text and "{" not in text and "_" not in text  # no JSON, no API code
        return text

    # Bình claims first; An's claim button is stale: the ticket left An's view (an agent
    # sees only their own and the unassigned ones), the page says so and keeps the ticket
    await binh.goto(f"{base}/inbox/tickets/{number}")
    await binh.click("#claim")
    await binh.locator("#t-assignee", has_text="Trần Bình").wait_for()
    await an.click("#claim")
    assert (await said(an, "#page-error")).startswith("Bạn không còn xem được phiếu này")
    assert await an.locator("#ticket #t-status").count() == 1
    # a lead still sees it: their claim is refused as taken, in words
    await lan.click("#claim")
    assert await said(lan, "#error") == "Một đồng nghiệp vừa nhận phiếu này."

    # a reply refused: the lead resolved the ticket while Bình was typing
    await binh.fill("#reply-text", "Dạ em đã báo kho giao bù 3 cuộn ạ")
    await lan.reload()
    await lan.click("#resolve")
    await lan.locator("#t-status.status-resolved").wait_for()
    await binh.click("#send-reply")
    assert (await said(binh, "#error")).startswith("Phiếu này đã đóng")
    assert await binh.locator("#reopen").count() == 1
    # a stale form: Bình signed out and in again in another tab (a new session, a new CSRF
    # token); the old page's form is refused and the page says to reload it
    other = await binh.context.new_page()
    await other.goto(f"{base}/inbox")
    await other.click("#logout")
    await sign_in_page(other, base, "Trần Bình")
    await binh.fill("#note-text", "Kho xác nhận")
    await binh.click("#save-note")
    assert (await said(binh, "#page-error")).startswith("Biểu mẫu đã hết hạn")
    assert await binh.locator("#ticket #note-form").count() == 1
    # reloaded, it works again, and the old message goes
    await binh.reload()
    await binh.fill("#note-text", "Kho xác nhận")
    await binh.click("#save-note")
    await binh.locator("#notice", has_text="Đã lưu ghi chú").wait_for()
    assert await binh.locator("#page-error").is_hidden()
    await binh.screenshot(path=str(artifact(f"ticket-refused-{backend.name}.png")),
                          full_page=True)
    assert errors == [[], [], []]


async def test_two_forms_of_one_matter_are_merged_from_the_page(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser, wait_for: Wait) -> None:
    # a web form cannot prove it continues a ticket: the same customer's second form is a new
    # ticket, and the officer who sees it is the same matter merges it from the page
    await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    client = await aiohttp_client(create_app(backend.settings()))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "Nguyễn Văn An")
    for text in ("Đơn 2210 giao thiếu 4 cuộn thép", "Bổ sung đơn 2210: thiếu cả 2 thùng sơn"):
        resp = await client.post("/webhooks/webform", json={
            "name": "Phạm Thu", "email": "thu@kimkhi.vn", "subject": "Thiếu hàng",
            "category": "quantity", "message": text})
        assert resp.status == 202, await resp.text()
    first = await open_row(page, base, "giao thiếu 4 cuộn", wait_for)
    second = await open_row(page, base, "thiếu cả 2 thùng", wait_for)
    assert first != second
    await page.fill("#merge-into", first)
    await page.click("#merge")
    await page.wait_for_url(f"{base}/inbox/tickets/{first}")  # on to the one that goes on
    thread = page.locator("section.thread")
    await thread.get_by_text("thiếu cả 2 thùng sơn").wait_for()
    assert await thread.get_by_text(f"Đã gộp {second} vào phiếu này").count() == 1
    await page.goto(f"{base}/inbox/tickets/{second}")
    assert await page.get_attribute("#t-status", "data-code") == "closed"
    assert await page.locator("#merge-form").count() == 0  # closed: nothing to merge
    # into a ticket that does not exist: the reason in Vietnamese, the ticket kept
    await page.goto(f"{base}/inbox/tickets/{first}")
    await page.fill("#merge-into", "CSKH-999999")
    await page.click("#merge")
    assert "{" not in (await page.locator("#page-error").inner_text())
    assert await page.get_attribute("#t-status", "data-code") != "closed"
    assert errors == []


async def test_a_survey_the_channel_cannot_carry_is_handed_over_from_the_page(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    from storage.models import Message, Survey
    an = await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        ticket = Ticket(channel="webform", thread_key=f"webform:{uuid.uuid4().hex}",
                        status="resolved", queue="cskh", category="delivery",
                        priority="normal", assignee_id=an, subject="Giao chậm",
                        created_at=now - timedelta(hours=3), resolved_at=now)
        session.add(ticket)
        await session.flush()
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel="webform",
                            external_id=uuid.uuid4().hex, text="Đơn 77 giao chậm 2 ngày",
                            sent_at=now - timedelta(hours=3), received_at=now))
        session.add(Survey(ticket_id=ticket.id, channel="webform", officer_id=an,
                           status="manual", reason="no_sender"))
        await session.flush()
        number = ticket.number
    client = await aiohttp_client(create_app(backend.settings()))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "Nguyễn Văn An")
    await page.goto(f"{base}/inbox/tickets/{number}")
    assert "không gửi được khảo sát" in (await page.text_content("#survey-by-hand") or "")
    await page.click("#make-survey-link")
    await page.locator("#survey-link").wait_for()
    link = await page.text_content("#survey-link") or ""
    assert link.startswith("http://127.0.0.1:8080/s/")  # under CSKH_PUBLIC_URL
    token = link.rsplit("/", 1)[1]
    survey_page = await client.get(f"/s/{token}")
    assert survey_page.status == 200 and "hài lòng" in await survey_page.text()
    async with sessions() as session:
        survey = await session.scalar(select(Survey))
        assert survey is not None and (survey.status, survey.reason) == ("sent", "by_hand")
        assert survey.token_hash is not None and token not in survey.token_hash  # hash only
    # the link is shown once; a new one replaces it and the old one stops working
    await page.goto(f"{base}/inbox/tickets/{number}")
    assert await page.locator("#survey-link").count() == 0
    assert "chưa trả lời" in (await page.text_content("#survey-by-hand") or "")
    await page.click("#make-survey-link")
    await page.locator("#survey-link").wait_for()
    again = (await page.text_content("#survey-link") or "").rsplit("/", 1)[1]
    assert again != token
    assert (await client.get(f"/s/{token}")).status == 404
    assert (await client.get(f"/s/{again}")).status == 200
    assert errors == []
