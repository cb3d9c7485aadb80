"""The knowledge base on both backends: safe Markdown, ``cskh kb import|ls``, search with and
without diacritics, suggestions in the ticket API, and the public ``/kb`` pages in Chromium
on a phone-sized screen."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from desk.kb import render
from ingest.cli import main
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import Message, Ticket

HOSTILE = ("# Mẹo hay\n\n<script>window.pwned=1</script>\n\n"
           "[bấm vào đây](javascript:window.pwned=2) <img src=x onerror=\"window.pwned=3\">\n")
ARTICLES = {
    "usage/lap-dat-may-loc-nuoc.md": "# Hướng dẫn lắp đặt máy lọc nước MX200\n\n"
                                     "1. Khóa van nước.\n2. Lắp lõi lọc số 1.\n\n"
                                     "| Bước | Thời gian |\n|---|---|\n| Lắp | 15 phút |\n",
    "usage/meo-hay.md": HOSTILE,
    "warranty_policy/chinh-sach-bao-hanh.md": "# Chính sách bảo hành\n\nSản phẩm được bảo "
                                              "hành 24 tháng kể từ ngày giao hàng. "
                                              "Xem [trang hỗ trợ](https://congty.vn/ho-tro).\n",
    "prices_promotions/bang-gia-2027.md": "# Bảng giá và khuyến mại 2027\n\nChiết khấu 5%.\n",
    "tin-tuc/khong-co.md": "# Không có\n",
    "usage/Tên Sai.md": "# Tên sai\n",
}
NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def test_markdown_is_rendered_without_script() -> None:
    html = render(HOSTILE)
    # raw HTML is shown as text, a javascript: link is no link
    assert "<script" not in html and "<img" not in html and "href" not in html
    assert "&lt;script&gt;" in html
    assert "<h1>Mẹo hay</h1>" in html
    safe = render("[trang](https://congty.vn) **đậm**")
    assert 'href="https://congty.vn"' in safe and "<strong>đậm</strong>" in safe


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


@pytest.fixture
async def kb(backend: Any, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch,
             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    folder = tmp_path / "kb"
    for name, body in ARTICLES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body, encoding="utf-8")
    code, report, _ = await asyncio.to_thread(_cli, capsys, "kb", "import", str(folder),
                                              "--json")
    assert code == 1 and (report["created"], report["updated"]) == (4, 0)
    assert sorted(e["file"] for e in report["errors"]) == ["tin-tuc/khong-co.md",
                                                         "usage/Tên Sai.md"]
    return folder


async def test_import_again_and_search_without_diacritics(
        kb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = await asyncio.to_thread(_cli, capsys, "kb", "import", str(kb), "--json")
    assert (report["created"], report["updated"]) == (0, 4)
    for words in ("bao hanh", "BẢO HÀNH", "bảo hanh"):
        code, rows, _ = await asyncio.to_thread(_cli, capsys, "kb", "ls", "--search", words,
                                                "--json")
        assert [r["slug"] for r in rows] == ["chinh-sach-bao-hanh"], words
    code, rows, _ = await asyncio.to_thread(_cli, capsys, "kb", "ls", "--category", "usage",
                                            "--json")
    assert code == 0 and {r["slug"] for r in rows} == {"lap-dat-may-loc-nuoc", "meo-hay"}


async def test_pages_in_chromium_and_suggestions(
        kb: Path, backend: Any, sessions: SessionFactory, browser: Browser,
        aiohttp_client: Callable[..., Awaitable[Any]]) -> None:
    async with sessions() as session, session.begin():
        officer = await add_staff(session, "Kỹ thuật Hùng", ["technical"])
        ticket = Ticket(channel="zalo", thread_key=uuid.uuid4().hex, status="queued",
                        category="warranty", queue="technical", created_at=NOW,
                        updated_at=NOW)
        session.add(ticket)
        await session.flush()
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel="zalo",
                            external_id="m1", text="máy hỏng, còn bảo hành ko?", sent_at=NOW,
                            received_at=NOW))
    client = await aiohttp_client(create_app(backend.settings(), ("webhooks",),
                                             clock=lambda: NOW))
    resp = await client.get(f"/api/v1/tickets/{ticket.id}",
                            headers={"Authorization": f"Bearer {officer.token}"})
    assert resp.status == 200
    (suggestion,) = (await resp.json())["articles"]
    assert (suggestion["slug"], suggestion["path"]) == ("chinh-sach-bao-hanh",
                                                        "/kb/chinh-sach-bao-hanh")
    assert suggestion["text"].startswith("# Chính sách bảo hành")

    page = await browser.new_page(viewport={"width": 360, "height": 740})
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    # no sign-in: a customer searches without diacritics
    await page.goto(str(client.make_url("/kb")))
    assert await page.title() == "Cẩm nang khách hàng · CSKH"
    await page.fill("#q", "lap dat may loc")
    await page.click("button[type=submit]")
    assert "Số bài tìm thấy: 1" in (await page.text_content("#kb-count") or "")
    await page.click("text=Hướng dẫn lắp đặt máy lọc nước MX200")
    assert await page.locator("#kb-body table td", has_text="15 phút").count() == 1
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # an article with hostile markup is text: nothing runs
    await page.goto(str(client.make_url("/kb/meo-hay")))
    assert await page.locator("#kb-body script, #kb-body img").count() == 0
    await page.click("text=bấm vào đây")
    assert await page.evaluate("window.pwned === undefined") and dialogs == []
    missing = await page.goto(str(client.make_url("/kb/khong-co-bai-nay")))
    assert missing is not None and missing.status == 404
    resp = await client.get("/kb?q=" + "a" * 5000)
    assert resp.status == 200
    assert "Content-Security-Policy" in resp.headers
