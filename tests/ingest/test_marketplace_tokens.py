"""Shopee, Lazada and TikTok Shop tokens that refresh themselves, on both backend pairs, each
against its stand-in (the provider's own refresh request, signature and answer): a token the
provider calls expired mid-run is refreshed and the reply sent, the rotated refresh token
saved; a token about to expire is refreshed before use; a refused refresh fails the reply
with the provider's reason and is recorded on the token; without a stored token, the
settings' token is used as it is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from ingest.senders import SendReplies, reply_senders
from router import actions
from router.events import OutboundMessage
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import ChannelToken, Message, Staff, Ticket
from tests.support import marketplaces as m
from tests.support.providers import StandIn, serve

NOW = datetime.now(UTC)  # the stand-ins check the providers' timestamp rules
BUYER = 889900112


@dataclass(frozen=True)
class Market:
    channel: str
    app: Callable[[StandIn], web.Application]
    account: str  # the thread key's account: shop or seller
    recipient: str  # who the stand-in says received the text
    env_token: str  # what the stand-in takes by default
    settings: Callable[[str], dict[str, Any]]

    @property
    def thread(self) -> str:
        return f"{self.account}:{self.recipient if self.channel != 'shopee' else '12977'}"


MARKETS = {
    "shopee": Market("shopee", m.shopee_app, m.SHOPEE_SHOP, str(BUYER), m.SHOPEE_TOKEN,
                     lambda url: {"shopee_partner_id": m.SHOPEE_PARTNER_ID,
                                  "shopee_partner_key": m.SHOPEE_PARTNER_KEY,
                                  "shopee_api_url": url}),
    "lazada": Market("lazada", m.lazada_app, "200123456", "100_2_1_2_3344", m.LAZADA_TOKEN,
                     lambda url: {"lazada_app_key": m.LAZADA_APP_KEY,
                                  "lazada_app_secret": m.LAZADA_APP_SECRET,
                                  "lazada_api_url": url, "lazada_auth_url": url}),
    "tiktok": Market("tiktok", m.tiktok_app, "7494051236782", "7500123456789012345",
                     m.TIKTOK_TOKEN,
                     lambda url: {"tiktok_app_key": m.TIKTOK_APP_KEY,
                                  "tiktok_app_secret": m.TIKTOK_APP_SECRET,
                                  "tiktok_shop_cipher": m.TIKTOK_CIPHER,
                                  "tiktok_api_url": url, "tiktok_auth_url": url}),
}


@pytest.fixture(params=sorted(MARKETS))
def market(request: pytest.FixtureRequest) -> Market:
    return MARKETS[request.param]


@pytest.fixture
async def provider(market: Market) -> AsyncIterator[StandIn]:
    state = StandIn()
    async for running in serve(market.app(state), state):
        yield running


async def seed(sessions: SessionFactory, market: Market, *, access: str, refresh: str,
               expires_at: datetime) -> None:
    async with sessions() as session, session.begin():
        session.add(ChannelToken(channel=market.channel, account=market.account,
                                 access_token=access, refresh_token=refresh,
                                 expires_at=expires_at, updated_at=NOW))


async def stored(sessions: SessionFactory, market: Market) -> ChannelToken:
    async with sessions() as session:
        return await session.get_one(ChannelToken, (market.channel, market.account),
                                     populate_existing=True)


async def reply_on(sessions: SessionFactory, market: Market, text: str) -> bytes:
    async with sessions() as session, session.begin():
        new = await add_staff(session, f"Lan-{uuid.uuid4().hex[:4]}", ["cskh"], role="admin")
        lan = await session.get_one(Staff, new.id)
        ticket = Ticket(channel=market.channel, thread_key=market.thread, status="assigned",
                        queue="cskh", assignee_id=lan.id, created_at=NOW)
        session.add(ticket)
        await session.flush()
        wrote = NOW - timedelta(hours=3)
        push = {"code": 10, "shop_id": int(m.SHOPEE_SHOP), "data": {
            "type": "message", "content": {"from_id": BUYER, "conversation_id": "12977",
                                           "message_type": "text"}}}
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(),
                            channel=market.channel, external_id=uuid.uuid4().hex,
                            text="Shop ơi đơn của em đâu rồi", sent_at=wrote,
                            received_at=wrote, raw=push if market.channel == "shopee" else {}))
        event = await actions.reply(session, lan, ticket, text, NOW)
    return event.model_dump_json().encode()


async def delivery(sessions: SessionFactory, event: bytes) -> Message:
    async with sessions() as session:
        return await session.get_one(Message, OutboundMessage.model_validate_json(
            event).message_id)


def sender(backend: Any, sessions: SessionFactory, market: Market,
           provider: StandIn) -> SendReplies:
    settings = backend.settings(**market.settings(provider.url))
    return SendReplies(sessions, reply_senders(settings, sessions, lambda: NOW), lambda: NOW)


async def test_a_token_expired_mid_run_is_refreshed_the_reply_sent_the_rotation_kept(
        backend: Any, sessions: SessionFactory, market: Market, provider: StandIn) -> None:
    provider.tokens, provider.refresh_tokens = {"at-live"}, {"rt-first"}
    await seed(sessions, market, access="at-revoked", refresh="rt-first",
               expires_at=NOW + timedelta(hours=3))  # we think it good; the provider does not
    send = sender(backend, sessions, market, provider)
    event = await reply_on(sessions, market, "Dạ đơn của anh/chị đang được giao ạ.")
    await send([event])
    assert provider.texts(market.recipient) == ["Dạ đơn của anh/chị đang được giao ạ."]
    assert provider.refreshes == 1 and provider.attempts == 2  # refused, refreshed, sent
    row = await stored(sessions, market)
    assert row.access_token in provider.tokens and row.refresh_token in provider.refresh_tokens
    assert row.refresh_token != "rt-first" and row.lease_owner is None
    assert row.expires_at is not None and row.expires_at > NOW + timedelta(hours=3)
    assert (await delivery(sessions, event)).delivery_status == "sent"


async def test_a_token_about_to_expire_is_refreshed_before_use(
        backend: Any, sessions: SessionFactory, market: Market, provider: StandIn) -> None:
    provider.tokens, provider.refresh_tokens = {"at-ending"}, {"rt-first"}
    await seed(sessions, market, access="at-ending", refresh="rt-first",
               expires_at=NOW + timedelta(minutes=4))
    send = sender(backend, sessions, market, provider)
    event = await reply_on(sessions, market, "Dạ shop cảm ơn ạ.")
    await send([event])
    assert provider.refreshes == 1 and provider.attempts == 1  # never sent with the old one
    assert provider.texts(market.recipient) == ["Dạ shop cảm ơn ạ."]
    assert (await stored(sessions, market)).access_token in provider.tokens


async def test_a_refused_refresh_fails_the_reply_with_the_reason_and_marks_the_token(
        backend: Any, sessions: SessionFactory, market: Market, provider: StandIn) -> None:
    provider.tokens, provider.refresh_tokens = {"at-live"}, set()  # the refresh token is dead
    await seed(sessions, market, access="at-revoked", refresh="rt-used",
               expires_at=NOW + timedelta(hours=3))
    send = sender(backend, sessions, market, provider)
    event = await reply_on(sessions, market, "Dạ.")
    await send([event])
    failed = await delivery(sessions, event)
    assert failed.delivery_status == "failed" and failed.delivery_code == "token_invalid"
    assert "refresh" in str(failed.delivery_reason) and "rt-used" not in str(
        failed.delivery_reason)
    row = await stored(sessions, market)
    assert row.last_error is not None and row.lease_owner is None
    assert row.refresh_token == "rt-used" and provider.texts(market.recipient) == []


async def test_without_a_stored_token_the_settings_token_is_used(
        backend: Any, sessions: SessionFactory, market: Market, provider: StandIn) -> None:
    settings = backend.settings(**market.settings(provider.url),
                                **{f"{market.channel}_access_token": market.env_token})
    send = SendReplies(sessions, reply_senders(settings, sessions, lambda: NOW), lambda: NOW)
    event = await reply_on(sessions, market, "Dạ vâng ạ.")
    await send([event])
    assert provider.texts(market.recipient) == ["Dạ vâng ạ."] and provider.refreshes == 0
    async with sessions() as session:
        assert (await session.scalars(select(ChannelToken))).all() == []
