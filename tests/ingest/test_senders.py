"""The senders' registry and ``SendReplies``: dispatch by channel, ledger per channel and part,
and the delivery state each stored reply ends in, on both backend pairs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from structlog.testing import capture_logs

from connectors.sending import ChatWindow, SendRefused, SendUnavailable, split_text
from ingest.senders import ChatReplies, EmailReplies, ReplySender, SendReplies, reply_senders
from ingest.settings import Settings
from router import actions
from router.events import NO_STORED_MESSAGE, OutboundMessage
from router.staff import add_staff
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import Message, ProcessedEvent, Staff, Ticket

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
THREAD = "104857361928374:7283946152038475"


def test_the_registry_holds_the_configured_channels_and_never_shows_a_token() -> None:
    assert reply_senders(Settings()) == {}
    settings = Settings(facebook_page_token="EAAG-page-secret", zalo_oa_access_token="zl-secret",
                        smtp_host="127.0.0.1", mail_from="cskh@congty.vn")
    senders = reply_senders(settings)
    assert sorted(senders) == ["email", "facebook", "zalo"]
    assert isinstance(senders["email"], EmailReplies)
    shown = repr(settings) + repr(senders) + str(settings.model_dump())
    assert "EAAG-page-secret" not in shown and "zl-secret" not in shown
    assert reply_senders(Settings(zalo_oa_access_token="zl-secret")).keys() == {"zalo"}


@dataclass
class FakeChat:
    """A chat sender of limit 10 that throttles the sends listed in ``throttle`` (by count)
    and refuses those in ``refuse``."""

    channel: str = "facebook"
    window: ChatWindow = field(default_factory=lambda: ChatWindow(timedelta(hours=24)))
    sent: list[tuple[str, bool]] = field(default_factory=list)
    calls: int = 0
    throttle: set[int] = field(default_factory=set)
    refuse: set[int] = field(default_factory=set)

    def parts(self, thread_key: str, text: str) -> list[str]:
        return split_text(text, 10)

    async def send(self, thread_key: str, text: str, *, tagged: bool = False,
                   last_message: Mapping[str, object] | None = None) -> str:
        self.calls += 1
        if self.calls in self.throttle:
            raise SendUnavailable("Messenger error 613: rate limit")
        if self.calls in self.refuse:
            raise SendRefused("Messenger error 551/1545041 (OAuthException): This person "
                              "isn't available right now.", "recipient_unavailable")
        self.sent.append((text, tagged))
        return f"m_{self.calls}"

    @property
    def texts(self) -> list[str]:
        return [text for text, _ in self.sent]


async def stored_reply(sessions: SessionFactory, channel: str, text: str, *,
                       customer_wrote: datetime | None = NOW - timedelta(hours=1)) -> bytes:
    """A ticket on ``channel`` whose customer wrote at ``customer_wrote``, and an officer's
    reply to it, stored as the staff API stores it; the reply's ``cskh.outbound`` event."""
    async with sessions() as session, session.begin():
        if (lan := await session.scalar(select(Staff).where(Staff.name == "Lan"))) is None:
            new = await add_staff(session, "Lan", ["cskh"], role="admin")
            lan = await session.get_one(Staff, new.id)
        ticket = Ticket(channel=channel, thread_key=THREAD, status="assigned",
                        assignee_id=lan.id, queue="cskh", created_at=NOW)
        session.add(ticket)
        await session.flush()
        if customer_wrote is not None:
            session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel=channel,
                                external_id=f"m_{uuid.uuid4().hex}", text="Cho em hỏi giá ạ",
                                sent_at=customer_wrote, received_at=customer_wrote))
        event = await actions.reply(session, lan, ticket, text, NOW)
    return event.model_dump_json().encode()


async def delivery(sessions: SessionFactory, event: bytes) -> dict[str, object]:
    reply = OutboundMessage.model_validate_json(event)
    async with sessions() as session:
        m = await session.get_one(Message, reply.message_id)
        return {"status": m.delivery_status, "ref": m.delivery_ref, "code": m.delivery_code,
                "reason": m.delivery_reason}


async def test_parts_are_sent_once_each_across_a_throttled_retry(
        sessions: SessionFactory) -> None:
    chat = FakeChat(throttle={2})
    registry: dict[str, ReplySender] = {"facebook": ChatReplies(chat)}
    send = SendReplies(sessions, registry, lambda: NOW)
    event = await stored_reply(sessions, "facebook", "một hai ba bốn năm sáu bảy")  # 3 parts
    failed = {"channel": "facebook", "error": "SendUnavailable"}
    failures = REGISTRY.get_sample_value("cskh_sender_failures_total", failed) or 0.0
    sent = REGISTRY.get_sample_value("cskh_sender_sent_total", {"channel": "facebook"}) or 0.0
    assert (await delivery(sessions, event))["status"] == "pending"
    with pytest.raises(SendUnavailable):
        await send([event])
    assert chat.texts == ["một hai ba"]
    assert REGISTRY.get_sample_value("cskh_sender_failures_total", failed) == failures + 1
    assert await delivery(sessions, event) == {"status": "pending", "ref": "m_1", "code": None,
                                               "reason": None}
    await send([event])  # the loop delivers the same event again after its backoff
    assert chat.texts == ["một hai ba", "bốn năm", "sáu bảy"]
    assert REGISTRY.get_sample_value("cskh_sender_sent_total", {"channel": "facebook"}) == sent + 1
    await send([event])  # and once more: nothing left to send
    assert chat.texts == ["một hai ba", "bốn năm", "sáu bảy"]
    assert await delivery(sessions, event) == {"status": "sent", "ref": "m_1 m_3 m_4",
                                               "code": None, "reason": None}
    async with sessions() as session:
        ledgers = set(await session.scalars(select(ProcessedEvent.consumer)))
    assert ledgers == {"sender:facebook"}


