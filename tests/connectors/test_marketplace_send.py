"""Shopee, Lazada and TikTok Shop replies against stand-ins that check each provider's own
signature: the request is signed right, long text goes in order in parts the API accepts,
throttling and outages are retried, refusals carry the provider's reason and our code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from connectors.lazada_send import LazadaSender
from connectors.sending import ChatSender, SendRefused, SendUnavailable
from connectors.shopee_send import ShopeeSender
from connectors.tiktok_send import TikTokSender
from tests.support import marketplaces as m
from tests.support.providers import StandIn, serve

BUYER = "889900112"
SHOPEE_THREAD = f"{m.SHOPEE_SHOP}:1297736781437465091"
LAZADA_SESSION = "100096512_2_300014245_1_103"
LAZADA_THREAD = f"300014245:{LAZADA_SESSION}"
TIKTOK_CONVERSATION = "7494560109732334342"
TIKTOK_THREAD = f"7495432101:{TIKTOK_CONVERSATION}"
LAST = {"code": 10, "shop_id": int(m.SHOPEE_SHOP), "data": {"type": "message", "content": {
    "message_id": "2233445566", "from_id": int(BUYER), "to_id": int(m.SHOPEE_SHOP)}}}


@pytest.fixture
async def shopee() -> AsyncIterator[StandIn]:
    state = StandIn()
    async for running in serve(m.shopee_app(state), state):
        yield running


@pytest.fixture
async def lazada() -> AsyncIterator[StandIn]:
    state = StandIn()
    async for running in serve(m.lazada_app(state), state):
        yield running


@pytest.fixture
async def tiktok() -> AsyncIterator[StandIn]:
    state = StandIn()
    async for running in serve(m.tiktok_app(state), state):
        yield running


def shopee_sender(api: StandIn, *, token: str = m.SHOPEE_TOKEN,
                  key: str = m.SHOPEE_PARTNER_KEY) -> ShopeeSender:
    return ShopeeSender(m.SHOPEE_PARTNER_ID, key, token, api.url, timeout=5.0)


def lazada_sender(api: StandIn, *, token: str = m.LAZADA_TOKEN,
                  secret: str = m.LAZADA_APP_SECRET) -> LazadaSender:
    return LazadaSender(m.LAZADA_APP_KEY, secret, token, api.url, timeout=5.0)


def tiktok_sender(api: StandIn, *, token: str = m.TIKTOK_TOKEN,
                  secret: str = m.TIKTOK_APP_SECRET) -> TikTokSender:
    return TikTokSender(m.TIKTOK_APP_KEY, secret, token, m.TIKTOK_CIPHER, api.url, timeout=5.0)


CASES: dict[str, tuple[Any, str, str]] = {
    "shopee": (shopee_sender, SHOPEE_THREAD, BUYER),
    "lazada": (lazada_sender, LAZADA_THREAD, LAZADA_SESSION),
    "tiktok": (tiktok_sender, TIKTOK_THREAD, TIKTOK_CONVERSATION),
}
THROTTLED = {"shopee": m.shopee_error("error_too_many_request", "Too many requests.", 429),
             "lazada": m.lazada_error("ApiCallLimit", "The request has exceeded the limit. "
                                      "This ban will last 1 seconds", "ISP"),
             "tiktok": m.tiktok_error(36009004, "Too many requests", 429)}
REFUSED = {"shopee": m.shopee_error("error_param", "The buyer cannot receive messages."),
           "lazada": m.lazada_error("E2001", "Session is closed"),
           "tiktok": m.tiktok_error(36009009, "The conversation has been closed")}


def api_of(name: str, shopee: StandIn, lazada: StandIn, tiktok: StandIn) -> StandIn:
    return {"shopee": shopee, "lazada": lazada, "tiktok": tiktok}[name]


@pytest.mark.parametrize("name", sorted(CASES))
async def test_a_long_reply_is_signed_and_sent_in_order_in_parts_the_api_accepts(
        name: str, shopee: StandIn, lazada: StandIn, tiktok: StandIn) -> None:
    api = api_of(name, shopee, lazada, tiktok)
    make, thread, recipient = CASES[name]
    sender: ChatSender = make(api)
    text = "Dạ shop xin gửi bảng giá chi tiết từng mã hàng ạ. " * 50  # ≈ 2500 characters
    parts = sender.parts(thread, text)
    assert len(parts) == 3
    ids = [await sender.send(thread, part, last_message=LAST) for part in parts]
    assert len(set(ids)) == 3 and all(ids)
    got = api.texts(recipient)
    assert got == parts and " ".join(got).split() == text.split()
    assert api.attempts == 3


@pytest.mark.parametrize("name", sorted(CASES))
async def test_throttling_is_retried_refusals_fail_with_the_reason(
        name: str, shopee: StandIn, lazada: StandIn, tiktok: StandIn) -> None:
    api = api_of(name, shopee, lazada, tiktok)
    make, thread, _recipient = CASES[name]
    sender: ChatSender = make(api)
    api.script.extend([THROTTLED[name], REFUSED[name]])
    with pytest.raises(SendUnavailable):
        await sender.send(thread, "Dạ.", last_message=LAST)
    with pytest.raises(SendRefused) as refused:
        await sender.send(thread, "Dạ.", last_message=LAST)
    assert refused.value.code == "refused"
    message = REFUSED[name][1]["message"]
    assert message in str(refused.value)
    await sender.send(thread, "Dạ vâng ạ.", last_message=LAST)
    assert [text for _, text in api.sent] == ["Dạ vâng ạ."]


@pytest.mark.parametrize("name", sorted(CASES))
async def test_a_wrong_secret_or_token_is_refused_and_never_shown(
        name: str, shopee: StandIn, lazada: StandIn, tiktok: StandIn) -> None:
    api = api_of(name, shopee, lazada, tiktok)
    make, thread, _recipient = CASES[name]
    secret_kw = "key" if name == "shopee" else "secret"
    with pytest.raises(SendRefused) as bad_sign:
        await make(api, **{secret_kw: "not-the-secret"}).send(thread, "Dạ.", last_message=LAST)
    assert "not-the-secret" not in str(bad_sign.value)
    with pytest.raises(SendRefused) as bad_token:
        await make(api, token="expired-token-xyz").send(thread, "Dạ.", last_message=LAST)
    assert bad_token.value.code == "token_invalid"
    assert "expired-token-xyz" not in str(bad_token.value) + repr(make(api))
    assert api.sent == []


async def test_shopee_needs_the_buyer_and_marketplaces_need_the_customer_first(
        shopee: StandIn) -> None:
    sender = shopee_sender(shopee)
    with pytest.raises(SendRefused, match="no buyer id") as no_buyer:
        await sender.send(SHOPEE_THREAD, "Dạ.", last_message={})
    assert no_buyer.value.code == "no_address"
    with pytest.raises(SendRefused, match="must write first"):
        sender.window.tagged(None)
    assert sender.window.tagged(timedelta(days=90)) is False  # no time limit once they wrote
    with pytest.raises(SendRefused, match="not a Shopee conversation"):
        sender.parts("no-colon", "Dạ.")
    assert shopee.attempts == 0
