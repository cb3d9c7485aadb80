"""Marketplace replies through ``SendReplies`` on both backend pairs: the registry builds the
Shopee, Lazada and TikTok Shop senders from the settings; a long Shopee reply goes in order,
once per part, across a throttled attempt and a redelivery, and ends ``sent`` with Shopee's
message ids; a refusal ends ``failed`` with Shopee's reason."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from connectors.sending import SendUnavailable
from ingest.senders import SendReplies, reply_senders
from ingest.settings import Settings
from router import actions
from router.events import OutboundMessage
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import Message, Staff, Ticket
from tests.support import marketplaces as m
from tests.support.providers import StandIn, serve

NOW = datetime.now(UTC)  # the stand-in checks Shopee's 5-minute timestamp rule
BUYER = 889900112
THREAD = f"{m.SHOPEE_SHOP}:1297736781437465091"


@pytest.fixture
async def shopee() -> AsyncIterator[StandIn]:
    state = StandIn()
    async for running in serve(m.shopee_app(state), state):
        yield running


def settings(api_url: str) -> Settings:
    return Settings(shopee_partner_id=m.SHOPEE_PARTNER_ID,
                    shopee_partner_key=m.SHOPEE_PARTNER_KEY,
                    shopee_access_token=m.SHOPEE_TOKEN, shopee_api_url=api_url)


def test_the_registry_builds_marketplace_senders_only_with_every_credential() -> None:
    assert "shopee" in reply_senders(settings("http://127.0.0.1:9"))
    assert "shopee" not in reply_senders(Settings(shopee_partner_key="k", shopee_access_token="t"))
    full = Settings(lazada_app_key="1", lazada_app_secret="lzd-s3cret", lazada_access_token="lt",
                    tiktok_app_key="2", tiktok_app_secret="tts-s3cret", tiktok_access_token="tt",
                    tiktok_shop_cipher="ROW_x")
    senders = reply_senders(full)
    assert sorted(senders) == ["lazada", "tiktok"]
    assert "s3cret" not in repr(senders) + repr(full)
    assert "tiktok" not in reply_senders(full.model_copy(update={"tiktok_shop_cipher": None}))


async def shopee_reply(sessions: SessionFactory, text: str) -> bytes:
    async with sessions() as session, session.begin():
        new = await add_staff(session, f"Lan-{uuid.uuid4().hex[:4]}", ["cskh"], role="admin")
        lan = await session.get_one(Staff, new.id)
        ticket = Ticket(channel="shopee", thread_key=THREAD, status="assigned", queue="cskh",
                        assignee_id=lan.id, created_at=NOW)
        session.add(ticket)
        await session.flush()
        wrote = NOW - timedelta(days=3)
        push = {"code": 10, "shop_id": int(m.SHOPEE_SHOP), "timestamp": int(wrote.timestamp()),
                "data": {"type": "message", "content": {
                    "message_id": uuid.uuid4().hex[:16], "conversation_id":
                    "1297736781437465091", "from_id": BUYER, "to_id": int(m.SHOPEE_SHOP),
                    "message_type": "text", "content": {"text": "Shop ơi báo giá giúp em"},
                    "created_timestamp": int(wrote.timestamp())}}}
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel="shopee",
                            external_id=uuid.uuid4().hex, text="Shop ơi báo giá giúp em",
                            sent_at=wrote, received_at=wrote, raw=push))
        event = await actions.reply(session, lan, ticket, text, NOW)
    return event.model_dump_json().encode()


async def delivery(sessions: SessionFactory, ticket_id: int) -> Message:
    async with sessions() as session:
        return (await session.scalars(select(Message).where(
            Message.ticket_id == ticket_id, Message.direction == "outbound"))).one()


async def test_a_long_shopee_reply_is_sent_once_per_part_in_order_across_throttling(
        sessions: SessionFactory, shopee: StandIn) -> None:
    send = SendReplies(sessions, reply_senders(settings(shopee.url)), lambda: NOW)
    text = "Dạ shop xin gửi bảng giá chi tiết từng mã hàng ạ. " * 50  # three parts
    event = await shopee_reply(sessions, text)
    ticket_id = OutboundMessage.model_validate_json(event).ticket_id
    shopee.script.extend([None, m.shopee_error("error_too_many_request",
                                               "Too many requests.", 429)])
    with pytest.raises(SendUnavailable):
        await send([event])
    await send([event])  # after the backoff
    await send([event])  # a redelivery
    got = shopee.texts(str(BUYER))
    assert len(got) == 3 and " ".join(got).split() == text.split()
    assert shopee.attempts == 4  # part 1, part 2 throttled, part 2, part 3
    reply = await delivery(sessions, ticket_id)
    assert reply.delivery_status == "sent" and len((reply.delivery_ref or "").split()) == 3

    shopee.refuse[str(BUYER)] = m.shopee_error("error_param", "The buyer cannot receive "
                                               "messages.")
    refused = await shopee_reply(sessions, "Dạ shop cảm ơn ạ.")
    await send([refused])
    failed = await delivery(sessions, OutboundMessage.model_validate_json(refused).ticket_id)
    assert failed.delivery_status == "failed" and failed.delivery_code == "refused"
    assert "Shopee error error_param: The buyer cannot receive messages." in str(
        failed.delivery_reason)

