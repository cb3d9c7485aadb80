"""``/inbox/tickets/{number}`` over HTTP on both backend pairs: the thread and the customer
card, hostile text and mail HTML, who may see it (404 by every URL), the actions through the
API's code, CSRF, and a reply held back when the customer wrote meanwhile."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ingest.web.app import create_app
from storage.db import SessionFactory
from storage.models import CannedAnswer, Customer, LabelCorrection, Message, Ticket
from tests.support.pages import Client, add_officer, csrf_of, sign_in

AiohttpClient = Callable[..., Awaitable[Client]]
NOW = datetime(2026, 5, 6, 3, 0, tzinfo=UTC)  # Wednesday 10:00 in Hà Nội
H = timedelta(hours=1)
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="alert(1)"> Đơn 123 thiếu hàng'
MAIL_HTML = ('<p onclick="steal()">Chào anh, <b>hóa đơn</b> sai.</p><script>bad()</script>'
             '<div class="gmail_quote">Vào 5/5 đã viết:<blockquote>câu trả lời cũ</blockquote>'
             '</div>')


async def _seed(sessions: SessionFactory, files: Path) -> dict[str, Any]:
    kho = await add_officer(sessions, "Kho", ["warehouse"])
    await add_officer(sessions, "Kho Hai", ["warehouse"])
    await add_officer(sessions, "Trưởng kho", ["warehouse"], role="lead")
    await add_officer(sessions, "Kế toán", ["accounting"])
    stored = files / "ab" / "bien-ban.pdf"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"%PDF-1.4 bien ban")
    created = NOW - 2 * H
    async with sessions() as session, session.begin():
        customer = Customer(name="Công ty TNHH Minh Phát", name_key="minh phat",
                            tax_code="0312345678", tier="key", owner_id=kho)
        session.add(customer)
        await session.flush()
        tickets = []
        for name, status in (("main", "assigned"), ("older", "resolved")):
            ticket = Ticket(public_id=uuid.uuid4(), channel="email", thread_key=name,
                            status=status, category="quantity", priority="high",
                            queue="warehouse", subject=f"Thiếu hàng {name}", assignee_id=kho,
                            customer_id=customer.id, created_at=created, updated_at=created,
                            first_response_due=NOW + H, resolution_due=NOW + 8 * H,
                            entities={"order_numbers": ["DH-123"], "amount": "2 thùng"})
            session.add(ticket)
            await session.flush()
            tickets.append(ticket)
        main = tickets[0]
        session.add(Message(ticket_id=main.id, envelope_id=uuid.uuid4(), channel="email",
                            external_id="m-1", sender_name="Chị Hoa", text=HOSTILE,
                            sent_at=created, received_at=created))
        session.add(Message(ticket_id=main.id, envelope_id=uuid.uuid4(), channel="email",
                            external_id="m-2", sender_name="Chị Hoa", text="hóa đơn sai",
                            html=MAIL_HTML, sent_at=created + H / 2,
                            received_at=created + H / 2,
                            attachments={"files": [
                                {"name": "biên bản.pdf", "content_type": "application/pdf",
                                 "size": 17, "sha256": "ab", "stored_at": str(stored)},
                                {"name": "secret", "content_type": "text/plain", "size": 1,
                                 "sha256": "cd", "stored_at": "/etc/passwd"}]}))
        session.add(CannedAnswer(queue="warehouse", title="Xin lỗi giao thiếu",
                                 text="Kính gửi {khach_hang}, phiếu {so_phieu}: {nhan_vien} "
                                      "sẽ giao bù {ngay}.", updated_at=NOW))
        await session.flush()
        return {"main": main.number, "older": tickets[1].number, "id": main.id}


@pytest.fixture
async def desk(backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
               tmp_path: Path) -> tuple[Client, dict[str, Any], SessionFactory]:
    seeded = await _seed(sessions, tmp_path / "files")
    app = create_app(backend.settings(attachment_dir=tmp_path / "files"), ("webhooks",),
                     clock=lambda: NOW)
    return await aiohttp_client(app), seeded, sessions


async def test_the_page_shows_thread_customer_and_deadlines_as_text(
        desk: tuple[Client, dict[str, Any], SessionFactory]) -> None:
    client, seeded, _ = desk
    await sign_in(client, "kho")
    resp = await client.get(f"/inbox/tickets/{seeded['main']}")
    assert resp.status == 200
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    html = await resp.text()
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img" in html
    assert "<script>window" not in html and "onerror=" not in html.replace("onerror=&#34;", "")
    # mail HTML sanitized: markup kept, script and handlers gone, the quote folded
    assert "<b>hóa đơn</b>" in html and "steal()" not in html and "bad()" not in html
    assert "<details><summary>Nội dung trích dẫn</summary>" in html
    assert "câu trả lời cũ" in html.split("<details>", 1)[1]
    for text in ("Công ty TNHH Minh Phát", "0312345678", "key", seeded["older"], "DH-123",
                 "11:00 06/05/2026", "18:00 06/05/2026",  # the deadlines in Hà Nội time
                 "Chưa cấu hình bộ gửi cho Thư điện tử"):
        assert text in html, text
    assert f"/inbox/tickets/{seeded['main']}/files/" in html
    assert html.count("/files/") == 1  # the file outside the store is listed, not linked


async def test_attachments_only_for_who_may_see_the_ticket(
        desk: tuple[Client, dict[str, Any], SessionFactory]) -> None:
    client, seeded, sessions = desk
    async with sessions() as session:
        mid = await session.scalar(select(Message.id).where(Message.external_id == "m-2"))
    await sign_in(client, "kho")
    url = f"/inbox/tickets/{seeded['main']}/files/{mid}"
    resp = await client.get(f"{url}/0")
    assert resp.status == 200 and await resp.read() == b"%PDF-1.4 bien ban"
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    for bad in (f"{url}/1", f"{url}/2", f"{url}/x", f"/inbox/tickets/{seeded['main']}/files/1/0"):
        assert (await client.get(bad)).status == 404, bad
    await sign_in(client, "Kế toán")
    assert (await client.get(f"{url}/0")).status == 404


async def test_another_queues_agent_gets_404_by_every_url(
        desk: tuple[Client, dict[str, Any], SessionFactory]) -> None:
    client, seeded, _ = desk
    base = f"/inbox/tickets/{seeded['main']}"
    assert (await client.get(base, allow_redirects=False)).status == 303  # signed out: login
    csrf = await sign_in(client, "Kế toán")
    assert (await client.get(base)).status == 404
    assert (await client.get(f"/inbox/tickets/{seeded['id']}")).status == 404
    assert (await client.get(f"{base}/answers?q=xin")).status == 404
    for action in ("claim", "reply", "note", "resolve", "reassign", "relabel", "reopen", "waiting",
                   "resume", "retry", "callback", "call"):
        resp = await client.post(f"{base}/{action}", data={"csrf_token": csrf, "text": "x"})
        assert resp.status == 404, action
    assert (await client.get("/inbox/tickets/CSKH-999999")).status == 404
    assert (await client.get("/inbox/tickets/%C2%B2")).status == 404


async def test_a_post_without_the_csrf_token_is_refused(
        desk: tuple[Client, dict[str, Any], SessionFactory]) -> None:
    client, seeded, sessions = desk
    await sign_in(client, "kho")
    base = f"/inbox/tickets/{seeded['main']}"
    for data in ({"text": "x"}, {"text": "x", "csrf_token": "wrong"}):
        assert (await client.post(f"{base}/reply", data=data)).status == 403
        assert (await client.post(f"{base}/resolve", data=data)).status == 403
    async with sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.id == seeded["id"]))
        assert ticket is not None and ticket.status == "assigned"
        assert await session.scalar(select(func.count(Message.id)).where(
            Message.direction != "inbound")) == 0


async def test_answers_note_reply_relabel_resolve_reopen(
        desk: tuple[Client, dict[str, Any], SessionFactory]) -> None:
    client, seeded, sessions = desk
    await sign_in(client, "kho")
    base = f"/inbox/tickets/{seeded['main']}"
    page = await (await client.get(base)).text()
    csrf = csrf_of(page)
    last = page.split('name="last_message_id" value="', 1)[1].split('"', 1)[0]

    answers = await (await client.get(f"{base}/answers?q=giao thieu")).text()
    assert (f'data-text="Kính gửi Công ty TNHH Minh Phát, phiếu {seeded["main"]}: Kho sẽ '
            'giao bù {ngay}."') in answers
    assert "Không có" in await (await client.get(f"{base}/answers?q=khong+co")).text()

    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}
    resp = await client.post(f"{base}/note", data={"text": "Gọi kho Bình Dương"}, headers=htmx)
    assert resp.status == 200 and "Đã lưu ghi chú." in await resp.text()
    resp = await client.post(f"{base}/reply", data={"text": " ", "last_message_id": last},
                             headers=htmx)
    refused = await resp.text()  # the reason in Vietnamese, never the API's English or code
    assert resp.status == 400 and "Câu trả lời đang trống." in refused
    assert "the reply has no text" not in refused and "empty_reply" not in refused

    # the customer writes while the officer types: nothing sent, the draft kept
    async with sessions() as session, session.begin():
        session.add(Message(ticket_id=seeded["id"], envelope_id=uuid.uuid4(), channel="email",
                            external_id="m-3", sender_name="Chị Hoa",
                            text="Em gửi thêm ảnh thùng hàng", sent_at=NOW, received_at=NOW))
    resp = await client.post(f"{base}/reply", headers=htmx, data={
        "text": "Dạ bên em giao bù ạ", "last_message_id": last})
    body = await resp.text()
    assert resp.status == 409 and "Khách vừa gửi thêm tin nhắn" in body
    assert "Em gửi thêm ảnh thùng hàng" in body and ">Dạ bên em giao bù ạ</textarea>" in body
    newer = body.split('name="last_message_id" value="', 1)[1].split('"', 1)[0]
    key = body.split('name="idempotency_key" value="', 1)[1].split('"', 1)[0]
    for _ in range(2):  # the same form sent twice (a double click): one reply
        resp = await client.post(f"{base}/reply", allow_redirects=False, data={
            "csrf_token": csrf, "text": "Dạ bên em giao bù ạ", "last_message_id": newer,
            "idempotency_key": key})
        assert resp.status == 303
    page = await (await client.get(base)).text()
    assert 'data-direction="outbound"' in page and "Kênh này chưa có bộ gửi" in page

    resp = await client.post(f"{base}/relabel", headers=htmx,
                             data={"category": "delivery", "priority": "urgent"})
    assert resp.status == 200
    resp = await client.post(f"{base}/relabel", headers=htmx, data={"category": "bogus"})
    refused = await resp.text()
    assert resp.status == 400 and "Hãy chọn phân loại và mức ưu tiên trong danh sách." in refused
    assert "category must be one of" not in refused
    resp = await client.post(f"{base}/resolve", headers=htmx)
    assert resp.status == 200 and 'id="reopen"' in await resp.text()
    resp = await client.post(f"{base}/reopen", headers=htmx)
    assert resp.status == 200 and 'id="t-status" class="badge status-open"' in await resp.text()
    async with sessions() as session:
        kinds = list(await session.scalars(select(Message.direction).where(
            Message.ticket_id == seeded["id"]).order_by(Message.id)))
        assert kinds == ["inbound", "inbound", "note", "inbound", "outbound"]
        correction = await session.scalar(select(LabelCorrection))
        assert correction is not None and (correction.category, correction.priority) == (
            "delivery", "urgent")
        assert correction.previous == {"category": "quantity", "priority": "high"}
        ticket = await session.get(Ticket, seeded["id"])
        assert ticket is not None and ticket.reopen_count == 1


async def test_only_a_lead_reassigns(desk: tuple[Client, dict[str, Any], SessionFactory]) -> None:
    client, seeded, sessions = desk
    base = f"/inbox/tickets/{seeded['main']}"
    csrf = await sign_in(client, "kho")
    assert 'id="reassign"' not in await (await client.get(base)).text()
    resp = await client.post(f"{base}/reassign", data={"csrf_token": csrf, "staff": "Kho Hai"})
    assert resp.status == 403
    csrf = await sign_in(client, "trưởng kho")
    page = await (await client.get(base)).text()
    assert '<option value="Kho Hai">' in page
    resp = await client.post(f"{base}/reassign", allow_redirects=False,
                             data={"csrf_token": csrf, "staff": "Kho Hai"})
    assert resp.status == 303
    async with sessions() as session:
        ticket = await session.get(Ticket, seeded["id"])
        assert ticket is not None and ticket.assignee_id is not None
        customer = await session.scalar(select(Customer))
        assert customer is not None and ticket.assignee_id != customer.owner_id


async def _reply_row(sessions: SessionFactory, ticket_id: int, text: str,
                     **delivery: Any) -> int:
    async with sessions() as session, session.begin():
        message = Message(ticket_id=ticket_id, envelope_id=uuid.uuid4(), channel="email",
                          direction="outbound", external_id=f"r-{uuid.uuid4()}",
                          sender_name="Kho", text=text, sent_at=NOW, received_at=NOW,
                          raw={"emitted": True}, **delivery)
        session.add(message)
        await session.flush()
        return message.id


async def test_each_reply_shows_its_delivery_and_a_failed_one_can_be_sent_again(
        desk: tuple[Client, dict[str, Any], SessionFactory]) -> None:
    client, seeded, sessions = desk
    base = f"/inbox/tickets/{seeded['main']}"
    sent = await _reply_row(sessions, seeded["id"], "đã gửi", delivery_status="sent",
                            delivery_ref="<a@x>")
    failed = await _reply_row(
        sessions, seeded["id"], "lỗi token", delivery_status="failed",
        delivery_code="token_invalid", delivery_reason="535 5.7.8 <b>Authentication</b> failed")
    manual = await _reply_row(sessions, seeded["id"], "không có bộ gửi",
                              delivery_status="failed", delivery_code="no_sender",
                              delivery_reason="no sender configured for email")
    csrf = await sign_in(client, "kho")
    page = await (await client.get(base)).text()

    def article(html: str, mid: int) -> str:
        return html.split(f'id="m-{mid}"', 1)[1].split("</article>", 1)[0]

    assert 'data-state="sent"' in article(page, sent) and "Đã gửi" in article(page, sent)
    shown = article(page, failed)
    assert 'data-state="failed"' in shown and "Chưa gửi được" in shown
    assert "Mã truy cập của kênh không hợp lệ hoặc đã hết hạn" in shown  # the reason in Vietnamese
    assert "535 5.7.8 &lt;b&gt;Authentication&lt;/b&gt; failed" in shown  # the provider's, as text
    assert f'name="message_id" value="{failed}"' in shown and 'id="retry-' in shown
    # no sender for the channel: sending again would fail the same way, so no button
    assert 'data-state="failed"' in article(page, manual)
    assert "retry" not in article(page, manual)

    # the same retry as the API: CSRF first, then only the failed reply, once
    assert (await client.post(f"{base}/retry", data={"message_id": str(failed)})).status == 403
    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}
    resp = await client.post(f"{base}/retry", data={"message_id": str(failed)}, headers=htmx)
    body = await resp.text()
    assert resp.status == 200 and "Đang gửi lại tin trả lời." in body
    assert f'id="retry-{failed}"' not in body
    resp = await client.post(f"{base}/retry", data={"message_id": str(failed)}, headers=htmx)
    assert resp.status == 409 and "không còn ở trạng thái lỗi" in await resp.text()
    for bad in (str(sent), "x", "99999999"):
        resp = await client.post(f"{base}/retry", data={"message_id": bad}, headers=htmx)
        assert resp.status in (404, 409), bad
    async with sessions() as session:
        row = await session.get(Message, failed)
        assert row is not None and row.delivery_status == "pending"
        assert row.delivery_attempts == 1 and row.delivery_code is None
        assert row.raw["emitted"] is True  # emitted on the bus after the commit
        other = await session.get(Message, sent)
        assert other is not None and other.delivery_status == "sent"

    # another queue's agent cannot retry it by URL
    csrf = await sign_in(client, "Kế toán")
    resp = await client.post(f"{base}/retry", data={"csrf_token": csrf,
                                                   "message_id": str(manual)})
    assert resp.status == 404
