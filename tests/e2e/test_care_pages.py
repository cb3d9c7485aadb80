"""``/customers``, ``/care`` and ``/warranty`` in real Chromium on both backend pairs.

The desk's clock stands at Tue 2 March 2027, 10:00 in Vietnam. The directory: "Công ty TNHH
Thương mại Hòa Bình" (key account, owned by An, founded 15 March 2010, opened 1 June 2015; its
contact Trần Minh Đức, duc@hoabinh.vn, +84 901 234 567), an account whose name is markup, and
205 small dealers "Đại lý số 001" … "205": 207 accounts, so the directory has two pages of 200.

Hòa Bình has two tickets: a warranty claim on Zalo naming serial SN-HB-0001 (technical queue,
which An serves) and an invoice question (accounting, which An does not). The register:
SN-HB-0001 "Máy lọc X1" delivered 10 Jan 2026, 24 months (in warranty), maintenance every 6
months, the visit due 10 July 2026 done the 9th; SN-HB-0002 "Máy lọc X2" delivered 5 Jan 2024,
12 months (out of warranty). The 2027 care plan is built from the directory (every account
active: over 2,000 entries, so pages of 200), its budget 150.000.000 đ, and Hòa Bình's Tết gift
recorded as done for 2.800.000 đ.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from playwright.async_api import Browser, Page
from sqlalchemy import select

from desk.care.plan import build_plan, set_budget
from desk.care.policy import CarePolicy
from ingest.web.app import create_app
from normalizer.identity import name_key
from storage.db import SessionFactory
from storage.models import Contact, Customer, Ticket, ticket_number
from storage.models_care import CareEntry, MaintenanceVisit, WarrantyItem
from tests.support.browser import artifact
from tests.support.pages import Client, add_officer, page_errors, sign_in_page

AiohttpClient = Callable[..., Awaitable[Client]]
ICT = timezone(timedelta(hours=7))
NOW = datetime(2027, 3, 2, 10, 0, tzinfo=ICT)
QUEUES = ["cskh", "sales", "accounting", "warehouse", "technical"]
HOA_BINH = "Công ty TNHH Thương mại Hòa Bình"
HOSTILE = '<script>window.pwned = 1</script><img src=x id="pwned"> Cty Độc & Hại'
DEALERS = 205


async def _seed(sessions: SessionFactory) -> dict[str, Any]:
    """The fixture above; the account's public id and the tickets' numbers."""
    await add_officer(sessions, "Lê Thị Lan", QUEUES, role="lead")
    an = await add_officer(sessions, "Nguyễn Văn An", ["cskh", "technical"])
    async with sessions() as s, s.begin():
        hoa_binh = Customer(name=HOA_BINH, name_key=name_key(HOA_BINH), tax_code="0301234567",
                            tier="key", segment="xây dựng", owner_id=an,
                            founded_on=date(2010, 3, 15), opened_on=date(2015, 6, 1))
        hostile = Customer(name=HOSTILE, name_key=name_key(HOSTILE), tier="standard")
        s.add_all([hoa_binh, hostile, *[
            Customer(name=f"Đại lý số {n:03d}", name_key=name_key(f"Đại lý số {n:03d}"),
                     tier="small") for n in range(1, DEALERS + 1)]])
        await s.flush()
        s.add(Contact(customer_id=hoa_binh.id, name="Trần Minh Đức", email="duc@hoabinh.vn",
                      phone="+84901234567"))
        claim = Ticket(channel="zalo", thread_key=uuid.uuid4().hex, category="warranty",
                       queue="technical", priority="normal", status="open",
                       customer_id=hoa_binh.id, subject="Máy lọc hỏng, số máy SN-HB-0001",
                       created_at=datetime(2027, 2, 20, 9, 15, tzinfo=ICT))
        invoice = Ticket(channel="email", thread_key=uuid.uuid4().hex, category="invoice",
                         queue="accounting", priority="normal", status="open",
                         customer_id=hoa_binh.id, subject="Xuất lại hóa đơn tháng 2",
                         created_at=datetime(2027, 2, 25, 14, 0, tzinfo=ICT))
        x1 = WarrantyItem(customer_id=hoa_binh.id, model="Máy lọc X1", model_key="may loc x1",
                          serial="SN-HB-0001", delivered_on=date(2026, 1, 10),
                          warranty_months=24, maintenance_months=6)
        x2 = WarrantyItem(customer_id=hoa_binh.id, model="Máy lọc X2", model_key="may loc x2",
                          serial="SN-HB-0002", delivered_on=date(2024, 1, 5),
                          warranty_months=12)
        s.add_all([claim, invoice, x1, x2])
        await s.flush()
        s.add(MaintenanceVisit(item_id=x1.id, due_on=date(2026, 7, 10),
                               done_on=date(2026, 7, 9), outcome="Thay lõi lọc <b>số 1</b>"))
        await build_plan(s, 2027, CarePolicy(), NOW)
        await set_budget(s, 2027, total="150.000.000")
        tet = await s.scalar(select(CareEntry).where(CareEntry.customer_id == hoa_binh.id,
                                                     CareEntry.occasion == "tet"))
        assert tet is not None
        tet.status, tet.spent, tet.gift_sent = "done", 2_800_000, True
        tet.outcome_at = NOW
        entries = len(list(await s.scalars(select(CareEntry.id))))
    return {"account": str(hoa_binh.public_id), "claim": ticket_number(claim.id),
            "invoice": ticket_number(invoice.id), "entries": entries}


async def texts(page: Page, selector: str) -> list[str]:
    return [t.strip() for t in await page.locator(selector).all_text_contents()]


async def names(page: Page) -> list[str]:
    return await texts(page, "#customers tbody td[data-column='name']")


async def search(page: Page, base: str, words: str) -> list[str]:
    await page.goto(f"{base}/customers")
    await page.fill("#c-q", words)
    await page.click("#c-show")
    await page.wait_for_url("**q=**")
    return await names(page)


async def test_the_directory_an_account_the_plan_and_the_register(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    seeded = await _seed(sessions)
    client = await aiohttp_client(create_app(backend.settings(), clock=lambda: NOW))
    base = str(client.make_url("")).rstrip("/")
    for path in ("/customers", f"/customers/{seeded['account']}", "/care?year=2027",
                 "/warranty", "/warranty/SN-HB-0001"):
        anonymous = await client.get(path, allow_redirects=False)
        assert anonymous.status == 303, path
        assert anonymous.headers["Location"].startswith("/login?next="), path

    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "Lê Thị Lan")

    # the directory: 207 accounts by name, 200 a page; markup in a name is text
    await page.click("#nav-customers")
    await page.wait_for_url(f"{base}/customers")
    assert await page.text_content("h1") == "Khách hàng"
    assert await page.text_content("#customer-count") == "207 khách hàng"
    first = await names(page)
    assert len(first) == 200
    assert first[:3] == [HOSTILE, HOA_BINH, "Đại lý số 001"]
    assert await page.locator("#pwned").count() == 0
    assert await page.evaluate("() => window.pwned === undefined")
    assert await page.locator("#prev-page").count() == 0
    await page.click("#next-page")
    await page.wait_for_url("**page=2**")
    assert await names(page) == [f"Đại lý số {n:03d}" for n in range(199, DEALERS + 1)]
    assert await page.locator("#next-page").count() == 0
    await page.click("#prev-page")
    await page.wait_for_url("**page=1**")
    assert await names(page) == first
    await page.goto(f"{base}/customers?page=99")  # past the end: the last page
    assert await page.text_content("#page-of") == "Trang 2/2"
    assert len(await names(page)) == DEALERS - 198
    await page.screenshot(path=str(artifact(f"customers-{backend.name}.png")), full_page=True)

    # search: without diacritics, with them, by tax code, phone (as Vietnamese type it), e-mail
    for words in ("hoa binh", "Hòa Bình", "THƯƠNG MẠI hoa", "0301234567", "0901234567",
                  "duc@hoabinh", "tran minh duc"):
        assert await search(page, base, words) == [HOA_BINH], words
    assert await search(page, base, "dai ly 20") == [  # each word anywhere in the name
        f"Đại lý số {n:03d}" for n in [20, 120, *range(200, DEALERS + 1)]]
    assert await search(page, base, "không có ai") == []
    assert await page.locator("#no-customers").count() == 1
    # filters: the owner, the tier
    await page.goto(f"{base}/customers")
    await page.select_option("#c-owner", label="Nguyễn Văn An")
    await page.click("#c-show")
    await page.wait_for_url("**owner=**")
    assert await names(page) == [HOA_BINH]
    await page.select_option("#c-owner", "none")
    await page.select_option("#c-tier", "standard")
    await page.click("#c-show")
    await page.wait_for_url("**tier=standard**")
    assert await names(page) == [HOSTILE]
    bad = await page.goto(f"{base}/customers?tier=gold")
    assert bad is not None and bad.status == 400
    assert await page.locator("#filter-error").count() == 1

    # one account: facts, contacts, tickets linking to their pages, products, this year's care
    await search(page, base, "hoa binh")
    await page.click("#customers a.customer-link")
    await page.wait_for_url(f"{base}/customers/{seeded['account']}")
    assert await page.text_content("#account-name") == HOA_BINH
    assert await page.text_content("#a-tax-code") == "0301234567"
    assert await page.text_content("#a-tier") == "Khách hàng trọng điểm"
    assert await page.text_content("#a-owner") == "Nguyễn Văn An"
    assert await page.text_content("#a-founded") == "15/03/2010"
    assert await page.text_content("#a-opened") == "01/06/2015"
    assert await texts(page, "#contacts td[data-column='email']") == ["duc@hoabinh.vn"]
    assert await texts(page, "#account-tickets td[data-column='number']") == [
        seeded["invoice"], seeded["claim"]]
    assert await texts(page, "#account-tickets td[data-column='created_at']") == [
        "14:00 25/02/2027", "09:15 20/02/2027"]
    assert await texts(page, "#account-items td[data-column='in_warranty']") == [
        "còn bảo hành", "hết bảo hành"]
    care = page.locator("#account-care tbody tr", has_text="Tết Nguyên Đán")
    assert await care.locator("td[data-column='date']").text_content() == "06/02/2027"
    assert await care.locator("td[data-column='planned_value']").text_content() == \
        "3.000.000 ₫"
    assert await care.locator("td[data-column='status']").text_content() == "Đã thực hiện"
    founded = page.locator("#account-care tbody tr", has_text="thành lập")
    assert await founded.locator("td[data-column='date']").text_content() == "15/03/2027"
    await page.screenshot(path=str(artifact(f"customer-{backend.name}.png")), full_page=True)
    await page.click(f"#account-tickets a:text('{seeded['claim']}')")
    await page.wait_for_url(f"{base}/inbox/tickets/{seeded['claim']}")
    await page.go_back()

    # the care plan of this year: state, budget against spent, entries 200 a page
    await page.click("#nav-care")
    await page.wait_for_url(f"{base}/care")
    assert await page.input_value("#care-year") == "2027"
    assert "Bản nháp" in (await page.text_content("#plan-state") or "")
    year = page.locator("#care-budget tr[data-scope='year']")
    assert await year.locator("td[data-column='budget']").text_content() == "150.000.000 ₫"
    assert await year.locator("td[data-column='spent']").text_content() == "2.800.000 ₫"
    assert await year.locator("td[data-column='remaining']").text_content() == \
        "147.200.000 ₫"
    assert await year.locator("td[data-column='entries']").text_content() == \
        str(seeded["entries"])
    assert await year.locator("td[data-column='done']").text_content() == "1"
    key = page.locator("#care-budget tr[data-scope='tier'][data-key='key']")
    assert await key.locator("td[data-column='spent']").text_content() == "2.800.000 ₫"
    assert await page.text_content("#entry-count") == f"{seeded['entries']} mục"
    rows = page.locator("#care-entries tbody tr")
    assert await rows.count() == 200
    assert set(await texts(page, "#care-entries td[data-column='occasion']")) == {
        "Tết Dương lịch"}  # 1 January for all 207 accounts comes first
    assert (await texts(page, "#care-entries td[data-column='account']"))[:2] == [
        HOSTILE, HOA_BINH]
    assert await page.locator("#pwned").count() == 0
    pages = -(-seeded["entries"] // 200)
    assert await page.text_content("#page-of") == f"Trang 1/{pages}"
    await page.click("#next-page")
    await page.wait_for_url("**page=2**")
    second = await texts(page, "#care-entries td[data-column='account']")
    assert len(second) == 200 and second[:1] == ["Đại lý số 199"]
    await page.goto(f"{base}/care?year=2027&page={pages}")
    assert await rows.count() == seeded["entries"] - 200 * (pages - 1)
    await page.screenshot(path=str(artifact(f"care-{backend.name}.png")), full_page=True)
    await page.goto(f"{base}/care?year=2031")
    assert "2031" in (await page.text_content("#no-plan") or "")
    bad = await page.goto(f"{base}/care?year=abc")
    assert bad is not None and bad.status == 400
    assert "2000" in (await page.text_content("#care-error") or "")

    # the register: search by serial (as spaced), model, account; warranty on today's date
    await page.click("#nav-warranty")
    await page.wait_for_url(f"{base}/warranty")
    serials = "#items td[data-column='serial']"
    assert await texts(page, serials) == ["SN-HB-0001", "SN-HB-0002"]
    assert await texts(page, "#items td[data-column='in_warranty']") == [
        "còn bảo hành", "hết bảo hành"]
    assert "02/03/2027" in (await page.text_content("#item-count") or "")
    for words, expected in (("sn hb 0001", ["SN-HB-0001"]), ("may loc x2", ["SN-HB-0002"]),
                            ("Máy lọc", ["SN-HB-0001", "SN-HB-0002"]),
                            ("hoa binh", ["SN-HB-0001", "SN-HB-0002"]),
                            ("SN-ZZ", [])):
        await page.fill("#w-q", words)
        await page.click("#w-show")
        await page.wait_for_url("**q=**")
        assert await texts(page, serials) == expected, words
    await page.goto(f"{base}/warranty")
    await page.click("#items a.item-link >> nth=0")
    await page.wait_for_url(f"{base}/warranty/SN-HB-0001")
    assert await page.text_content("#item-title") == "Máy lọc X1 · SN-HB-0001"
    assert "còn bảo hành" in (await page.text_content("#i-in-warranty") or "")
    assert await page.text_content("#i-ends") == "10/01/2028 (24 tháng)"
    assert await texts(page, "#item-claims td[data-column='number']") == [seeded["claim"]]
    assert await texts(page, "#item-visits td[data-column='done_on']") == ["09/07/2026"]
    assert await texts(page, "#item-visits td[data-column='outcome']") == [
        "Thay lõi lọc <b>số 1</b>"]
    await page.screenshot(path=str(artifact(f"warranty-{backend.name}.png")), full_page=True)
    await page.click("#i-customer a")
    await page.wait_for_url(f"{base}/customers/{seeded['account']}")

    # unknown: the 404 page
    for path in (f"/customers/{uuid.uuid4()}", "/customers/not-an-id", "/warranty/NOPE-123"):
        missing = await page.goto(f"{base}{path}")
        assert missing is not None and missing.status == 404, path
        assert await page.text_content("#not-found") == "Không tìm thấy", path
    assert errors == []

    # an agent sees the account's tickets they may see only (the technical claim)
    agent = await browser.new_page()
    await sign_in_page(agent, base, "Nguyễn Văn An")
    await agent.goto(f"{base}/customers/{seeded['account']}")
    assert await texts(agent, "#account-tickets td[data-column='number']") == [
        seeded["claim"]]
    assert "Xuất lại hóa đơn" not in await agent.content()


async def test_a_lead_allocates_one_account_and_a_filtered_list(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    seeded = await _seed(sessions)
    await add_officer(sessions, "Phạm Thu Hà", QUEUES)
    client = await aiohttp_client(create_app(backend.settings(), clock=lambda: NOW))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page()
    errors = page_errors(page)
    await sign_in_page(page, base, "Lê Thị Lan")

    # one account, from its page
    await page.goto(f"{base}/customers/{seeded['account']}")
    await page.select_option("#owner-select", label="Phạm Thu Hà")
    await page.click("#owner-save")
    await page.wait_for_url(f"**/customers/{seeded['account']}?allocated=1")
    assert await page.text_content("#a-owner") == "Phạm Thu Hà"

    # every account the list shows: the dealers nobody owns, found without diacritics
    await page.goto(f"{base}/customers?q=dai+ly&owner=none")
    assert "205" in (await page.text_content("#customer-count") or "")
    await page.select_option("#allocate-owner", label="Nguyễn Văn An")
    await page.click("#allocate")
    await page.wait_for_url("**allocated=205**")
    assert "Đã giao 205 khách hàng" in (await page.text_content("#allocated") or "")
    async with sessions() as s:
        owners = {c.name: c.owner_id for c in await s.scalars(select(Customer))}
    an = await _staff_id(sessions, "Nguyễn Văn An")
    assert all(owners[f"Đại lý số {n:03d}"] == an for n in range(1, DEALERS + 1))
    assert owners[HOSTILE] is None  # not in the list: untouched
    assert owners[HOA_BINH] == await _staff_id(sessions, "Phạm Thu Hà")
    assert errors == []

    # an agent sees no such form, and a post of theirs is refused
    agent = await browser.new_page()
    await sign_in_page(agent, base, "Phạm Thu Hà")
    await agent.goto(f"{base}/customers/{seeded['account']}")
    assert await agent.locator("#owner-form").count() == 0
    await agent.goto(f"{base}/customers")
    assert await agent.locator("#allocate-form").count() == 0
    refused = await agent.request.post(f"{base}/customers/owner", form={
        "owner": str(an), "account": seeded["account"]})
    assert refused.status == 403


async def _staff_id(sessions: SessionFactory, name: str) -> int:
    from storage.models import Staff
    async with sessions() as s:
        found = await s.scalar(select(Staff.id).where(Staff.name == name))
    assert found is not None
    return found
