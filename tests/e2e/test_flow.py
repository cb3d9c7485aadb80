"""End to end through HTTP on both backend pairs: forms in, assigned tickets out."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from connectors.envelope import envelope_id
from connectors.signing import hmac_sha256_hex
from ingest.keys import BUS
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]

# (category expected, queue expected, subject, message)
FORMS = [
    ("invoice", "accounting", "Hóa đơn sai MST",
     "Hóa đơn VAT số 0000123 ghi sai mã số thuế, đề nghị xuất lại hóa đơn điện tử."),
    ("delivery", "warehouse", "Chưa nhận được hàng",
     "Đơn hàng tuần trước đến nay chua nhan duoc hang, xin kiểm tra vận chuyển giúp."),
    ("price", "sales", "Báo giá",
     "Anh chị gửi giúp em bảng giá và báo giá mới nhất cho 200 thùng nhé."),
    ("warranty", "technical", "Bảo hành máy",
     "Máy mua tháng 3 còn bảo hành không, giờ bị kêu to 😡"),
    ("quality", "cskh", "Hàng lỗi",
     "Lô hàng vừa nhận bị lỗi, nhiều sản phẩm hỏng và kém chất lượng."),
]


async def _staff(url: str) -> dict[str, str]:
    engine = create_engine(url)
    await upgrade(engine)
    tokens: dict[str, str] = {}
    async with session_factory(engine)() as session, session.begin():
        for queue in ("accounting", "warehouse", "sales", "technical", "cskh"):
            made = await add_staff(session, f"Officer {queue}", [queue], capacity=50)
            tokens[queue] = made.token
    await engine.dispose()
    return tokens


@pytest.fixture
async def service(backend: Any, aiohttp_client: AiohttpClient
                  ) -> AsyncIterator[tuple[Client, dict[str, str]]]:
    tokens = await _staff(backend.database_url)
    client = await aiohttp_client(create_app(backend.settings()))
    yield client, tokens


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def my_queue(client: Client, token: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/queue", headers=auth(token))
    assert resp.status == 200
    body = await resp.json()
    tickets: list[dict[str, Any]] = body["tickets"]
    return tickets


async def test_forms_become_assigned_tickets_in_the_right_queue(
    service: tuple[Client, dict[str, str]], wait_for: Callable[..., Awaitable[object]]
) -> None:
    client, tokens = service
    for i, (_, _, subject, message) in enumerate(FORMS):
        resp = await client.post("/webhooks/webform", json={
            "name": f"Khách hàng {i}", "company": "Công ty TNHH Minh Phát",
            "email": f"KH{i}@MinhPhat.vn", "phone": "0912 345 678", "subject": subject,
            "message": message,
        })
        assert resp.status == 202, await resp.text()
    for category, queue, subject, message in FORMS:
        async def assigned(queue: str = queue) -> list[dict[str, Any]]:
            return await my_queue(client, tokens[queue])

        tickets = await wait_for(assigned)
        assert isinstance(tickets, list) and len(tickets) == 1
        ticket = tickets[0]
        assert ticket["category"] == category
        assert ticket["queue"] == queue
        assert ticket["assignee"]["name"] == f"Officer {queue}"
        assert ticket["status"] == "assigned"
        assert ticket["subject"] == subject
        assert ticket["messages"][0]["text"] == message
        assert ticket["customer"]["name"] == "Công ty TNHH Minh Phát"
        assert ticket["contact"]["phone"] == "+84912345678"
        for field in ("id", "number", "channel", "priority", "sentiment", "created_at",
                      "first_response_due", "resolution_due"):
            assert field in ticket
        assert 0 < ticket["category_confidence"] <= 1
        assert 0 < ticket["priority_confidence"] <= 1
        assert 0 < ticket["sentiment_confidence"] <= 1
        assert ticket["priority"] in ("urgent", "high", "normal", "low")
        assert ticket["sentiment"] in ("negative", "neutral", "positive")
        if category == "invoice":
            assert ticket["entities"]["invoice_numbers"] == ["0000123"]
        assert ticket["first_response_due"] is not None
        assert ticket["resolution_due"] >= ticket["first_response_due"]

        detail = await client.get(f"/api/v1/tickets/{ticket['number']}",
                                  headers=auth(tokens[queue]))
        assert detail.status == 200
        assert (await detail.json())["id"] == ticket["id"]

    other = await client.get(f"/api/v1/tickets/{ticket['id']}", headers=auth(tokens["sales"]))
    assert other.status == 404
    assert (await client.get("/api/v1/queue")).status == 401
    assert (await client.get("/api/v1/queue", headers=auth("cskh_wrong"))).status == 401


async def test_the_same_submission_retried_makes_one_ticket(
    service: tuple[Client, dict[str, str]], wait_for: Callable[..., Awaitable[object]]
) -> None:
    client, tokens = service
    form = {"name": "Trần Thị Hoa", "email": "hoa@abc.vn", "subject": "Công nợ",
            "message": "Đề nghị đối chiếu công nợ tháng 10.", "submission_id": "form-7781"}
    ids = set()
    # The media type is matched without case and without its parameters.
    for content_type in ("application/json", "application/json; charset=utf-8",
                         "Application/JSON"):
        resp = await client.post("/webhooks/webform", data=json.dumps(form).encode(),
                                 headers={"Content-Type": content_type})
        assert resp.status == 202
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        ids.update((await resp.json())["ids"])
    assert len(ids) == 1
    assert uuid.UUID(ids.pop()) == envelope_id("webform", "form-7781")
    # A different submission afterwards proves the first three were all processed.
    resp = await client.post("/webhooks/webform", json={**form, "submission_id": "form-7782"})
    assert resp.status == 202

    async def two() -> list[dict[str, Any]]:
        tickets = await my_queue(client, tokens["accounting"])
        return tickets if len(tickets) >= 2 else []

    tickets = await wait_for(two)
    assert isinstance(tickets, list) and len(tickets) == 2


async def test_urlencoded_form_with_vietnamese(
    service: tuple[Client, dict[str, str]], wait_for: Callable[..., Awaitable[object]]
) -> None:
    client, tokens = service
    resp = await client.post("/webhooks/webform", data={
        "name": "Phạm Quốc Bảo", "phone": "+84 987 654 321",
        "message": "Cho em xin báo giá ống nhựa PVC phi 90 ạ",
    })
    assert resp.status == 202

    async def queued() -> list[dict[str, Any]]:
        return await my_queue(client, tokens["sales"])

    tickets = await wait_for(queued)
    assert isinstance(tickets, list)
    assert tickets[0]["messages"][0]["text"] == "Cho em xin báo giá ống nhựa PVC phi 90 ạ"


@pytest.mark.parametrize(("body", "content_type", "status", "reason_part"), [
    (b'{"name": "A", "message": ', "application/json", 400, "malformed JSON"),
    (b'{"name": "A", "email": "a@b.vn"}', "application/json", 400, "message"),
    (b'{"name": 12, "email": "a@b.vn", "message": "x"}', "application/json", 400, "name"),
    (b'{"name": "A", "message": "x"}', "application/json", 400, "email or phone"),
    (b'["not", "an", "object"]', "application/json", 400, "object"),
    (b'{"name": "A\xff", "email": "a@b.vn", "message": "x"}', "application/json", 400, "UTF-8"),
    (b"<xml/>", "text/xml", 400, "content type"),
    (b"<xml/>", None, 400, "content type"),
    # Nesting deep enough to make a recursive reader give up is refused, not a 500.
    (b'{"name": "A", "email": "a@b.vn", "message": "x", "extra": ' + b"[" * 5000
     + b"]" * 5000 + b"}", "application/json", 400, "malformed JSON"),
    (b'{"name": "A", "email": "a@b.vn", "message": "' + b"x" * 70_000 + b'"}',
     "application/json", 413, "limit"),
])
async def test_bad_input_gets_a_clear_4xx(
    service: tuple[Client, dict[str, str]], body: bytes, content_type: str | None, status: int,
    reason_part: str,
) -> None:
    client, _ = service
    resp = await client.post("/webhooks/webform", data=body,
                             headers={"Content-Type": content_type} if content_type else {},
                             skip_auto_headers=["Content-Type"])
    assert resp.status == status
    payload = await resp.json()
    assert reason_part in payload["reason"]
    assert payload["error"]


async def test_signed_forms_need_the_right_signature(
    backend: Any, aiohttp_client: AiohttpClient
) -> None:
    await _staff(backend.database_url)
    client = await aiohttp_client(create_app(backend.settings(webform_secret="s3cr3t-form")))
    body = json.dumps({"name": "Lý Thu", "phone": "0903123456",
                       "message": "Hàng giao thiếu 2 thùng"}).encode()
    good = "sha256=" + hmac_sha256_hex("s3cr3t-form", body)
    bad = "sha256=" + hmac_sha256_hex("other-secret", body)
    headers = {"Content-Type": "application/json"}
    assert (await client.post("/webhooks/webform", data=body, headers=headers)).status == 401
    resp = await client.post("/webhooks/webform", data=body,
                             headers={**headers, "X-CSKH-Signature": bad})
    assert resp.status == 401
    resp = await client.post("/webhooks/webform", data=body + b" ",
                             headers={**headers, "X-CSKH-Signature": good})
    assert resp.status == 401
    resp = await client.post("/webhooks/webform", data=body,
                             headers={**headers, "X-CSKH-Signature": good})
    assert resp.status == 202


async def test_cross_origin_posts_without_a_secret_are_refused(
    service: tuple[Client, dict[str, str]]
) -> None:
    client, _ = service
    resp = await client.post("/webhooks/webform", json={
        "name": "A", "email": "a@b.vn", "message": "x"},
        headers={"Origin": "https://evil.example"})
    assert resp.status == 403


async def test_bus_down_answers_503_and_health_endpoints(
    service: tuple[Client, dict[str, str]]
) -> None:
    client, _ = service
    ready = await client.get("/readyz")
    assert ready.status == 200
    metrics = await client.get("/metrics")
    assert "cskh_webhook_requests_total" in await metrics.text()
    assert (await client.get("/healthz")).status == 200
    await client.app[BUS].close()
    resp = await client.post("/webhooks/webform", json={
        "name": "A", "email": "a@b.vn", "message": "Hàng lỗi"})
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert (await client.get("/readyz")).status == 503
