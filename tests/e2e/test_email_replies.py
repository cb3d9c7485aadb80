"""Staff replies on e-mail tickets leave by SMTP (the ``senders`` role), on both backend pairs.

A real SMTP server (aiosmtpd) on 127.0.0.1 receives them; the customer's mail comes in through
Dovecot as in production. Sent once per event (a redelivered event sends nothing), retried
while the server is away, failed with the server's answer (in the ticket API) when it
refuses the recipient for good.
"""

from __future__ import annotations

import asyncio
import email
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from connectors.email.send import SendRefused, compose_reply
from ingest.bus.base import OutgoingRecord
from ingest.bus.topics import OUTBOUND
from ingest.keys import BUS, SESSIONS
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Message
from tests.support.desk import Client, StaffDesk
from tests.support.imap import append, fresh_folder
from tests.support.smtp import Mailroom, SmtpServer

AiohttpClient = Callable[[web.Application], Awaitable[Client]]
CUSTOMER = "an.nguyen@thepviet.vn"


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
    with fresh_folder(imap_server, "cskhsend") as name:
        yield name


def customer_mail(message_id: str, subject: str, body: str, sender: str = CUSTOMER) -> bytes:
    return (f'From: "Nguyễn Thị An" <{sender}>\r\nTo: cskh@congty.vn\r\n'
            f"Message-ID: <{message_id}>\r\nDate: Mon, 30 Nov 2026 09:15:00 +0700\r\n"
            f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"\r\n{body}\r\n").encode()


@pytest.fixture
async def desk(backend: Any, imap_server: Any, folder: str, tmp_path: Path,
               aiohttp_client: AiohttpClient, smtp: SmtpServer,
               wait_for: Callable[..., Awaitable[Any]]) -> AsyncIterator[Desk]:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        queues = ["cskh", "sales", "accounting", "warehouse", "technical"]
        token = (await add_staff(session, "Lan", queues, role="admin", capacity=50)).token
    await engine.dispose()
    settings = backend.settings(
        imap_host=imap_server.host, imap_port=imap_server.port, imap_user=imap_server.user,
        imap_password=imap_server.password, imap_folder=folder, imap_tls=False,
        imap_poll_seconds=0.2, imap_cursor_path=tmp_path / "imap.json",
        attachment_dir=tmp_path / "files", mail_domain="congty.vn",
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
        mail_from="Chăm sóc khách hàng <cskh@congty.vn>")
    client = await aiohttp_client(create_app(settings))
    yield Desk(client, {"Authorization": f"Bearer {token}"}, imap_server, folder, smtp.room,
               wait_for)


class Desk(StaffDesk):
    """The service under test, its Dovecot folder and the SMTP server's mailroom."""

    def __init__(self, client: Client, auth: dict[str, str], imap: Any, folder: str,
                 room: Mailroom, wait_for: Callable[..., Awaitable[Any]]) -> None:
        super().__init__(client, auth, wait_for)
        self.imap, self.folder, self.room = imap, folder, room

    async def ticket_from(self, message_id: str, subject: str, body: str,
                          sender: str = CUSTOMER) -> dict[str, Any]:
        append(self.imap, self.folder, customer_mail(message_id, subject, body, sender))
        return await self.ticket_with_message(message_id)

    async def received(self, count: int) -> list[EmailMessage]:
        async def enough() -> list[EmailMessage] | None:
            return list(self.room.received) if len(self.room.received) >= count else None

        got: list[EmailMessage] = await self.wait_for(enough, attempts=600)
        return got


async def test_a_reply_goes_out_once_by_smtp_and_the_answer_threads_back(desk: Desk) -> None:
    ticket = await desk.ticket_from("hd1@thepviet.vn", "Hóa đơn sai mã số thuế",
                                    "Hóa đơn VAT số 0000789 ghi sai MST 0312345678.")
    await desk.reply(ticket, "Dạ em đã xuất lại hóa đơn ạ.")
    (sent,) = await desk.received(1)
    assert sent["To"].addresses[0].addr_spec == CUSTOMER
    assert sent["From"].addresses[0].display_name == "Chăm sóc khách hàng"
    assert sent["Subject"] == f"Re: [#{ticket['number']}] Hóa đơn sai mã số thuế"
    assert sent["In-Reply-To"] == "<hd1@thepviet.vn>"
    assert sent["Message-ID"].startswith(f"<cskh.{ticket['id']}.")
    assert sent["X-CSKH-Ticket"] == ticket["number"]
    body = sent.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Dạ em đã xuất lại hóa đơn ạ."
    async with desk.client.app[SESSIONS]() as session:  # emitted by the API: the outbox skips it
        row = await session.scalar(select(Message).where(Message.direction == "outbound"))
    assert row is not None and row.raw["emitted"] is True

    # The event delivered again (a consumer crash before its commit): nothing sent twice.
    bus = desk.client.app[BUS]
    reader = bus.consumer(f"test-{uuid.uuid4().hex[:6]}", [OUTBOUND])
    await reader.start()
    records = await reader.poll(10, 5.0)
    await reader.close()
    await bus.send_many([OutgoingRecord(topic=OUTBOUND, key=r.key, value=r.value)
                         for r in records])
    # …and a later reply on the same ticket still goes out: the loop went past the copy.
    await desk.reply(ticket, "Em gửi kèm biên bản điều chỉnh ạ.")
    first, second = await desk.received(2)
    assert first["Message-ID"] == sent["Message-ID"] != second["Message-ID"]
    await asyncio.sleep(0.5)
    assert len(desk.room.received) == 2

    # The customer answers our reply: it threads to the ticket by our Message-ID.
    answer = customer_mail("tl1@thepviet.vn", "Cam on", "Cảm ơn em.").replace(
        b"Subject: Cam on", f"In-Reply-To: {second['Message-ID']}\r\nSubject: Cam on".encode())
    append(desk.imap, desk.folder, answer)

    async def threaded() -> list[dict[str, Any]] | None:
        resp = await desk.client.get(f"/api/v1/tickets/{ticket['id']}", headers=desk.auth)
        messages: list[dict[str, Any]] = (await resp.json())["messages"]
        return messages if len(messages) == 4 else None

    messages = await desk.wait_for(threaded, attempts=600)
    assert [m["direction"] for m in messages] == ["inbound", "outbound", "outbound", "inbound"]


