"""The shared mailbox end to end on both backend pairs: Dovecot → ``pullers`` → tickets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ingest.bus.topics import OUTBOUND
from ingest.keys import BUS
from ingest.web.app import create_app
from router.events import OutboundMessage
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import PullerCursor
from tests.support.bus import poll_until
from tests.support.imap import append, fresh_folder

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def mail(message_id: str, body: str, *, refs: str | None = None, extra: str = "",
         subject: str = "=?UTF-8?B?SMOzYSDEkcahbiBzYWkgbcOjIHPhu5EgdGh14bq/?=") -> bytes:
    headers = [
        'From: "Nguyễn Thị An" <an.nguyen@thepviet.vn>', "To: cskh@congty.vn",
        f"Message-ID: <{message_id}>", "Date: Mon, 30 Nov 2026 09:15:00 +0700",
        f"Subject: {subject}",
        "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit"]
    if refs:
        headers += [f"In-Reply-To: <{refs}>", f"References: <{refs}>"]
    if extra:
        headers.append(extra)
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.fixture
def folder(imap_server: Any) -> Iterator[str]:
    with fresh_folder(imap_server, "cskhe2e") as name:
        yield name


async def test_mail_becomes_threaded_tickets_and_machine_mail_no_ticket(
        backend: Any, imap_server: Any, folder: str, tmp_path: Path,
        aiohttp_client: AiohttpClient, wait_for: Callable[..., Awaitable[Any]]) -> None:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        token = (await add_staff(session, "Hộp thư", ["cskh", "sales", "accounting", "warehouse",
                                                      "technical"], capacity=100)).token
    await engine.dispose()
    append(imap_server, folder,
           mail("root1@thepviet.vn", "Hóa đơn VAT số 0000789 ghi sai mã số thuế 0312345678, "
                "đề nghị xuất lại."),
           mail("r2@thepviet.vn", "Bổ sung: sai cả địa chỉ.\r\n\r\n> Hóa đơn VAT số 0000789",
                refs="root1@thepviet.vn"),
           mail("ooo3@thepviet.vn", "Tôi đang nghỉ phép.", refs="root1@thepviet.vn",
                extra="Auto-Submitted: auto-replied"),
           (FIXTURES / "reply__outlook_vi_cp1258.eml").read_bytes(),
           (FIXTURES / "unparseable__binary.eml").read_bytes())
    settings = backend.settings(
        imap_host=imap_server.host, imap_port=imap_server.port, imap_user=imap_server.user,
        imap_password=imap_server.password, imap_folder=folder, imap_tls=False,
        imap_poll_seconds=0.2, imap_cursor_path=tmp_path / "imap.json",
        attachment_dir=tmp_path / "files")
    client = await aiohttp_client(create_app(settings))

    async def settled() -> list[dict[str, Any]]:
        resp = await client.get("/api/v1/queue", headers={"Authorization": f"Bearer {token}"})
        tickets: list[dict[str, Any]] = (await resp.json())["tickets"]
        root = [t for t in tickets if t["subject"] == "Hóa đơn sai mã số thuế"]
        return tickets if len(tickets) == 2 and root and len(root[0]["messages"]) == 3 else []

    tickets = await wait_for(settled, attempts=600)
    root = next(t for t in tickets if t["subject"] == "Hóa đơn sai mã số thuế")
    assert root["channel"] == "email" and root["category"] == "invoice"
    assert root["contact"]["email"] == "an.nguyen@thepviet.vn"
    assert [m["external_id"] for m in root["messages"]] == [
        "root1@thepviet.vn", "r2@thepviet.vn", "ooo3@thepviet.vn"]
    assert root["messages"][1]["text"] == "Bổ sung: sai cả địa chỉ."  # the quote is set apart
    if backend.name == "embedded":
        assert (tmp_path / "imap.json").is_file()
    else:  # pullers on several hosts share the cursor through the database
        engine = create_engine(backend.database_url)
        async with session_factory(engine)() as session:
            row = await session.get(PullerCursor, f"imap:{imap_server.user}@{imap_server.host}"
                                                  f"/{folder}")
        await engine.dispose()
        assert row is not None and row.data["last_uid"] == 5
        assert not (tmp_path / "imap.json").exists()


async def test_a_reply_to_our_reply_threads_by_our_message_id(
        backend: Any, imap_server: Any, folder: str, tmp_path: Path,
        aiohttp_client: AiohttpClient, wait_for: Callable[..., Awaitable[Any]]) -> None:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        token = (await add_staff(session, "Lan", ["accounting"], role="admin")).token
    await engine.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    append(imap_server, folder, mail("first@thepviet.vn", "Hóa đơn VAT số 0000789 ghi sai MST."))
    settings = backend.settings(
        imap_host=imap_server.host, imap_port=imap_server.port, imap_user=imap_server.user,
        imap_password=imap_server.password, imap_folder=folder, imap_tls=False,
        imap_poll_seconds=0.2, imap_cursor_path=tmp_path / "imap.json",
        attachment_dir=tmp_path / "files", mail_domain="congty.vn")
    client = await aiohttp_client(create_app(settings))

    async def ticket() -> dict[str, Any] | None:
        resp = await client.get("/api/v1/queue", headers=auth)
        tickets: list[dict[str, Any]] = (await resp.json())["tickets"]
        return tickets[0] if tickets else None

    first = await wait_for(ticket, attempts=600)
    resp = await client.post(f"/api/v1/tickets/{first['id']}/reply", headers=auth,
                             json={"text": "Dạ em đã xuất lại hóa đơn ạ."})
    assert resp.status == 200
    (record,) = await poll_until(client.app[BUS], "test-outbound", OUTBOUND)
    sent = OutboundMessage.model_validate_json(record.value)
    assert sent.email is not None
    ours = sent.email.message_id
    assert ours.startswith(f"<cskh.{first['id']}.") and ours.endswith("@congty.vn>")
    assert sent.email.in_reply_to == "<first@thepviet.vn>"
    assert sent.email.subject == f"Re: [#{first['number']}] Hóa đơn sai mã số thuế"

    # The answer names only our reply (no References root of the customer's, another
    # subject): our Message-ID alone threads it.
    append(imap_server, folder, mail("answer@thepviet.vn", "Cảm ơn em.",
                                     refs=ours.strip("<>"), subject="Cam on em"))

    async def answered() -> list[dict[str, Any]] | None:
        resp = await client.get(f"/api/v1/tickets/{first['id']}", headers=auth)
        messages: list[dict[str, Any]] = (await resp.json())["messages"]
        return messages if len(messages) == 3 else None

    messages = await wait_for(answered, attempts=600)
    assert [m["direction"] for m in messages] == ["inbound", "outbound", "inbound"]
    assert messages[1]["external_id"] == ours.strip("<>")
    resp = await client.get("/api/v1/queue", headers=auth)
    assert len((await resp.json())["tickets"]) == 1
