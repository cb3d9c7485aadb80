"""One channel's trouble stays in that channel: each channel is sent by its own consumer group,
with its own backoff, on both backend pairs.

Meta's stand-in throttles every Messenger send (613) while a real SMTP server takes mail: the
e-mail reply, behind the Messenger one on the same topic, still goes out at once; the
Messenger reply is sent when the throttle ends; a Shopee reply (no sender) fails as
``no_sender`` in the group for the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from connectors.sending import SendUnavailable
from ingest.bus.loop import ConsumerLoop
from ingest.lifecycle import make_bus
from ingest.pipeline import consumer_specs, is_transient, make_loop, outbound_publisher
from ingest.senders import sender_group
from router import actions
from router.events import OutboundMessage
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import Contact, Message, Staff, Ticket
from tests.support.smtp import SmtpServer

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
PAGE, PSID = "104857361928374", "7283946152038475"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _no_classifier(items: object) -> Any:
    raise AssertionError("the senders classify nothing")


async def reply_on(sessions: SessionFactory, channel: str, thread: str,
                   text: str) -> OutboundMessage:
    """A ticket on ``channel`` the customer wrote an hour ago, answered by Lan."""
    async with sessions() as session, session.begin():
        if (lan := await session.scalar(select(Staff).where(Staff.name == "Lan"))) is None:
            new = await add_staff(session, "Lan", ["cskh"], role="admin")
            lan = await session.get_one(Staff, new.id)
        contact = Contact(name="Anh An", email=f"an.{uuid.uuid4().hex[:6]}@thepviet.vn")
        session.add(contact)
        await session.flush()
        ticket = Ticket(channel=channel, thread_key=thread, status="assigned", queue="cskh",
                        assignee_id=lan.id, contact_id=contact.id, subject="Báo giá thép",
                        created_at=NOW)
        session.add(ticket)
        await session.flush()
        wrote = NOW - timedelta(hours=1)
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel=channel,
                            external_id=f"{uuid.uuid4().hex}@thepviet.vn",
                            sender_email=contact.email, subject="Báo giá thép",
                            text="Cho em xin báo giá ạ", sent_at=wrote, received_at=wrote))
        return await actions.reply(session, lan, ticket, text, NOW, mail_domain="congty.vn")


async def status_of(sessions: SessionFactory, reply: OutboundMessage) -> str | None:
    async with sessions() as session:
        return (await session.get_one(Message, reply.message_id)).delivery_status


async def step(loop: ConsumerLoop) -> int:
    """One ``run_once``; a throttled send counts as nothing done (the loop would back off)."""
    try:
        return await loop.run_once()
    except SendUnavailable:
        return -1


async def test_a_throttled_messenger_holds_up_no_email_reply(
        backend: Any, sessions: SessionFactory, smtp: SmtpServer, messenger_api: Any,
        provider_answers: dict[str, Any]) -> None:
    settings = backend.settings(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
        mail_from="CSKH <cskh@congty.vn>", facebook_page_token=provider_answers["messenger_token"],
        facebook_graph_url=f"{messenger_api.url}/v21.0")
    bus = make_bus(settings)
    await bus.start()
    loops: dict[str, ConsumerLoop] = {}
    try:
        specs = [s for s in consumer_specs(settings, bus, sessions, lambda: NOW, _no_classifier)
                 if s.role == "senders"]
        assert sorted(s.group for s in specs) == [
            sender_group("email"), sender_group("facebook"), sender_group("other")]
        loops = {s.group.removeprefix("cskh-sender-"): make_loop(bus, s, settings)
                 for s in specs}
        for loop in loops.values():
            await loop.start()
        assert is_transient(SendUnavailable("throttled"))

        messenger_api.script.extend([provider_answers["graph_error"](
            613, "(#613) Calls to this API have exceeded the rate limit.")] * 10_000)
        chat = await reply_on(sessions, "facebook", f"{PAGE}:{PSID}", "Dạ em gửi báo giá ạ.")
        mail = await reply_on(sessions, "email", "root@thepviet.vn", "Dạ em gửi báo giá ạ.")
        shop = await reply_on(sessions, "shopee", "shopee:123:456", "Dạ shop gửi ạ.")
        await outbound_publisher(bus)([chat, mail, shop])  # Messenger's first on the topic

        throttled = 0
        for _ in range(200):  # Kafka: until the group has its partitions
            throttled += await step(loops["facebook"]) == -1
            if throttled >= 2:
                break
        assert throttled >= 2 and messenger_api.sent == []
        for _ in range(200):
            if await step(loops["email"]) > 0 and smtp.room.received:
                break
        (sent,) = smtp.room.received
        assert sent["X-CSKH-Ticket"] == mail.ticket_number
        assert await status_of(sessions, mail) == "sent"
        assert await status_of(sessions, chat) == "pending"  # still waiting on Meta
        for _ in range(200):
            if await step(loops["other"]) > 0:
                break
        assert await status_of(sessions, shop) == "failed"

        messenger_api.script.clear()  # the throttle ends: the Messenger reply goes, once
        for _ in range(200):
            if await step(loops["facebook"]) > 0:
                break
        assert messenger_api.texts(PSID) == ["Dạ em gửi báo giá ạ."]
        assert await status_of(sessions, chat) == "sent"
        assert len(smtp.room.received) == 1
    finally:
        for loop in loops.values():
            await loop.close()
        await bus.close()