async def test_a_refusal_fails_the_reply_with_the_code_and_reason_and_is_not_sent_again(
        sessions: SessionFactory) -> None:
    chat = FakeChat(refuse={1})
    send = SendReplies(sessions, {"facebook": ChatReplies(chat)}, lambda: NOW)
    gone = await stored_reply(sessions, "facebook", "Dạ báo giá")
    fine = await stored_reply(sessions, "facebook", "Dạ em xem.")
    with capture_logs() as logs:
        await send([gone, fine])
    assert chat.texts == ["Dạ em xem."]
    failed = await delivery(sessions, gone)
    assert failed["status"] == "failed" and failed["code"] == "recipient_unavailable"
    assert "Messenger error 551/1545041" in str(failed["reason"])
    assert (await delivery(sessions, fine))["status"] == "sent"
    assert [e["code"] for e in logs if e["event"] == LogEvent.OUTBOUND_FAILED] == [
        "recipient_unavailable"]
    await send([gone, fine])  # redelivered: the outcome stands, nothing is sent again
    assert chat.calls == 2


async def test_a_closed_window_fails_before_any_call_and_human_agent_tags_late_replies(
        sessions: SessionFactory) -> None:
    chat = FakeChat()
    send = SendReplies(sessions, {"facebook": ChatReplies(chat)}, lambda: NOW)
    late = await stored_reply(sessions, "facebook", "Dạ muộn ạ.",
                              customer_wrote=NOW - timedelta(hours=30))
    never = await stored_reply(sessions, "facebook", "Dạ.", customer_wrote=None)
    await send([late, never])
    assert chat.calls == 0
    for event in (late, never):
        failed = await delivery(sessions, event)
        assert failed["status"] == "failed" and failed["code"] == "window_closed"
        assert "customer must write first" in str(failed["reason"])

    agent = FakeChat(window=ChatWindow(timedelta(hours=24), timedelta(days=7)))
    send = SendReplies(sessions, {"facebook": ChatReplies(agent)}, lambda: NOW)
    tagged = await stored_reply(sessions, "facebook", "Dạ em đây.",
                                customer_wrote=NOW - timedelta(hours=30))
    fresh = await stored_reply(sessions, "facebook", "Dạ vâng.")
    await send([tagged, fresh])
    assert agent.sent == [("Dạ em đây.", True), ("Dạ vâng.", False)]


async def test_channels_without_a_sender_fail_as_no_sender(sessions: SessionFactory) -> None:
    chat = FakeChat()
    send = SendReplies(sessions, {"facebook": ChatReplies(chat)}, lambda: NOW)
    shopee = await stored_reply(sessions, "shopee", "Dạ.")
    facebook = await stored_reply(sessions, "facebook", "Dạ.")
    with capture_logs() as logs:
        await send([shopee, facebook])
    assert chat.texts == ["Dạ."]
    assert (await delivery(sessions, shopee))["code"] == "no_sender"
    events = [(e["event"], e["channel"]) for e in logs]
    assert (LogEvent.OUTBOUND_NO_SENDER, "shopee") in events
    assert (LogEvent.OUTBOUND_SENT, "facebook") in events
    assert all(isinstance(e.get("ticket_id"), int) for e in logs)


async def test_an_event_whose_reply_is_not_stored_is_an_error_not_a_send(
        sessions: SessionFactory) -> None:
    chat = FakeChat()
    send = SendReplies(sessions, {"facebook": ChatReplies(chat)}, lambda: NOW)
    event = OutboundMessage.model_validate_json(await stored_reply(sessions, "facebook", "Dạ."))
    ghost = event.model_copy(update={"message_id": event.message_id + 1000})
    with pytest.raises(LookupError, match="not stored"):
        await send([ghost.model_dump_json().encode()])
    assert chat.calls == 0


async def test_an_event_with_no_stored_message_is_sent_once_by_the_ledger(
        sessions: SessionFactory) -> None:
    """A campaign's ask (``NO_STORED_MESSAGE``) is sent, and a redelivery sends nothing."""
    chat = FakeChat()
    send = SendReplies(sessions, {"facebook": ChatReplies(chat)}, lambda: NOW)
    event = OutboundMessage.model_validate_json(await stored_reply(sessions, "facebook", "Dạ."))
    ask = event.model_copy(update={"message_id": NO_STORED_MESSAGE, "event_id": uuid.uuid4(),
                                   "text": "Khảo sát"}).model_dump_json().encode()
    await send([ask])
    await send([ask])
    assert chat.texts == ["Khảo sát"]
