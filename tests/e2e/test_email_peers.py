"""Mail a peer reads, end to end on both backend pairs: Dovecot → ``pullers`` → tickets.

Japanese mail unencoded or mislabelled, senders with encoded-word local parts, a header
block with stray lines and a mail whose Date is impossible each become the ticket a mail
reader would show: the right sender, subject, text and date.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from tests.support.imap import fresh_folder, login

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
ARRIVED = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def folder(imap_server: Any) -> Iterator[str]:
    with fresh_folder(imap_server, "cskhpeer") as name:
        yield name


async def test_mail_a_peer_reads_becomes_the_ticket_a_reader_would_show(
        backend: Any, imap_server: Any, folder: str, tmp_path: Path,
        aiohttp_client: AiohttpClient, wait_for: Callable[..., Awaitable[Any]]) -> None:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        token = (await add_staff(session, "Hộp thư", ["cskh", "sales", "accounting", "warehouse",
                                                      "technical"], capacity=100)).token
    await engine.dispose()
    agent = fixture("header__encoded_word_local_part.eml")
    sales = agent.replace(b"=?utf-8?Q?agent?=@", b"=?utf-8?B?c2FsZXM=?=@").replace(
        b"<ewlocal.1@", b"<ewlocal.2@").replace(b"Hoi ve chinh sach", b"Hoi them ve chinh sach")
    client = login(imap_server)
    try:
        for raw in (fixture("header__raw_iso_2022_jp.eml"),
                    fixture("charset__iso_2022_jp_labelled_us_ascii.eml"), agent, sales,
                    fixture("header__two_stray_lines.eml"),
                    fixture("missing__impossible_date.eml")):
            client.append(folder, raw, msg_time=ARRIVED)
    finally:
        client.logout()
    settings = backend.settings(
        imap_host=imap_server.host, imap_port=imap_server.port, imap_user=imap_server.user,
        imap_password=imap_server.password, imap_folder=folder, imap_tls=False,
        imap_poll_seconds=0.2, imap_cursor_path=tmp_path / "imap.json",
        attachment_dir=tmp_path / "files")
    api = await aiohttp_client(create_app(settings))

    async def settled() -> list[dict[str, Any]] | None:
        resp = await api.get("/api/v1/queue", headers={"Authorization": f"Bearer {token}"})
        tickets: list[dict[str, Any]] = (await resp.json())["tickets"]
        return tickets if len(tickets) == 6 else None

    tickets = {t["messages"][0]["external_id"]: t for t in await wait_for(settled, attempts=600)}
    raw_jp = tickets["jpraw.1@nihon-kikai.co.jp"]
    assert raw_jp["subject"] == "納期の確認（注文番号"
    assert (raw_jp["contact"]["name"], raw_jp["contact"]["email"]) == (
        "山田太郎", "yamada@nihon-kikai.co.jp")
    assert "注文番号４４１２の納期" in raw_jp["messages"][0]["text"]
    mislabelled = tickets["jpascii.1@nihon-kikai.co.jp"]
    assert "お見積りの件" in mislabelled["messages"][0]["text"]
    # two senders whose local parts are encoded words: two contacts, real addresses
    emails = {tickets[m]["contact"]["email"] for m in ("ewlocal.1@example.com",
                                                       "ewlocal.2@example.com")}
    assert emails == {"agent@example.com", "sales@example.com"}
    stray = tickets["stray.2@vattu-hn.vn"]
    assert stray["subject"] == "Bao gia ong thep"
    assert stray["contact"]["email"] == "binh@vattu-hn.vn"
    impossible = tickets["baddate.1@xaydung-dn.vn"]["messages"][0]
    assert datetime.fromisoformat(impossible["sent_at"]) == ARRIVED
