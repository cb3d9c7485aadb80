"""End to end on both backend pairs: every social, marketplace and hotline channel, through HTTP.

A stand-in per provider posts its captured payloads (``tests/fixtures/<channel>/``), signed the
provider's way, at a steady rate, and retries each delivery twice more, as providers do. Every
customer message must become exactly one message in one ticket; the hotline's on-prem CDR file
is tailed by the ``pullers`` role. How fast each channel answers is the channel benchmark's job
(``python -m tests.bench channels``), not a test's.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from connectors.signing import hmac_sha256_hex, sha256_hex
from ingest.web.app import create_app
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
QUEUES = ("cskh", "sales", "warehouse", "accounting", "technical")
SECRETS: dict[str, Any] = {
    "facebook_app_secret": "e2e-fb-app-secret", "facebook_verify_token": "e2e-fb-verify",
    "zalo_oa_secret": "e2e-zalo-oa-secret", "zalo_app_id": "2154781093528401638",
    "shopee_partner_key": "e2e-shopee-partner-key",
    "shopee_callback_url": "https://cskh.example.vn/webhooks/shopee",
    "lazada_app_key": "112233", "lazada_app_secret": "e2e-lazada-secret",
    "tiktok_app_key": "6c8f2k1q9m3d7", "tiktok_app_secret": "e2e-tiktok-secret",
    "hotline_secret": "e2e-hotline-secret",
}


# -- provider stand-ins ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    status: int
    body: Any


class Provider:
    """One provider's webhook sender: encodes, signs its way, posts at a steady rate."""

    def __init__(self, channel: str,
                 sign: Callable[[bytes], dict[str, str]], *, ascii_json: bool = False) -> None:
        self.channel = channel
        self._sign = sign
        self._ascii = ascii_json

    def encode(self, payload: Any) -> bytes:
        return json.dumps(payload, ensure_ascii=self._ascii).encode()

    def headers(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", **self._sign(body)}

    async def post(self, client: Client, body: bytes,
                   headers: dict[str, str] | None = None) -> Delivery:
        resp = await client.post(f"/webhooks/{self.channel}", data=body,
                                 headers=self.headers(body) if headers is None else headers)
        answer = await resp.json()
        return Delivery(resp.status, answer)

    async def deliver(self, client: Client, payloads: list[Any], *, rate: float = 40.0,
                      attempts: int = 3) -> list[Delivery]:
        """Each payload ``attempts`` times (a retrying provider), ``rate`` posts a second."""
        done = []
        for payload in payloads:
            body = self.encode(payload)
            for _ in range(attempts):
                done.append(await self.post(client, body))
                await asyncio.sleep(1 / rate)  # pacing the sender, not waiting for the service
        return done


def _zalo_mac(body: bytes) -> dict[str, str]:
    found = re.search(rb'"timestamp"\s*:\s*"?(\d+)', body)
    stamp = found.group(1) if found else b""
    mac = sha256_hex(SECRETS["zalo_app_id"].encode(), body, stamp,
                     SECRETS["zalo_oa_secret"].encode())
    return {"X-ZEvent-Signature": f"mac={mac}"}


PROVIDERS = {
    "facebook": Provider("facebook", lambda b: {
        "X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(SECRETS["facebook_app_secret"], b)},
        ascii_json=True),
    "zalo": Provider("zalo", _zalo_mac),
    "shopee": Provider("shopee", lambda b: {"Authorization": hmac_sha256_hex(
        SECRETS["shopee_partner_key"], SECRETS["shopee_callback_url"].encode(), b"|", b)}),
    "lazada": Provider("lazada", lambda b: {"Authorization": hmac_sha256_hex(
        SECRETS["lazada_app_secret"], SECRETS["lazada_app_key"].encode(), b)}),
    "tiktok": Provider("tiktok", lambda b: {"Authorization": hmac_sha256_hex(
        SECRETS["tiktok_app_secret"], SECRETS["tiktok_app_key"].encode(), b)}),
    "hotline": Provider("hotline", lambda b: {
        "X-CSKH-Signature": "sha256=" + hmac_sha256_hex(SECRETS["hotline_secret"], b)}),
}

# What each stand-in delivers: messages, replies of ours, receipts and unknown events alike.
DELIVERED = {
    "facebook": ["message__text", "message__image", "batch__two_pages", "delivery__receipt",
                 "message_echo__page_reply", "unknown__message_edit"],
    "zalo": ["user_send_text__plain", "user_send_file__xlsx", "anonymous_send_text__visitor",
             "user_seen_message__seen", "follow__oa_profile"],
    "shopee": ["webchat__text", "webchat__image", "webchat__shop_reply",
               "order_status__ready_to_ship"],
    "lazada": ["im_message__text", "im_message__seller_reply", "trade_order__packed",
               "unknown__message_type_77"],
    "tiktok": ["new_message__text", "new_message__shop_reply", "new_conversation__buyer"],
    "hotline": ["newCall__inbound", "hangup__no_answer", "hangup__answered_no_note",
                "hangup__abandoned_in_queue", "unknown__transfer"],
}


def fixture(channel: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))
    return data


def second_missed_call() -> dict[str, Any]:
    """The caller of ``hangup__no_answer`` tries again twenty minutes later."""
    body = fixture("hotline", "hangup__no_answer")["body"]
    return {**body, "call_id": "c0a8012e-7f3b-4d2a-9e61-20261127093500",
            "timestamp": "2026-11-27T09:36:10+07:00", "started_at": "2026-11-27T09:35:30+07:00"}


# -- the service -----------------------------------------------------------------------------------


async def _officer(url: str) -> str:
    engine = create_engine(url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        made = await add_staff(session, "Officer all channels", list(QUEUES), capacity=500)
    await engine.dispose()
    return made.token


CDR_LINE = ('"","0933444555","19006868","from-pstn","""Pham Quoc Bao"" <0933444555>",'
            '"SIP/mobifone-00000230","SIP/104-00000231","Dial","SIP/104,30,tT",'
            '"2026-11-27 15:00:00","","2026-11-27 15:00:30",30,0,"NO ANSWER","DOCUMENTATION",'
            '"1795766400.464",""\n')


@pytest.fixture
async def service(backend: Any, aiohttp_client: AiohttpClient, tmp_path: Path
                  ) -> AsyncIterator[tuple[Client, str, Path]]:
    token = await _officer(backend.database_url)
    cdr = tmp_path / "cdr-csv"
    cdr.mkdir()
    settings = backend.settings(**SECRETS, hotline_cdr_dir=cdr, hotline_cdr_poll_seconds=0.05)
    client = await aiohttp_client(create_app(settings))
    yield client, token, cdr


async def my_tickets(client: Client, token: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/queue", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    tickets: list[dict[str, Any]] = (await resp.json())["tickets"]
    return tickets


def expected_threads() -> dict[tuple[str, str], set[str]]:
    """(channel, thread) → the provider message ids that thread must hold, from the fixtures."""
    threads: dict[tuple[str, str], set[str]] = {}
    for channel, names in DELIVERED.items():
        for name in names:
            for envelope in fixture(channel, name)["expect"]["envelopes"]:
                if envelope.get("kind") == "contact":
                    continue  # a follow updates the contact; it is no message of a ticket
                key = (envelope["channel"], envelope["thread_key"])
                threads.setdefault(key, set()).add(envelope["external_id"])
    threads[("hotline", "+84912345678")].add(second_missed_call()["call_id"])
    threads[("hotline", "+84933444555")] = {"1795766400.464"}  # the CDR line
    return threads


# -- tests ---------------------------------------------------------------------------------------


async def test_every_channel_becomes_tickets_once(
    service: tuple[Client, str, Path], wait_for: Callable[..., Awaitable[object]]
) -> None:
    client, token, cdr = service
    (cdr / "Master.csv").write_text(CDR_LINE, encoding="utf-8")
    sent = await asyncio.gather(*(
        PROVIDERS[channel].deliver(client, [fixture(channel, n)["body"] for n in names])
        for channel, names in DELIVERED.items()))
    sent.append(await PROVIDERS["hotline"].deliver(client, [second_missed_call()]))
    # Answer times are measured by `python -m tests.bench channels`, never asserted here.
    for channel, deliveries in zip([*DELIVERED, "hotline"], sent, strict=True):
        for delivery in deliveries:
            assert delivery.status == 200, (channel, delivery.body)
    # A redelivery answers with the same ids as the first delivery.
    first, *retries = sent[0][:3]
    assert all(r.body == first.body for r in retries) and first.body["ids"]

    threads = expected_threads()
    wanted = sum(len(ids) for ids in threads.values())

    async def all_messages() -> list[dict[str, Any]]:
        tickets = await my_tickets(client, token)
        count = sum(len(t["messages"]) for t in tickets)
        return tickets if count >= wanted and len(tickets) >= len(threads) else []

    tickets = await wait_for(all_messages, attempts=600)
    assert isinstance(tickets, list)
    got = sorted((t["channel"], sorted(m["external_id"] for m in t["messages"]))
                 for t in tickets)
    assert got == sorted((channel, sorted(ids)) for (channel, _), ids in threads.items())

    callbacks = [t for t in tickets if t["channel"] == "hotline"]
    assert len(callbacks) == 3
    repeat = next(t for t in callbacks if t["contact"]["phone"] == "+84912345678")
    assert repeat["subject"] == "Gọi lại: cuộc gọi nhỡ từ 0912 345 678"
    assert len(repeat["messages"]) == 2  # two missed calls, one ticket
    assert repeat["category"] == "other" and repeat["queue"] == "cskh"
    assert repeat["priority"] in ("high", "urgent")  # a callback is never left for later
    cdr_ticket = next(t for t in callbacks if t["contact"]["phone"] == "+84933444555")
    assert cdr_ticket["messages"][0]["sender"]["name"] == "Pham Quoc Bao"
    zalo = next(t for t in tickets if t["channel"] == "zalo" and len(t["messages"]) == 2)
    assert zalo["messages"][1]["attachments"][0]["name"] == "Đối chiếu công nợ T10.xlsx"


async def test_refusals_over_http(service: tuple[Client, str, Path]) -> None:
    client, _, _ = service
    for channel, provider in PROVIDERS.items():
        name = DELIVERED[channel][0]
        body = provider.encode(fixture(channel, name)["body"])
        good = provider.headers(body)
        plain = {"Content-Type": "application/json"}
        unsigned = await provider.post(client, body, plain)
        assert (unsigned.status, unsigned.body["error"]) == (401, "invalid_signature"), channel
        wrong = {k: (v[:-4] + "0000" if k != "Content-Type" else v) for k, v in good.items()}
        assert (await provider.post(client, body, wrong)).status == 401, channel
        changed = body.replace(b'"', b" \"", 1)  # one byte more, same JSON
        assert json.loads(changed) == json.loads(body)
        assert (await provider.post(client, changed, good)).status == 401, channel
        again = json.dumps(json.loads(body), indent=2).encode()
        assert (await provider.post(client, again, good)).status == 401, channel
        malformed = body[:-2]
        refused = await provider.post(client, malformed)
        assert (refused.status, refused.body["error"]) == (400, "invalid_payload"), channel
        huge = provider.encode({"timestamp": "1795745700417", "pad": "x" * 1_100_000})
        assert (await provider.post(client, huge)).status == 413, channel
        odd = await provider.post(client, provider.encode(
            fixture(channel, next(n for n in sorted(
                p.stem for p in (FIXTURES / channel).glob("unknown__*.json"))))["body"]))
        assert (odd.status, odd.body) == (200, {"status": "ignored"}), channel


async def test_facebook_subscription_handshake(service: tuple[Client, str, Path]) -> None:
    client, _, _ = service
    ok = await client.get("/webhooks/facebook", params={
        "hub.mode": "subscribe", "hub.verify_token": "e2e-fb-verify",
        "hub.challenge": "1158201444"})
    assert ok.status == 200 and await ok.text() == "1158201444"
    bad = await client.get("/webhooks/facebook", params={
        "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert bad.status == 403 and (await bad.json())["error"] == "verification_failed"
    assert (await client.get("/webhooks/facebook")).status == 400
    assert (await client.get("/webhooks/zalo")).status == 405


async def test_channels_without_secrets_are_off(backend: Any,
                                                aiohttp_client: AiohttpClient) -> None:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    await engine.dispose()
    client = await aiohttp_client(create_app(backend.settings(
        lazada_app_key="112233", shopee_partner_key="key-without-callback-url")))
    for channel in ("facebook", "zalo", "shopee", "lazada", "tiktok", "hotline"):
        resp = await client.post(f"/webhooks/{channel}", data=b"{}")
        assert resp.status in (404, 405), channel
    assert (await client.get("/webhooks/facebook")).status in (404, 405)
