"""``cskh report campaign NAME`` against answers whose figures are worked out by hand.

Five accounts in the campaign "Khảo sát hài lòng 6 tháng cuối 2026":

| account | tier | segment | owner | asked | answer (overall, recommend, topics) |
|---|---|---|---|---|---|
| Thép Việt | key | xây dựng | An | sent | 2, 3; delivery 1, care staff 2; "Giao hàng trễ" |
| Bình Minh | standard | nhựa | Hoa | sent | 4, 9; delivery 4, product quality 5 |
| Gạch Đỏ | small | xây dựng | An | sent | answered twice: 1 then 5, 10 (the last counts) |
| Sơn Hà | key | none | Hoa | sent | none |
| Nam Á | standard | nhựa | none | by hand (no link) | none |

So: 4 asked, 3 answered, 75 %; overall 2, 4, 5 (mean 3.67); recommend 3, 9, 10 (7.33);
delivery 1, 4 (2.5). Key tier: 2 asked, 1 answered (50 %); segment "xây dựng": 2 of 2, overall
mean 3.5; owner Hoa: 2 asked, 1 answered, mean 4; Nam Á's "no owner" group asked nobody (no
rate). The lowest-rated accounts: Thép Việt (2), Bình Minh (4), Gạch Đỏ (5). Another campaign's
answer (Bình Minh, 1) is not counted.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import openpyxl
import pytest
from playwright.async_api import Browser
from sqlalchemy import select

from desk.reports import ReportError, build_report, parse_window
from desk.reports.base import Report
from desk.reports.render import render
from ingest.cli import main
from ingest.web.app import create_app
from router.calendars import QueueCalendars
from storage.db import SessionFactory, create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Campaign, CampaignAnswer, CampaignInvitation, Contact, Customer, Staff
from tests.support.pages import add_officer, page_errors, sign_in_page

NAME = "Khảo sát hài lòng 6 tháng cuối 2026"
SENT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
WINDOW = parse_window("month", None, None, SENT.date())


async def _seed(sessions: SessionFactory) -> None:
    async with sessions() as s, s.begin():
        an = Staff(name="Nguyễn Văn An", token_hash=uuid.uuid4().hex * 2)
        hoa = Staff(name="Trần Thị Hoa", token_hash=uuid.uuid4().hex * 2)
        s.add_all([an, hoa])
        await s.flush()
        campaign = Campaign(name=NAME, send_at=SENT, remind_days=5, state="open",
                            created_at=SENT - timedelta(days=1))
        other = Campaign(name="Khảo sát 6 tháng đầu 2026", send_at=SENT - timedelta(days=180),
                         remind_days=5, state="closed", created_at=SENT - timedelta(days=181))
        s.add_all([campaign, other])
        await s.flush()

        async def invite(account: str, tier: str, segment: str | None, owner: Staff | None,
                         status: str = "sent", into: Campaign = campaign,
                         **answer: Any) -> None:
            customer = await s.scalar(select(Customer).where(Customer.name == account))
            if customer is None:
                customer = Customer(name=account, name_key=account.lower(), tier=tier,
                                    segment=segment, owner_id=owner.id if owner else None)
                s.add(customer)
                await s.flush()
            customer_id = customer.id
            contact = Contact(name=f"KH {account}", customer_id=customer_id,
                              email=f"{uuid.uuid4().hex[:8]}@kh.vn")
            s.add(contact)
            await s.flush()
            invitation = CampaignInvitation(campaign_id=into.id, contact_id=contact.id,
                                            customer_id=customer_id, channel="email",
                                            status=status, created_at=SENT,
                                            sent_at=SENT if status == "sent" else None)
            s.add(invitation)
            await s.flush()
            if answer:
                s.add(CampaignAnswer(invitation_id=invitation.id, campaign_id=into.id,
                                     answered_at=SENT + timedelta(days=2), **answer))

        await invite("Thép Việt", "key", "xây dựng", an, overall=2, recommend=3, delivery=1,
                     care_staff=2, overall_comment="Giao hàng trễ", answer_count=1)
        await invite("Bình Minh", "standard", "nhựa", hoa, overall=4, recommend=9,
                     delivery=4, product_quality=5, answer_count=1)
        await invite("Gạch Đỏ", "small", "xây dựng", an, overall=5, recommend=10,
                     answer_count=2)
        await invite("Sơn Hà", "key", None, hoa)
        await invite("Nam Á", "standard", "nhựa", None, status="manual")
        await invite("Bình Minh", "standard", "nhựa", hoa, into=other, overall=1,
                     answer_count=1)


@pytest.fixture
async def seeded(sessions: SessionFactory) -> SessionFactory:
    await _seed(sessions)
    return sessions


async def _report(sessions: SessionFactory, by: str | None = None) -> Report:
    async with sessions() as session:
        return await build_report(session, "campaign", WINDOW, by, QueueCalendars(), NAME)


def _row(report: Report, section: str, group: str, question: str) -> dict[str, Any]:
    [row] = [r for r in report.rows if (r["section"], r["group"], r["question"])
             == (section, group, question)]
    return row


async def test_every_question_by_tier_segment_owner(seeded: SessionFactory) -> None:
    report = await _report(seeded)
    overall = _row(report, "campaign", NAME, "overall")
    assert (overall["asked"], overall["answered"], overall["response_rate_pct"]) == (4, 3, 75.0)
    assert (overall["answers"], overall["mean"]) == (3, 3.67)
    assert [overall[f"n_{v}"] for v in range(11)] == [None, 0, 1, 0, 1, 1, *[None] * 5]
    recommend = _row(report, "campaign", NAME, "recommend")
    assert recommend["mean"] == 7.33
    assert [recommend[f"n_{v}"] for v in range(11)] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1]
    delivery = _row(report, "campaign", NAME, "delivery")
    assert (delivery["answers"], delivery["mean"], delivery["n_1"], delivery["n_4"]) == (
        2, 2.5, 1, 1)
    prices = _row(report, "campaign", NAME, "prices_promotions")
    assert (prices["answers"], prices["mean"], prices["n_3"]) == (0, None, 0)
    assert len([r for r in report.rows if r["section"] == "campaign"]) == 8

    key = _row(report, "tier", "key", "overall")
    assert (key["asked"], key["answered"], key["response_rate_pct"], key["mean"]) == (
        2, 1, 50.0, 2.0)
    standard = _row(report, "tier", "standard", "overall")
    assert (standard["asked"], standard["answered"], standard["response_rate_pct"]) == (
        1, 1, 100.0)
    built = _row(report, "segment", "xây dựng", "overall")
    assert (built["asked"], built["answered"], built["mean"]) == (2, 2, 3.5)
    none = _row(report, "segment", "-", "overall")
    assert (none["asked"], none["answered"], none["response_rate_pct"]) == (1, 0, 0.0)
    hoa = _row(report, "owner", "Trần Thị Hoa", "overall")
    assert (hoa["asked"], hoa["answered"], hoa["response_rate_pct"], hoa["mean"]) == (
        2, 1, 50.0, 4.0)
    nobody = _row(report, "owner", "-", "overall")
    assert (nobody["asked"], nobody["response_rate_pct"]) == (0, None)

    lowest = [r for r in report.rows if r["section"] == "account"]
    assert [(r["group"], r["mean"]) for r in lowest] == [
        ("Thép Việt", 2), ("Bình Minh", 4), ("Gạch Đỏ", 5)]
    assert (lowest[0]["tier"], lowest[0]["owner"], lowest[0]["comment"]) == (
        "key", "Nguyễn Văn An", "Giao hàng trễ")

    only_tier = await _report(seeded, "tier")
    assert {r["section"] for r in only_tier.rows} == {"campaign", "tier", "account"}


async def test_bad_names_and_groupings_say_why(seeded: SessionFactory) -> None:
    async with seeded() as session:
        with pytest.raises(ReportError, match="no campaign called"):
            await build_report(session, "campaign", WINDOW, None, QueueCalendars(), "Không có")
        with pytest.raises(ReportError, match="needs the campaign's name"):
            await build_report(session, "campaign", WINDOW, None, QueueCalendars())
        with pytest.raises(ReportError, match="splits by"):
            await build_report(session, "campaign", WINDOW, "channel", QueueCalendars(), NAME)
        with pytest.raises(ReportError, match="takes no name"):
            await build_report(session, "sla", WINDOW, None, QueueCalendars(), NAME)


async def test_every_format_keeps_vietnamese(seeded: SessionFactory) -> None:
    report = await _report(seeded, "segment")
    data = render(report, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert {"section": "segment", "group": "xây dựng", "question": "overall",
            "mean": "3.5"}.items() <= next(
        r for r in rows if (r["group"], r["question"]) == ("xây dựng", "overall")).items()
    book = openpyxl.load_workbook(io.BytesIO(render(report, "xlsx")))
    cells = [[c.value for c in row] for row in book["campaign"].iter_rows()]
    assert cells[0][:6] == ["section", "group", "asked", "answered", "response_rate_pct",
                            "question"]
    assert ["campaign", NAME, 4, 3, 75, "overall"] in [r[:6] for r in cells]
    doc = json.loads(render(report, "json"))
    assert doc["title"] == NAME and doc["report"] == "campaign"
    table = render(report, "table").decode()
    assert NAME in table and "Thép Việt" in table


def test_cli_report_campaign(backend: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    async def seed() -> None:
        engine = create_engine(backend.database_url)
        try:
            await upgrade(engine)
            await _seed(session_factory(engine))
        finally:
            await engine.dispose()

    asyncio.run(seed())
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    assert main(["report", "campaign", NAME, "--by", "owner", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    an = next(r for r in doc["rows"] if (r["section"], r["group"], r["question"])
              == ("owner", "Nguyễn Văn An", "overall"))
    assert (an["asked"], an["answered"], an["mean"]) == (2, 2, 3.5)
    out = tmp_path / "campaign.xlsx"
    assert main(["report", "campaign", NAME, "--format", "xlsx", "--out", str(out)]) == 0
    assert openpyxl.load_workbook(out)["campaign"]["B2"].value == NAME
    assert main(["report", "campaign", "Không có"]) == 2
    assert "no campaign called" in capsys.readouterr().err
    assert main(["report", "campaign"]) == 2
    assert "needs the campaign's name" in capsys.readouterr().err


async def test_the_campaign_on_the_reports_page(
        seeded: SessionFactory, backend: Any, browser: Browser,
        aiohttp_client: Callable[..., Awaitable[Any]]) -> None:
    await add_officer(seeded, "Lê Thị Lan", ["cskh"], role="lead")
    client = await aiohttp_client(create_app(backend.settings()))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)
    await sign_in_page(page, base, "Lê Thị Lan")
    await page.goto(f"{base}/reports")
    await page.select_option("#p-report", "campaign")
    assert await page.locator("#p-campaign option").all_text_contents() == [
        NAME, "Khảo sát 6 tháng đầu 2026"]  # newest first
    await page.select_option("#p-campaign", NAME)
    await page.click("#p-show")
    await page.wait_for_url("**report=campaign**")
    assert NAME in (await page.text_content("#report-title") or "")
    heads = await page.locator("#report-table th").all_text_contents()
    assert heads[:4] == ["Phần", "Nhóm", "Số liên hệ được hỏi", "Số liên hệ đã trả lời"]
    first = page.locator("#report-table tbody tr").first
    cells = {c: (await first.locator(f"td[data-column='{c}']").text_content() or "").strip()
             for c in ("section", "question", "asked", "answered", "response_rate_pct",
                       "mean")}
    assert cells == {"section": "campaign", "question": "overall", "asked": "4",
                     "answered": "3", "response_rate_pct": "75.0", "mean": "3.67"}
    # split by tier only, and downloaded as the page shows it
    await page.select_option("#p-by", "tier")
    await page.click("#p-show")
    await page.wait_for_url("**by=tier**")
    sections = set(await page.locator(
        "#report-table td[data-column='section']").all_text_contents())
    assert sections == {"campaign", "tier", "account"}
    resp = await page.request.get(f"{base}/reports?report=campaign&by=tier&format=csv&"
                                  f"campaign={quote(NAME)}")
    assert resp.status == 200
    assert "Thép Việt" in (await resp.body()).decode("utf-8-sig")
    # a split the campaign does not take, or no campaign: the reason
    await page.goto(f"{base}/reports?report=campaign&campaign={quote(NAME)}&by=channel")
    assert await page.locator("#report-error").count() == 1
    assert errors == []
