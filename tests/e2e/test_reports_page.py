"""``/reports`` in real Chromium on both backend pairs: a lead picks the period and the split
and downloads what the page shows; an agent sees only their own figures.

November 2026, four tickets with a survey each (times are Vietnamese, UTC+7):

| ticket | officer | survey sent | answer |
|---|---|---|---|
| 1 | An | Tue 3 Nov | 5 |
| 2 | An | Tue 10 Nov | 2 |
| 3 | Hoa | Thu 12 Nov | 4 |
| 4 | Hoa | Fri 20 Nov | none |

So the month: 4 sent, 3 answered (75 %), CSAT 2 of 3 = 66.7 %, mean 3.67. An: 2 sent, 2
answered, CSAT 50 %, mean 3.5; Hoa: 2 sent, 1 answered, CSAT 100 %. Ticket 1 was opened Mon
2 Nov 08:00 and answered 08:30 (due 10:00): one first response, 30 business minutes, within.

Besides: ticket 2's answer (2, a low rating) comes with a hostile comment; a fifth ticket, an
open Zalo warranty claim opened Mon 16 Nov, names serial SN-ABC-001 (model "Máy lọc X1",
delivered 1 Jan 2026 with 24 months' warranty), whose maintenance visit due 10 Nov was done 9
Nov. So the month by channel: email 4 opened, 4 resolved, backlog 0; zalo 1 opened, 0
resolved, backlog 1. Warranty: X1 1 claim, 100 % in warranty, 1 visit due, on time.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import openpyxl
from playwright.async_api import Browser, Page

from ingest.web.app import create_app
from storage.db import SessionFactory
from storage.models import Survey, Ticket
from storage.models_care import MaintenanceVisit, WarrantyItem
from tests.support.browser import artifact
from tests.support.pages import Client, add_officer, page_errors, sign_in_page

AiohttpClient = Callable[..., Awaitable[Client]]
ICT = timezone(timedelta(hours=7))
QUEUES = ["cskh", "sales", "accounting", "warehouse", "technical"]


def at(day: int, hm: str = "09:00") -> datetime:
    return datetime.fromisoformat(f"2026-11-{day:02d}T{hm}:00").replace(tzinfo=ICT)


HOSTILE = '<img src=x id="pwned"> Giao hàng chậm & sai hóa đơn'


async def _seed(sessions: SessionFactory) -> list[int]:
    """The fixture above; the tickets' ids in order."""
    ids: list[int] = []
    await add_officer(sessions, "Lê Thị Lan", QUEUES, role="lead")
    an = await add_officer(sessions, "Nguyễn Văn An", QUEUES)
    hoa = await add_officer(sessions, "Trần Thị Hoa", QUEUES)
    async with sessions() as s, s.begin():
        for n, (officer, sent, rating) in enumerate(
                [(an, 3, 5), (an, 10, 2), (hoa, 12, 4), (hoa, 20, None)]):
            created = at(2, "08:00") if n == 0 else at(sent, "07:30")
            ticket = Ticket(channel="email", thread_key=uuid.uuid4().hex, category="invoice",
                            queue="accounting", priority="normal", assignee_id=officer,
                            status="resolved", created_at=created, resolved_at=at(sent, "08:00"),
                            first_responded_at=at(2, "08:30") if n == 0 else None,
                            first_response_due=at(2, "10:00") if n == 0 else None)
            s.add(ticket)
            await s.flush()
            ids.append(ticket.id)
            s.add(Survey(ticket_id=ticket.id, channel="email", officer_id=officer,
                         status="sent", sent_at=at(sent),
                         answered_at=at(sent, "10:00") if rating else None, rating=rating,
                         comment=HOSTILE if rating == 2 else None,
                         answer_count=1 if rating else 0))
        claim = Ticket(channel="zalo", thread_key=uuid.uuid4().hex, category="warranty",
                       queue="technical", priority="normal", status="open",
                       subject="Máy lọc hỏng, số máy SN-ABC-001", created_at=at(16))
        s.add(claim)
        item = WarrantyItem(model="Máy lọc X1", model_key="may loc x1", serial="SN-ABC-001",
                            delivered_on=date(2026, 1, 1), warranty_months=24)
        s.add(item)
        await s.flush()
        ids.append(claim.id)
        s.add(MaintenanceVisit(item_id=item.id, due_on=date(2026, 11, 10),
                               done_on=date(2026, 11, 9)))
    return ids


async def cells(page: Page, column: str) -> list[str]:
    return [t.strip() for t in await page.locator(
        f"#report-table tbody td[data-column='{column}']").all_text_contents()]


