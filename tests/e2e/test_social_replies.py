"""Staff replies on Messenger and Zalo OA tickets leave by the providers' APIs, on both backend
pairs.

The customer's message comes in through the signed webhook, as from Meta or Zalo; the reply is
written through the staff API; the ``senders`` role (here with no SMTP server at all) sends it
to a stand-in of the provider's API (``messenger_api``, ``zalo_api`` in ``tests/conftest.py``).
Sent once per event (a redelivered event sends nothing), in order and once per part when it is
longer than one message, retried while throttled, failed with the provider's code when
refused for good (the ticket API shows it), and sent exactly once when an officer retries it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.signing import hmac_sha256_hex, sha256_hex
from ingest.bus.base import OutgoingRecord
from ingest.bus.topics import OUTBOUND
from ingest.keys import BUS
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from tests.support.desk import Client, StaffDesk

AiohttpClient = Callable[[web.Application], Awaitable[Client]]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FB_SECRET, ZALO_SECRET, ZALO_APP = "e2e-fb-app-secret", "e2e-zalo-oa-secret", "2154781093528401638"
PSID = "7283946152038475"
ZALO_USER = "8438561224567893215"


def fixture_body(channel: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        (FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))["body"]
    return body


def now_ms() -> int:
    return int(time.time() * 1000)


def messenger_message(psid: str = PSID, text: str | None = None) -> dict[str, Any]:
    """``message__text`` from another PSID (a new conversation) with a fresh ``mid``."""
    body = copy.deepcopy(fixture_body("facebook", "message__text"))
    item = body["entry"][0]["messaging"][0]
    item["sender"]["id"] = psid
    item["message"]["mid"] = f"m_{uuid.uuid4().hex}"
    item["timestamp"] = body["entry"][0]["time"] = now_ms()  # inside the 24-hour window
    if text is not None:
        item["message"]["text"] = text
    return body


def zalo_message(user: str = ZALO_USER) -> dict[str, Any]:
    body = copy.deepcopy(fixture_body("zalo", "user_send_text__plain"))
    body["sender"]["id"] = user
    body["message"]["msg_id"] = uuid.uuid4().hex[:20]
    body["timestamp"] = str(now_ms())  # inside the 7-day window
    return body


def signed(channel: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers the provider would post (Meta escapes non-ASCII as ``\\uXXXX``)."""
    if channel == "facebook":
        body = json.dumps(payload).encode()
        return body, {"X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(FB_SECRET, body)}
    body = json.dumps(payload, ensure_ascii=False).encode()
    stamp = re.search(rb'"timestamp"\s*:\s*"?(\d+)', body)
    mac = sha256_hex(ZALO_APP.encode(), body, stamp.group(1) if stamp else b"",
                     ZALO_SECRET.encode())
    return body, {"X-ZEvent-Signature": f"mac={mac}"}


class Desk(StaffDesk):
    """The service under test, driven as a provider and an officer would."""

    def __init__(self, client: Client, token: str,
                 wait_for: Callable[..., Awaitable[Any]]) -> None:
        super().__init__(client, {"Authorization": f"Bearer {token}"}, wait_for)

    async def ticket_from(self, channel: str, payload: dict[str, Any]) -> dict[str, Any]:
        body, headers = signed(channel, payload)
        resp = await self.client.post(f"/webhooks/{channel}", data=body,
                                      headers={"Content-Type": "application/json", **headers})
        assert resp.status == 200, await resp.text()
        external_id = (payload["entry"][0]["messaging"][0]["message"]["mid"]
                       if channel == "facebook" else payload["message"]["msg_id"])
        return await self.ticket_with_message(external_id)

    async def received(self, api: Any, recipient: str, count: int) -> list[str]:
        async def enough() -> list[str] | None:
            texts: list[str] = api.texts(recipient)
            return texts if len(texts) >= count else None

        got: list[str] = await self.wait_for(enough, attempts=600)
        return got

    async def redeliver_outbound(self) -> None:
        """Every outbound event again, as after a sender crash before its commit."""
        bus = self.client.app[BUS]
        reader = bus.consumer(f"test-{uuid.uuid4().hex[:6]}", [OUTBOUND])
        await reader.start()
        records = await reader.poll(50, 5.0)
        await reader.close()
        assert records
        await bus.send_many([OutgoingRecord(topic=OUTBOUND, key=r.key, value=r.value)
                             for r in records])

    async def delivery(self, ticket: dict[str, Any], status: str,
                       index: int = -1) -> dict[str, Any]:
        """The delivery of the ticket's ``index``-th outbound message, once it is ``status``."""
        async def settled() -> dict[str, Any] | None:
            resp = await self.client.get(f"/api/v1/tickets/{ticket['id']}", headers=self.auth)
            outbound = [m for m in (await resp.json())["messages"]
                        if m["direction"] == "outbound"]
            found = outbound[index]["delivery"] if outbound else None
            return {**found, "message_id": outbound[index]["id"]} \
                if found and found["status"] == status else None

        got: dict[str, Any] = await self.wait_for(settled, attempts=600)
        return got

    async def retry(self, ticket: dict[str, Any], message_id: int) -> tuple[int, Any]:
        resp = await self.client.post(
            f"/api/v1/tickets/{ticket['id']}/messages/{message_id}/retry", headers=self.auth)
        return resp.status, await resp.json()


@pytest.fixture
async def desk(backend: Any, aiohttp_client: AiohttpClient, messenger_api: Any, zalo_api: Any,
               provider_answers: dict[str, Any],
               wait_for: Callable[..., Awaitable[Any]]) -> AsyncIterator[Desk]:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        queues = ["cskh", "sales", "accounting", "warehouse", "technical"]
        token = (await add_staff(session, "Lan", queues, role="admin", capacity=50)).token
    await engine.dispose()
    settings = backend.settings(
        facebook_app_secret=FB_SECRET, zalo_oa_secret=ZALO_SECRET, zalo_app_id=ZALO_APP,
        facebook_page_token=provider_answers["messenger_token"],
        facebook_graph_url=f"{messenger_api.url}/v21.0",
        zalo_oa_access_token=provider_answers["zalo_token"], zalo_api_url=zalo_api.url)
    assert settings.smtp_host is None  # the senders role runs for the chat senders alone
    client = await aiohttp_client(create_app(settings))
    yield Desk(client, token, wait_for)


async def test_a_messenger_reply_is_sent_once_in_order_and_retried_when_throttled(
        desk: Desk, messenger_api: Any, provider_answers: dict[str, Any]) -> None:
    ticket = await desk.ticket_from("facebook", messenger_message())
    await desk.reply(ticket, "Dạ em gửi báo giá thép hộp 40x80 ạ.")
    assert await desk.received(messenger_api, PSID, 1) == ["Dạ em gửi báo giá thép hộp 40x80 ạ."]

    # The event delivered again: nothing is sent twice; the next reply (same thread, so after
    # the copy on the same partition) is the only new message.
    await desk.redeliver_outbound()
    # A long reply goes as three messages; Meta throttles the second (613) once: the loop
    # backs off and sends the second and third, never the first again.
    long_reply = "Dạ bên em xin gửi bảng giá chi tiết từng mã hàng ạ. " * 90  # ≈ 4700 chars
    messenger_api.script.extend([None, provider_answers["graph_error"](
        613, "(#613) Calls to this API have exceeded the rate limit.")])
    attempts = messenger_api.attempts
    await desk.reply(ticket, long_reply)
    got = await desk.received(messenger_api, PSID, 4)
    assert len(got) == 4 and got[0] == "Dạ em gửi báo giá thép hộp 40x80 ạ."
    assert " ".join(got[1:]).split() == long_reply.split()
    assert all(len(text) <= 2000 for text in got)
    assert messenger_api.attempts - attempts == 4  # part 1, part 2 throttled, part 2, part 3


async def test_a_messenger_refusal_fails_with_the_code_others_still_go_and_a_retry_sends_once(
        desk: Desk, messenger_api: Any, provider_answers: dict[str, Any]) -> None:
    blocked = "6917345501234567"
    messenger_api.refuse[blocked] = provider_answers["graph_error"](
        551, "This person isn't available right now.", subcode=1545041)
    gone = await desk.ticket_from("facebook", messenger_message(blocked))
    fine = await desk.ticket_from("facebook", messenger_message())
    await desk.reply(gone, "Dạ em gửi báo giá ạ.")
    await desk.reply(fine, "Dạ em kiểm tra đơn ngay ạ.")
    assert await desk.received(messenger_api, PSID, 1) == ["Dạ em kiểm tra đơn ngay ạ."]
    sent = await desk.delivery(fine, "sent")
    assert sent["provider_ids"][0].startswith("m_") and sent["code"] is None
    failed = await desk.delivery(gone, "failed")
    assert failed["code"] == "recipient_unavailable"
    assert "Messenger error 551/1545041" in failed["reason"]
    assert failed["reason_vi"].startswith("Không thể liên lạc với khách hàng")
    assert messenger_api.texts(blocked) == []

    # The customer unblocked the Page: two officers (or two clicks) retry at once; one wins.
    del messenger_api.refuse[blocked]
    answers = await asyncio.gather(*(desk.retry(gone, failed["message_id"]) for _ in range(2)))
    assert sorted(status for status, _ in answers) == [200, 409], answers
    assert next(b for s, b in answers if s == 409)["error"] == "not_failed"
    retried = await desk.delivery(gone, "sent")
    assert retried["attempts"] == 1
    assert await desk.received(messenger_api, blocked, 1) == ["Dạ em gửi báo giá ạ."]
    await desk.redeliver_outbound()  # every copy again: still once
    assert (await desk.retry(gone, failed["message_id"]))[0] == 409
    status, body = await desk.retry(gone, sent["message_id"])
    assert (status, body["error"]) == (404, "not_found")  # another ticket's reply
    await desk.reply(gone, "Dạ em cảm ơn ạ.")
    assert await desk.received(messenger_api, blocked, 2) == [
        "Dạ em gửi báo giá ạ.", "Dạ em cảm ơn ạ."]


async def test_a_zalo_reply_is_sent_once_retried_when_throttled_and_refusals_failed(
        desk: Desk, zalo_api: Any, provider_answers: dict[str, Any]) -> None:
    ticket = await desk.ticket_from("zalo", zalo_message())
    zalo_api.script.append(provider_answers["zalo_answer"](-32, "Your OA reached limit call api"))
    await desk.reply(ticket, "Dạ em đã xuất lại hóa đơn GTGT số 0001532 ạ.")
    assert await desk.received(zalo_api, ZALO_USER, 1) == [
        "Dạ em đã xuất lại hóa đơn GTGT số 0001532 ạ."]
    assert zalo_api.attempts == 2  # throttled once, then accepted

    await desk.redeliver_outbound()
    await desk.reply(ticket, "Em gửi kèm biên bản điều chỉnh ạ.")
    assert await desk.received(zalo_api, ZALO_USER, 2) == [
        "Dạ em đã xuất lại hóa đơn GTGT số 0001532 ạ.", "Em gửi kèm biên bản điều chỉnh ạ."]

    silent = "8438561220000000001"
    zalo_api.refuse[silent] = provider_answers["zalo_answer"](
        -230, "User has not interacted with the OA in the past 7 days")
    late = await desk.ticket_from("zalo", zalo_message(silent))
    await desk.reply(late, "Dạ em phản hồi muộn ạ.")
    failed = await desk.delivery(late, "failed")
    assert failed["code"] == "window_closed" and "Zalo error -230" in failed["reason"]
    assert failed["reason_vi"].startswith("Khách hàng cần nhắn trước")
    assert len(zalo_api.texts(ZALO_USER)) == 2  # the copies of the redelivery sent nothing
