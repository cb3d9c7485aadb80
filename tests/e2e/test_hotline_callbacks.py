"""Hotline tickets are answered by calling back, on both backend pairs.

A missed call comes in through the signed cloud-PBX webhook and becomes a ticket; the staff
API shows the number to call (a ``tel:`` link); the officer records each callback's outcome,
stored as the ticket's outbound message; the ticket cannot be resolved until a callback
reached the customer; a callback is never emitted for a sender nor retried.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.signing import hmac_sha256_hex
from ingest.cli import main
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from tests.support.desk import Client, StaffDesk
from tests.support.pbx import running_pbx

AiohttpClient = Callable[[web.Application], Awaitable[Client]]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hotline"
SECRET = "e2e-hotline-secret"


def missed_call() -> tuple[bytes, str]:
    body = copy.deepcopy(json.loads((FIXTURES / "hangup__no_answer.json").read_text(
        encoding="utf-8"))["body"])
    body["call_id"] = str(uuid.uuid4())
    return json.dumps(body, ensure_ascii=False).encode(), body["call_id"]


@pytest.fixture
async def desk(backend: Any, aiohttp_client: AiohttpClient,
               wait_for: Callable[..., Awaitable[Any]]) -> AsyncIterator[StaffDesk]:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        lan = await add_staff(session, "Lan", ["cskh", "sales", "accounting", "warehouse",
                                               "technical"], capacity=50)
    await engine.dispose()
    client = await aiohttp_client(create_app(backend.settings(hotline_secret=SECRET)))
    yield StaffDesk(client, {"Authorization": f"Bearer {lan.token}"}, wait_for)


async def callback(desk: StaffDesk, ticket: dict[str, Any], **body: Any) -> tuple[int, Any]:
    resp = await desk.client.post(f"/api/v1/tickets/{ticket['id']}/callback",
                                  headers=desk.auth, json=body)
    return resp.status, await resp.json()


async def test_a_missed_call_stays_open_until_a_callback_reaches_the_customer(
        desk: StaffDesk) -> None:
    body, call_id = missed_call()
    resp = await desk.client.post("/webhooks/hotline", data=body, headers={
        "Content-Type": "application/json",
        "X-CSKH-Signature": "sha256=" + hmac_sha256_hex(SECRET, body)})
    assert resp.status == 200, await resp.text()
    ticket = await desk.ticket_with_message(call_id)
    assert ticket["callback"] == {"number": "+84912345678", "tel": "tel:+84912345678",
                                  "needed": True}

    resolve = await desk.client.post(f"/api/v1/tickets/{ticket['id']}/resolve",
                                     headers=desk.auth)
    assert resolve.status == 409 and (await resolve.json())["error"] == "callback_needed"

    status, after = await callback(desk, ticket, outcome="no_answer",
                                   note="Gọi lúc 10h, khách không nghe máy")
    assert status == 200, after
    tried = after["messages"][-1]
    assert tried["direction"] == "outbound" and tried["text"] == \
        "Gọi lúc 10h, khách không nghe máy"
    assert tried["callback"] == {"outcome": "no_answer", "number": "+84912345678"}
    assert tried["delivery"]["status"] == "failed" and tried["delivery"]["code"] == "no_answer"
    assert tried["delivery"]["reason_vi"] == "Khách không nghe máy khi gọi lại."
    assert after["callback"]["needed"] is True and after["status"] != "resolved"
    retry = await desk.client.post(
        f"/api/v1/tickets/{ticket['id']}/messages/{tried['id']}/retry", headers=desk.auth)
    assert retry.status == 409 and (await retry.json())["error"] == "not_a_reply"

    status, busy = await callback(desk, ticket, outcome="busy")
    assert status == 200 and busy["messages"][-1]["delivery"]["code"] == "busy"
    status, reached = await callback(desk, ticket, outcome="reached",
                                     note="Khách hẹn chiều gửi hóa đơn <b>VAT</b>")
    assert status == 200, reached
    assert reached["callback"]["needed"] is False and reached["status"] == "open"
    assert reached["messages"][-1]["delivery"]["status"] == "sent"
    assert reached["messages"][-1]["text"] == "Khách hẹn chiều gửi hóa đơn <b>VAT</b>"
    resolve = await desk.client.post(f"/api/v1/tickets/{ticket['id']}/resolve",
                                     headers=desk.auth)
    assert resolve.status == 200 and (await resolve.json())["status"] == "resolved"


async def test_resolved_on_the_call_resolves_and_bad_callbacks_are_refused(
        desk: StaffDesk) -> None:
    body, call_id = missed_call()
    resp = await desk.client.post("/webhooks/hotline", data=body, headers={
        "Content-Type": "application/json",
        "X-CSKH-Signature": "sha256=" + hmac_sha256_hex(SECRET, body)})
    assert resp.status == 200
    ticket = await desk.ticket_with_message(call_id)
    reply = await desk.client.post(f"/api/v1/tickets/{ticket['id']}/reply", headers=desk.auth,
                                   json={"text": "Dạ em chào anh"})
    assert reply.status == 409 and (await reply.json())["error"] == "call_back"
    status, refused = await callback(desk, ticket, outcome="maybe")
    assert status == 400 and refused["error"] == "invalid_outcome"
    status, refused = await callback(desk, ticket, note="no outcome")
    assert status == 400 and refused["error"] == "invalid_field"
    status, refused = await callback(desk, ticket, outcome="reached", note="x" * 5001)
    assert status == 400 and refused["error"] == "note_too_long"
    status, done = await callback(desk, ticket, outcome="resolved",
                                  note="Đã hướng dẫn khách đổi mật khẩu qua điện thoại")
    assert status == 200 and done["status"] == "resolved" and done["callback"]["needed"] is False
    assert [m["callback"]["outcome"] for m in done["messages"] if m["callback"]] == ["resolved"]
    status, closed = await callback(desk, ticket, outcome="reached")
    assert status == 409 and closed["error"] == "ticket_closed"
    missing = await desk.client.post("/api/v1/tickets/999999/callback", headers=desk.auth,
                                     json={"outcome": "reached"})
    assert missing.status == 404


async def test_click_to_call_places_the_call_through_the_pbx(
        backend: Any, aiohttp_client: AiohttpClient,
        wait_for: Callable[..., Awaitable[Any]]) -> None:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        lan = await add_staff(session, "Lan", ["cskh", "sales", "accounting", "warehouse",
                                               "technical"], email="lan@congty.vn")
    await engine.dispose()
    async with running_pbx(SECRET) as pbx:
        client = await aiohttp_client(create_app(backend.settings(
            hotline_secret=SECRET, hotline_call_url=pbx.url)))
        desk = StaffDesk(client, {"Authorization": f"Bearer {lan.token}"}, wait_for)
        body, call_id = missed_call()
        resp = await client.post("/webhooks/hotline", data=body, headers={
            "Content-Type": "application/json",
            "X-CSKH-Signature": "sha256=" + hmac_sha256_hex(SECRET, body)})
        assert resp.status == 200
        ticket = await desk.ticket_with_message(call_id)
        placed = await client.post(f"/api/v1/tickets/{ticket['number']}/call",
                                   headers=desk.auth)
        assert placed.status == 200, await placed.text()
        assert await placed.json() == {"ticket": ticket["number"], "number": "+84912345678",
                                       "call_id": "pbx-1"}
        assert len(pbx.calls) == 1 and pbx.calls[0]["to"] == "+84912345678"
        assert pbx.calls[0]["agent"] == "Lan" and pbx.calls[0]["agent_email"] == \
            "lan@congty.vn" and pbx.calls[0]["reference"] == ticket["number"]
        pbx.down = True
        away = await client.post(f"/api/v1/tickets/{ticket['id']}/call", headers=desk.auth)
        assert away.status == 502 and (await away.json())["error"] == "pbx_unavailable"
        assert SECRET not in (await away.json())["reason"]
        assert (await client.post(f"/api/v1/tickets/{ticket['id']}/call")).status == 401


async def test_without_a_pbx_the_officer_is_told_to_dial(desk: StaffDesk) -> None:
    body, call_id = missed_call()
    resp = await desk.client.post("/webhooks/hotline", data=body, headers={
        "Content-Type": "application/json",
        "X-CSKH-Signature": "sha256=" + hmac_sha256_hex(SECRET, body)})
    assert resp.status == 200
    ticket = await desk.ticket_with_message(call_id)
    off = await desk.client.post(f"/api/v1/tickets/{ticket['id']}/call", headers=desk.auth)
    assert off.status == 409
    assert await off.json() == {"error": "click_to_call_off", "reason": "no cloud PBX is set "
                                "(CSKH_HOTLINE_CALL_URL): dial +84912345678"}


async def test_the_cli_records_a_callback_as_the_api_does(
        desk: StaffDesk, backend: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    body, call_id = missed_call()
    resp = await desk.client.post("/webhooks/hotline", data=body, headers={
        "Content-Type": "application/json",
        "X-CSKH-Signature": "sha256=" + hmac_sha256_hex(SECRET, body)})
    assert resp.status == 200
    ticket = await desk.ticket_with_message(call_id)
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    argv = ["ticket", "callback", ticket["number"], "--outcome", "busy", "--as", "lan",
            "--json"]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out  # the service's console log shares stdout here
    shown, _end = json.JSONDecoder().raw_decode(out[out.index("{\n"):])
    assert shown["messages"][-1]["callback"]["outcome"] == "busy"
    assert shown["callback"]["needed"] is True
    assert await asyncio.to_thread(main, ["ticket", "resolve", ticket["number"], "--as",
                                          "Lan"]) == 2
    assert "callback_needed" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [
        "ticket", "callback", ticket["number"], "--outcome", "resolved", "--note",
        "Đã xử lý qua điện thoại", "--as", "Lan"]) == 0
    after = await desk.client.get(f"/api/v1/tickets/{ticket['id']}", headers=desk.auth)
    assert (await after.json())["status"] == "resolved"
