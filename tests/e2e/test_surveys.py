"""The satisfaction survey after a resolved ticket, end to end on both backend pairs.

An e-mail ticket comes in through Dovecot, an officer replies and resolves it through the
staff API; the survey mail reaches the SMTP server with a link; the customer opens it in
Chromium (which records nothing), answers 2 ("chưa hài lòng": a follow-up ticket for the
queue's lead), changes the answer, and a forged or expired link gets a clear page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser
from sqlalchemy import select, update

from ingest.keys import SESSIONS
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Message, Survey, Ticket
from tests.support.browser import artifact
from tests.support.desk import Client, StaffDesk
from tests.support.imap import append, fresh_folder
from tests.support.smtp import SmtpServer

AiohttpClient = Callable[[web.Application], Awaitable[Client]]
CUSTOMER = "hoa.tran@minhphat.vn"
LINK = re.compile(r"https?://\S+/s/([A-Za-z0-9_-]+)")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def folder(imap_server: Any) -> Iterator[str]:
    with fresh_folder(imap_server, "cskhsurvey") as name:
        yield name


class Desk(StaffDesk):
    async def post(self, ticket: dict[str, Any], action: str) -> None:
        resp = await self.client.post(f"/api/v1/tickets/{ticket['id']}/{action}",
                                      headers=self.auth, json={})
        assert resp.status == 200, await resp.text()


@pytest.fixture
async def desk(backend: Any, imap_server: Any, folder: str, tmp_path: Path,
               aiohttp_client: AiohttpClient, smtp: SmtpServer,
               wait_for: Callable[..., Awaitable[Any]]) -> AsyncIterator[Desk]:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        token = (await add_staff(session, "Lan", ["accounting", "cskh"], role="lead",
                                 capacity=50)).token
    await engine.dispose()
    settings = backend.settings(
        imap_host=imap_server.host, imap_port=imap_server.port, imap_user=imap_server.user,
        imap_password=imap_server.password, imap_folder=folder, imap_tls=False,
        imap_poll_seconds=0.2, imap_cursor_path=tmp_path / "imap.json",
        attachment_dir=tmp_path / "files", mail_domain="congty.vn",
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
        mail_from="Chăm sóc khách hàng <cskh@congty.vn>", survey_seconds=0.2,
        public_url="http://cskh.example.vn")
    client = await aiohttp_client(create_app(settings))
    yield Desk(client, {"Authorization": f"Bearer {token}"}, wait_for)


def mail(message_id: str, subject: str, body: str) -> bytes:
    return (f'From: "Trần Thị Hoa" <{CUSTOMER}>\r\nTo: cskh@congty.vn\r\n'
            f"Message-ID: <{message_id}>\r\nDate: Mon, 30 Nov 2026 09:15:00 +0700\r\n"
            f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"\r\n{body}\r\n").encode()


async def test_resolved_ticket_asks_once_and_the_customer_answers(
        desk: Desk, imap_server: Any, folder: str, smtp: SmtpServer, browser: Browser) -> None:
    append(imap_server, folder, mail("hd9@minhphat.vn", "Hóa đơn sai MST",
                                     "Hóa đơn VAT số 0000123 ghi sai mã số thuế."))
    ticket = await desk.ticket_with_message("hd9@minhphat.vn")
    await desk.reply(ticket, "Dạ em đã xuất lại hóa đơn ạ.")
    await desk.post(ticket, "resolve")

    async def two_mails() -> list[Any] | None:
        return list(smtp.room.received) if len(smtp.room.received) >= 2 else None

    _reply, ask = await desk.wait_for(two_mails, attempts=600)
    body = ask.get_body(("plain",)).get_content()
    assert ask["Subject"] == f"Re: [#{ticket['number']}] Hóa đơn sai MST"
    assert ask["In-Reply-To"] == "<hd9@minhphat.vn>"
    found = LINK.search(body)
    assert found is not None and found.group(0).startswith("http://cskh.example.vn/s/")
    token = found.group(1)
    sessions = desk.client.app[SESSIONS]
    async with sessions() as session:
        survey = await session.scalar(select(Survey))
        assert survey is not None and survey.status == "sent" and survey.token_pending is None
        assert token not in (survey.token_hash or "")
        notes = list(await session.scalars(select(Message.text).where(
            Message.ticket_id == ticket["id"], Message.direction == "outbound")))
    assert all(token not in n for n in notes)  # staff never see the link
    detail = await (await desk.client.get(f"/api/v1/tickets/{ticket['id']}",
                                          headers=desk.auth)).text()
    assert token not in detail

    page = await browser.new_page(viewport={"width": 390, "height": 844})
    url = str(desk.client.make_url(f"/s/{token}"))
    await page.goto(url)
    await page.goto(url)  # a mail scanner's visits record nothing
    assert "hài lòng" in (await page.text_content("h1") or "")
    async with sessions() as session:
        assert (await session.scalar(select(Survey.rating))) is None
    await page.screenshot(path=str(artifact("survey.png")))
    await page.get_by_label("2 ★").check()
    await page.fill("#comment", "Xử lý chậm <script>alert(1)</script>")
    await page.click("button[type=submit]")
    assert "Cảm ơn" in (await page.text_content("h1") or "")

    async with sessions() as session:
        survey = await session.scalar(select(Survey))
        assert survey is not None and (survey.rating, survey.answer_count) == (2, 1)
        follow = await session.get(Ticket, survey.follow_up_ticket_id)
        assert follow is not None and follow.subject is not None
        assert ticket["number"] in follow.subject and follow.priority == "high"
        lan = await session.scalar(select(Ticket.assignee_id).where(Ticket.id == ticket["id"]))
        assert follow.assignee_id == lan

    await page.goto(url)
    assert await page.is_checked("input[value='2']")
    await page.get_by_label("5 ★").check()
    await page.click("button[type=submit]")
    async with sessions() as session:
        survey = await session.scalar(select(Survey))
        assert survey is not None and (survey.rating, survey.answer_count) == (5, 2)
        tickets = (await session.scalars(select(Ticket.id))).all()
    assert len(tickets) == 2  # one follow-up, kept after the change

    forged = await desk.client.get("/s/" + "A" * 32)
    assert forged.status == 404 and "không hợp lệ" in await forged.text()
    async with sessions() as session, session.begin():
        await session.execute(update(Survey).values(
            expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    expired = await desk.client.post(f"/s/{token}", data={"rating": "1"})
    assert expired.status == 410 and "kết thúc" in await expired.text()
    async with sessions() as session:
        assert (await session.scalar(select(Survey.rating))) == 5
    assert len(smtp.room.received) == 2  # asked once