async def test_a_lead_picks_splits_and_downloads_an_agent_sees_their_own(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    await _seed(sessions)
    client = await aiohttp_client(create_app(backend.settings()))
    base = str(client.make_url("")).rstrip("/")
    anonymous = await client.get("/reports", allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/login")

    context = await browser.new_context(accept_downloads=True,
                                        viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    errors = page_errors(page)
    await sign_in_page(page, base, "Lê Thị Lan")
    await page.click("#nav-reports")  # the link in the top bar
    await page.wait_for_url(f"{base}/reports")
    assert await page.text_content("h1") == "Báo cáo"

    await page.select_option("#p-report", "satisfaction")
    await page.select_option("#p-period", "month")
    await page.fill("#p-from", "2026-11-01")
    await page.fill("#p-to", "2026-11-30")
    await page.click("#p-show")
    await page.wait_for_url("**from=2026-11-01**")
    assert "Mức độ hài lòng" in (await page.text_content("#report-title") or "")
    assert await cells(page, "period") == ["2026-11"]
    assert await cells(page, "sent") == ["4"]
    assert await cells(page, "answered") == ["3"]
    assert await cells(page, "response_rate_pct") == ["75.0"]
    assert await cells(page, "csat_pct") == ["66.7"]
    assert await cells(page, "mean") == ["3.67"]
    assert [await cells(page, f"rated_{n}") for n in range(1, 6)] == [
        ["0"], ["1"], ["0"], ["1"], ["1"]]
    assert await page.locator("#chart rect").count() == 1
    assert await page.get_attribute("#chart rect", "height") == "66.7"

    await page.select_option("#p-by", "officer")
    await page.click("#p-show")
    await page.wait_for_url("**by=officer**")
    assert await cells(page, "officer") == ["Nguyễn Văn An", "Trần Thị Hoa"]
    assert await cells(page, "csat_pct") == ["50.0", "100.0"]
    assert await cells(page, "mean") == ["3.5", "4.0"]
    await page.screenshot(path=str(artifact(f"reports-{backend.name}.png")), full_page=True)

    async with page.expect_download() as csv_download:
        await page.click("#download-csv")
    data = (await (await csv_download.value).path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(r["officer"], r["sent"], r["csat_pct"]) for r in rows] == [
        ("Nguyễn Văn An", "2", "50.0"), ("Trần Thị Hoa", "2", "100.0")]
    async with page.expect_download() as xlsx_download:
        await page.click("#download-xlsx")
    xlsx = await xlsx_download.value
    assert xlsx.suggested_filename == "satisfaction-month-2026-11-01-2026-11-30.xlsx"
    book = openpyxl.load_workbook(io.BytesIO((await xlsx.path()).read_bytes()))
    sheet = [[c.value for c in row] for row in book["satisfaction"].iter_rows()]
    assert sheet[0][:3] == ["period", "officer", "sent"]
    assert sheet[1][:3] == ["2026-11", "Nguyễn Văn An", 2]

    # the SLA report, by week: the first response falls in ISO week 45
    await page.select_option("#p-report", "sla")
    await page.select_option("#p-period", "week")
    await page.select_option("#p-by", "")
    await page.click("#p-show")
    await page.wait_for_url("**report=sla**")
    assert (await cells(page, "period"))[:2] == ["2026-W44", "2026-W45"]  # 1 Nov is a Sunday
    assert (await cells(page, "first_response_count"))[:2] == ["0", "1"]
    assert (await cells(page, "first_response_median_min"))[1] == "30.0"
    assert (await cells(page, "first_response_within_sla_pct"))[1] == "100.0"

    # a bad date: the page again with the reason, nothing else
    await page.goto(f"{base}/reports?report=sla&from=2026-13-01")
    assert "Không thể hiển thị số liệu" in (await page.text_content("#report-error") or "")
    assert await page.locator("#report-table").count() == 0
    assert errors == []

    # an agent: their own figures only, whatever the address asks for
    agent = await browser.new_page()
    await sign_in_page(agent, base, "Trần Thị Hoa")
    await agent.goto(f"{base}/reports?report=satisfaction&period=month&from=2026-11-01"
                     "&by=channel")
    assert await agent.locator("#own-only").is_visible()
    assert await agent.locator("#p-by").count() == 0
    assert await cells(agent, "officer") == ["Trần Thị Hoa"]
    assert await cells(agent, "sent") == ["2"]
    assert "Nguyễn Văn An" not in await agent.content()
    resp = await agent.request.get(f"{base}/reports?report=satisfaction&from=2026-11-01"
                                   "&format=csv")
    assert resp.status == 200
    assert "Nguyễn Văn An" not in (await resp.body()).decode("utf-8-sig")


async def test_every_report_on_the_page_with_links_and_own_figures(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    ids = await _seed(sessions)
    client = await aiohttp_client(create_app(backend.settings()))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page()
    errors = page_errors(page)
    await sign_in_page(page, base, "Lê Thị Lan")
    await page.goto(f"{base}/reports")
    offered = await page.locator("#p-report option").evaluate_all(
        "options => options.map(o => o.value)")
    assert offered == ["satisfaction", "volume", "sla", "officers", "low-ratings", "warranty",
                       "campaign"]  # the campaign's figures: tests/desk/test_report_campaign.py

    # volume, split by channel, for November
    await page.select_option("#p-report", "volume")
    await page.select_option("#p-period", "month")
    await page.fill("#p-from", "2026-11-01")
    await page.fill("#p-to", "2026-11-30")
    await page.select_option("#p-by", "channel")
    await page.click("#p-show")
    await page.wait_for_url("**report=volume**")
    assert "Phiếu và tin nhắn" in (await page.text_content("#report-title") or "")
    assert await cells(page, "channel") == ["email", "zalo"]
    assert await cells(page, "opened") == ["4", "1"]
    assert await cells(page, "resolved") == ["4", "0"]
    assert await cells(page, "backlog") == ["0", "1"]
    assert await page.locator("#chart").count() == 0  # counts, no headline share
    async with page.expect_download() as download:
        await page.click("#download-csv")
    rows = list(csv.DictReader(io.StringIO(
        (await (await download.value).path()).read_bytes().decode("utf-8-sig"))))
    assert [(r["channel"], r["opened"], r["backlog"]) for r in rows] == [
        ("email", "4", "0"), ("zalo", "1", "1")]

    # the officers' sheet: resolved while assigned, CSAT of the answers credited to them
    await page.select_option("#p-report", "officers")
    await page.click("#p-show")
    await page.wait_for_url("**report=officers**")
    assert await cells(page, "officer") == ["Nguyễn Văn An", "Trần Thị Hoa"]
    assert await cells(page, "tickets_handled") == ["2", "2"]
    assert await cells(page, "csat_pct") == ["50.0", "100.0"]
    assert await cells(page, "low_ratings") == ["1", "0"]

    # low ratings: the ticket links to its page, the comment is text, not markup
    await page.select_option("#p-report", "low-ratings")
    await page.click("#p-show")
    await page.wait_for_url("**report=low-ratings**")
    assert await cells(page, "rating") == ["2"]
    assert await cells(page, "comment") == [HOSTILE]
    assert await page.locator("#pwned").count() == 0
    link = page.locator("#report-table td[data-column='ticket'] a")
    number = f"CSKH-{ids[1]:06d}"
    assert await link.text_content() == number
    await link.click()
    await page.wait_for_url(f"{base}/inbox/tickets/{number}")
    await page.go_back()

    # warranty and maintenance, by model
    await page.select_option("#p-report", "warranty")
    await page.click("#p-show")
    await page.wait_for_url("**report=warranty**")
    assert "Bảo hành và bảo trì" in (await page.text_content("#report-title") or "")
    assert await cells(page, "model") == ["Máy lọc X1"]
    assert await cells(page, "claims") == ["1"]
    assert await cells(page, "in_warranty_pct") == ["100.0"]
    assert await cells(page, "visits_on_time_pct") == ["100.0"]
    assert await page.get_attribute("#chart rect", "height") == "100.0"
    await page.screenshot(path=str(artifact(f"reports-warranty-{backend.name}.png")),
                          full_page=True)
    assert errors == []

    # an agent: the officers' sheet and low ratings cut to their own; warranty not offered
    agent = await browser.new_page()
    await sign_in_page(agent, base, "Trần Thị Hoa")
    await agent.goto(f"{base}/reports?report=officers&from=2026-11-01")
    assert await cells(agent, "officer") == ["Trần Thị Hoa"]
    assert "Nguyễn Văn An" not in await agent.content()
    await agent.goto(f"{base}/reports?report=low-ratings&from=2026-11-01")
    assert await agent.locator("#no-data").count() == 1
    assert "Giao hàng chậm" not in await agent.content()
    await agent.goto(f"{base}/reports?report=volume&from=2026-11-01&by=channel")
    assert await cells(agent, "officer") == ["Trần Thị Hoa"]
    assert await cells(agent, "opened") == ["2"]
    assert "warranty" not in await agent.locator("#p-report option").evaluate_all(
        "options => options.map(o => o.value)")
    refused = await agent.request.get(f"{base}/reports?report=warranty&from=2026-11-01")
    assert refused.status == 400
    assert "Máy lọc X1" not in await refused.text()
