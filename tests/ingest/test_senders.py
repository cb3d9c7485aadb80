"""The senders' registry and ``SendReplies``: dispatch by channel, ledger per channel and part."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from connectors.sending import SendUnavailable, split_text
from ingest.senders import ChatReplies, EmailReplies, ReplySender, SendReplies, reply_senders
from ingest.settings import Settings
from router.events import OutboundMessage
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import ProcessedEvent

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


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
    """A chat sender of limit 10 that throttles the sends listed in ``throttle`` (by count)."""

    channel: str = "facebook"
    sent: list[str] = field(default_factory=list)
    calls: int = 0
    throttle: set[int] = field(default_factory=set)

    def parts(self, thread_key: str, text: str) -> list[str]:
        return split_text(text, 10)

    async def send(self, thread_key: str, text: str) -> str:
        self.calls += 1
        if self.calls in self.throttle:
            raise SendUnavailable("Messenger error 613: rate limit")
        self.sent.append(text)
        return f"m_{self.calls}"


def reply(channel: str, text: str) -> bytes:
    return OutboundMessage(
        event_id=uuid.uuid4(), ticket_id=1, ticket_number="CSKH-000001", message_id=7,
        channel=channel, thread_key="104857361928374:7283946152038475", to_email=None,
        to_phone=None, in_reply_to=None, subject=None, text=text, staff_id=1,
        staff_name="Lan", created_at=NOW).model_dump_json().encode()


async def test_parts_are_sent_once_each_across_a_throttled_retry(
        sessions: SessionFactory) -> None:
    chat = FakeChat(throttle={2})
    registry: dict[str, ReplySender] = {"facebook": ChatReplies(chat)}
    send = SendReplies(sessions, registry, lambda: NOW)
    event = reply("facebook", "một hai ba bốn năm sáu bảy")  # three parts of ≤ 10
    with pytest.raises(SendUnavailable):
        await send([event])
    assert chat.sent == ["một hai ba"]
    await send([event])  # the loop delivers the same event again after its backoff
    assert chat.sent == ["một hai ba", "bốn năm", "sáu bảy"]
    await send([event])  # and once more: nothing left to send
    assert chat.sent == ["một hai ba", "bốn năm", "sáu bảy"]
    async with sessions() as session:
        ledgers = set(await session.scalars(select(ProcessedEvent.consumer)))
    assert ledgers == {"sender:facebook"}


async def test_channels_without_a_sender_are_logged_not_sent(sessions: SessionFactory) -> None:
    chat = FakeChat()
    send = SendReplies(sessions, {"facebook": ChatReplies(chat)}, lambda: NOW)
    with capture_logs() as logs:
        await send([reply("shopee", "Dạ."), reply("facebook", "Dạ.")])
    assert chat.sent == ["Dạ."]
    events = [(e["event"], e["channel"]) for e in logs]
    assert (LogEvent.OUTBOUND_NO_SENDER, "shopee") in events
    assert (LogEvent.OUTBOUND_SENT, "facebook") in events
    assert all(e.get("ticket_id") == 1 for e in logs)
