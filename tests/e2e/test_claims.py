"""End to end on both backend pairs: who may write into an existing ticket. A web form with the
ticket's tag and its customer's name and address opens a new ticket; one carrying our signed
follow-up token continues it. A mail from the ticket's own address whose From our receiving
server says failed DKIM/DMARC opens a new ticket; verified, it continues it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ingest.web.app import create_app
from normalizer import follow_up
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from tests.support.imap import append, fresh_folder

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]
SECRET = "e2e-follow-up-secret"
AUTHSERV = "mx.congty.vn"
CUSTOMER = {"name": "Nguyễn Thị An", "company": "Công ty TNHH Thép Việt",
            "email": "an.nguyen@thepviet.vn"}


def mail(message_id: str, subject: str, verdict: str) -> bytes:
    return "\r\n".join([
        f"Authentication-Results: {AUTHSERV}; dkim={verdict} header.d=thepviet.vn; "
        f"dmarc={verdict} header.from=thepviet.vn",
        # anyone can add a field with another id: it is ignored
        "Authentication-Results: mx.congty.vn.evil.example; dkim=pass header.d=thepviet.vn; "
        "dmarc=pass",
        'From: "Nguyễn Thị An" <an.nguyen@thepviet.vn>', "To: cskh@congty.vn",
        f"Message-ID: <{message_id}>", "Date: Mon, 30 Nov 2026 09:15:00 +0700",
        f"Subject: {subject}", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
        "", "Bổ sung chứng từ.", ""]).encode()


@pytest.fixture
def folder(imap_server: Any) -> Iterator[str]:
    with fresh_folder(imap_server, "cskhclaim") as name:
        yield name


async def test_only_proof_writes_into_an_existing_ticket(
        backend: Any, imap_server: Any, folder: str, tmp_path: Path,
        aiohttp_client: AiohttpClient, wait_for: Callable[..., Awaitable[Any]]) -> None:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        token = (await add_staff(session, "Lan", ["cskh", "sales", "accounting", "warehouse",
                                                  "technical"], capacity=100)).token
    await engine.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    settings = backend.settings(
        follow_up_secret=SECRET, imap_authserv_id=AUTHSERV, imap_host=imap_server.host,
        imap_port=imap_server.port, imap_user=imap_server.user,
        imap_password=imap_server.password, imap_folder=folder, imap_tls=False,
        imap_poll_seconds=0.2, imap_cursor_path=tmp_path / "imap.json",
        attachment_dir=tmp_path / "files")
    client = await aiohttp_client(create_app(settings))

    async def tickets(count: int) -> list[dict[str, Any]] | None:
        resp = await client.get("/api/v1/queue", headers=auth)
        found: list[dict[str, Any]] = (await resp.json())["tickets"]
        return found if len(found) == count else None

    async def post(**fields: str) -> None:
        body = {**CUSTOMER, "message": "Hóa đơn VAT số 0000789 ghi sai mã số thuế.", **fields}
        resp = await client.post("/webhooks/webform", json=body)
        assert resp.status == 202, await resp.text()

    await post(subject="Hóa đơn sai mã số thuế", submission_id="claim-1")
    (victim,) = await wait_for(lambda: tickets(1), attempts=600)
    tag = f"[#{victim['number']}]"
    # the same name, company and address, the ticket's tag: still only typed
    await post(subject=f"Re: {tag} Hóa đơn sai mã số thuế", submission_id="claim-2",
               email="ke.toan@doithu.vn")
    await post(subject=f"Re: {tag} Hóa đơn sai mã số thuế", submission_id="claim-3")
    await wait_for(lambda: tickets(3), attempts=600)
    # our link: the token continues the ticket
    proof = follow_up.mint(SECRET, victim["id"], datetime.now(UTC))
    await post(subject="Bổ sung", submission_id="claim-4", follow_up=proof)
    append(imap_server, folder, mail("forged@thepviet.vn", f"Re: {tag} bổ sung", "fail"),
           mail("real@thepviet.vn", f"Re: {tag} bổ sung", "pass"))

    async def continued() -> list[str] | None:
        resp = await client.get(f"/api/v1/tickets/{victim['id']}", headers=auth)
        ids = [m["external_id"] for m in (await resp.json())["messages"]]
        return ids if len(ids) == 3 else None

    ids = await wait_for(continued, attempts=600)
    assert ids == ["claim-1", "claim-4", "real@thepviet.vn"]
    everyone = await wait_for(lambda: tickets(4), attempts=600)
    # the forged mail: its own ticket, flagged for an officer to look at
    (forged,) = [t for t in everyone if t["channel"] == "email"]
    assert forged["needs_review"] is True

    # the officer sees that claim-3 is the same customer's matter: merged into the ticket
    (duplicate,) = [t for t in everyone if t["channel"] == "webform" and t["id"] != victim["id"]
                    and t["messages"][0]["external_id"] == "claim-3"]
    resp = await client.post(f"/api/v1/tickets/{duplicate['id']}/merge", headers=auth,
                             json={"into": victim["number"]})
    assert resp.status == 200, await resp.text()
    merged = await resp.json()
    assert merged["status"] == "closed" and merged["merged_into"] == victim["number"]
    assert [m["direction"] for m in merged["messages"]] == ["note"]  # "Đã gộp vào CSKH-…"
    resp = await client.get(f"/api/v1/tickets/{victim['id']}", headers=auth)
    kept = (await resp.json())["messages"]
    assert [m["external_id"] for m in kept if m["direction"] == "inbound"] == [
        "claim-1", "claim-3", "claim-4", "real@thepviet.vn"]
    assert any(m["direction"] == "note" and duplicate["number"] in m["text"] for m in kept)
    # a link we sent for the merged ticket now continues the one it went into
    proof = follow_up.mint(SECRET, duplicate["id"], datetime.now(UTC))
    await post(subject="Bổ sung lần 2", submission_id="claim-5", follow_up=proof)

    async def followed() -> bool:
        resp = await client.get(f"/api/v1/tickets/{victim['id']}", headers=auth)
        return "claim-5" in [m["external_id"] for m in (await resp.json())["messages"]]

    assert await wait_for(followed, attempts=600)
    # refused: into itself, into a closed ticket, again, into one that does not exist
    for ticket, into, status in ((victim["id"], victim["number"], 400),
                                 (victim["id"], duplicate["number"], 409),
                                 (duplicate["id"], victim["number"], 409),
                                 (victim["id"], "CSKH-999999", 404)):
        resp = await client.post(f"/api/v1/tickets/{ticket}/merge", headers=auth,
                                 json={"into": into})
        assert resp.status == status, (ticket, into, await resp.text())