async def test_a_refused_recipient_fails_with_the_reason_and_the_next_reply_still_goes(
        desk: Desk) -> None:
    desk.room.refused.add("sai.dia.chi@thepviet.vn")
    bad = await desk.ticket_from("x1@thepviet.vn", "Báo giá", "Cho xin báo giá 200 thùng.",
                                 sender="sai.dia.chi@thepviet.vn")
    good = await desk.ticket_from("x2@thepviet.vn", "Giao hàng", "Đơn 123 giao chậm.")
    await desk.reply(bad, "Dạ em gửi báo giá ạ.")
    await desk.reply(good, "Dạ em kiểm tra ngay ạ.")
    (sent,) = await desk.received(1)
    assert sent["In-Reply-To"] == "<x2@thepviet.vn>"

    async def outcome(ticket: dict[str, Any], status: str) -> dict[str, Any] | None:
        resp = await desk.client.get(f"/api/v1/tickets/{ticket['id']}", headers=desk.auth)
        reply = [m for m in (await resp.json())["messages"] if m["direction"] == "outbound"][-1]
        found: dict[str, Any] | None = reply["delivery"]
        return found if found and found["status"] == status else None

    failed = await desk.wait_for(lambda: outcome(bad, "failed"), attempts=600)
    assert failed["code"] == "recipient_unavailable" and "550" in failed["reason"]
    ok = await desk.wait_for(lambda: outcome(good, "sent"), attempts=600)
    assert ok["provider_ids"] == [sent["Message-ID"].strip("<>")]


async def test_replies_wait_while_the_smtp_server_is_away(desk: Desk, smtp: SmtpServer) -> None:
    ticket = await desk.ticket_from("w1@thepviet.vn", "Bảo hành", "Máy lỗi, còn bảo hành không?")
    smtp.stop()  # the mail server goes away before the reply is written
    await desk.reply(ticket, "Dạ máy còn bảo hành ạ.")
    await asyncio.sleep(1.0)  # the sender meets a closed port and backs off
    assert smtp.room.received == []
    smtp.start()
    (sent,) = await desk.received(1)
    assert sent["In-Reply-To"] == "<w1@thepviet.vn>"


def test_compose_reply_encodes_vietnamese_and_refuses_unusable_addresses() -> None:
    from datetime import UTC, datetime

    message = compose_reply(
        sender="Chăm sóc khách hàng <cskh@congty.vn>", to="An <an@thepviet.vn>",
        subject="Re: [#CSKH-000001] Hóa đơn", text="Dạ vâng ạ.\n",
        message_id="<cskh.1.abc@congty.vn>", in_reply_to="<a@b.vn>",
        references="<root@b.vn> <a@b.vn>", date=datetime(2026, 11, 30, 2, 0, tzinfo=UTC),
        ticket_number="CSKH-000001")
    wire = message.as_bytes(policy=policy.SMTP)
    assert b"=?utf-8?" in wire  # the subject and the display name are RFC 2047 words
    again = email.message_from_bytes(wire, policy=policy.default)
    assert again["Subject"] == "Re: [#CSKH-000001] Hóa đơn"
    assert again["References"] == "<root@b.vn> <a@b.vn>"
    for bad in ("", "no-at-sign", "a@b.vn, c@d.vn", "x@y.vn\r\nBcc: z@w.vn"):
        with pytest.raises(SendRefused):
            compose_reply(sender="cskh@congty.vn", to=bad, subject="s", text="t",
                          message_id="<m@c>", in_reply_to=None, references=None,
                          date=datetime(2026, 11, 30, tzinfo=UTC), ticket_number="CSKH-1")
