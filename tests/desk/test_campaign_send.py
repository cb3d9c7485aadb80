"""Sending a campaign, one pass at a time with an injected clock (both backends).

The accounts are those of tests/support/campaign.py: Lan (Thép Việt) and Hà (Bình Minh) are
asked. The publish callable keeps what it is handed; the ``cskh.outbound`` side (senders,
their ledger) is the one the CSAT survey uses, covered in tests/e2e/test_surveys.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from connectors.sending import SendRefused
from desk.surveys.answer import AnswerError, answer, find
from desk.surveys.campaign import close_campaign, create_campaign
from desk.surveys.campaign_answer import answer_campaign, read_form
from desk.surveys.campaign_send import SendCampaigns
from desk.surveys.offer import SurveyPolicy
from ingest.senders import Piece, SendReplies, Thread
from router.events import OutboundMessage
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import CampaignInvitation, Contact, Survey
from tests.support.campaign import NOW, seed_accounts

NAME = "Khảo sát hài lòng 6 tháng cuối 2026"
EMAIL = SurveyPolicy(public_url="https://cskh.congty.vn", channels=frozenset({"email"}),
                     mail_domain="congty.vn")
DAY = timedelta(days=1)


class Outbound:
    def __init__(self) -> None:
        self.events: list[OutboundMessage] = []

    async def __call__(self, events: Sequence[OutboundMessage]) -> None:
        self.events.extend(events)


def link_token(event: OutboundMessage) -> str:
    return event.text.split("/s/")[1].split()[0]


async def _campaign(sessions: SessionFactory, send_at_days: int = 1, **kw: object) -> None:
    async with sessions() as s, s.begin():
        await create_campaign(s, name=NAME, tier=None, segment=None,
                              send_at=NOW + send_at_days * DAY, remind_days=5, now=NOW)


async def _emails(sessions: SessionFactory) -> dict[str, str]:
    async with sessions() as s:
        return {c.email: c.name or "" for c in await s.scalars(select(Contact)) if c.email}


async def test_asked_once_when_due_reminded_once_unless_answered(
        sessions: SessionFactory) -> None:
    await seed_accounts(sessions)
    await _campaign(sessions)
    out = Outbound()
    clock = [NOW]
    sender = SendCampaigns(sessions, out, lambda: clock[0], EMAIL)
    assert await sender.run_once() == 0  # not yet time
    clock[0] = NOW + DAY
    assert await sender.run_once() == 2
    emails = await _emails(sessions)
    assert sorted(emails[e.to_email or ""] for e in out.events) == ["Hà", "Lan"]
    for event in out.events:
        assert event.channel == "email" and event.email is not None
        assert event.email.subject == NAME and NAME in event.text
        assert event.email.message_id.startswith("<cskh-campaign.")
        assert event.email.message_id.endswith("@congty.vn>")
        assert "https://cskh.congty.vn/s/" in event.text
    # a second pass, and a second router, send nothing more
    assert await sender.run_once() == 0
    assert await SendCampaigns(sessions, out, lambda: clock[0], EMAIL).run_once() == 0
    assert len(out.events) == 2
    by_name = {emails[e.to_email or ""]: e for e in out.events}
    async with sessions() as s:
        found = await find(s, link_token(by_name["Hà"]), clock[0])
        assert found is not None and not found.expired
        assert found.survey.kind == "campaign" and found.survey.ticket_id is None
        # the link lives until the reminder and a survey's life after it: 5 + 7 days
        assert found.survey.expires_at == NOW + DAY + 12 * DAY
    async with sessions() as s, s.begin():
        found = await find(s, link_token(by_name["Hà"]), NOW + 2 * DAY)
        assert found is not None
        await answer_campaign(s, found, read_form({"overall": "4", "recommend": "9"}),
                              NOW + 2 * DAY)
    # the reminder is due 5 days after the ask, to Lan only (Hà has answered)
    clock[0] = NOW + 6 * DAY - timedelta(minutes=1)
    assert await sender.run_once() == 0
    clock[0] = NOW + 6 * DAY
    assert await sender.run_once() == 1
    reminder = out.events[-1]
    assert emails[reminder.to_email or ""] == "Lan" and "Nhắc lại" in (reminder.subject or "")
    assert reminder.event_id != by_name["Lan"].event_id
    assert link_token(reminder) != link_token(by_name["Lan"])
    async with sessions() as s:
        first = await find(s, link_token(by_name["Lan"]), clock[0])
        again = await find(s, link_token(reminder), clock[0])
        assert first is not None and again is not None
        assert first.survey.id == again.survey.id
        assert again.survey.expires_at == NOW + 13 * DAY  # a survey's life from the reminder
    clock[0] = NOW + 30 * DAY
    assert await sender.run_once() == 0
    assert len(out.events) == 3


async def test_a_crash_after_the_send_resends_the_same_events(sessions: SessionFactory) -> None:
    await seed_accounts(sessions)
    await _campaign(sessions, send_at_days=0)
    out = Outbound()
    sender = SendCampaigns(sessions, out, lambda: NOW, EMAIL)
    await sender.invite()

    class Crash(Exception):
        pass

    async def publish_then_die(events: Sequence[OutboundMessage]) -> None:
        await out(events)
        raise Crash  # the process died before recording the send

    with pytest.raises(Crash):
        await SendCampaigns(sessions, publish_then_die, lambda: NOW, EMAIL).send()
    assert await sender.send() == 2
    assert out.events[:2] == out.events[2:]  # same ids (the senders' ledger sends once), links
    assert await sender.run_once() == 0
    # the reminder too
    later = NOW + 5 * DAY
    with pytest.raises(Crash):
        dying = SendCampaigns(sessions, publish_then_die, lambda: later, EMAIL)
        await dying.decide_reminders()
        await dying.send_reminders()
    assert await SendCampaigns(sessions, out, lambda: later, EMAIL).run_once() == 2
    assert out.events[4:6] == out.events[6:8]


async def test_the_channel_and_the_manual_list(sessions: SessionFactory) -> None:
    ids = await seed_accounts(sessions, zalo=True)
    await _campaign(sessions, send_at_days=0)
    out = Outbound()
    both = SurveyPolicy(public_url="https://cskh.congty.vn",
                        channels=frozenset({"email", "zalo"}))
    assert await SendCampaigns(sessions, out, lambda: NOW, both).run_once() == 2
    lan = next(e for e in out.events if e.channel == "zalo")
    # Lan has no address: the Zalo thread of her latest ticket carries it
    assert lan.thread_key == "zalo:oa:lan-1" and lan.email is None and lan.to_email is None
    async with sessions() as s, s.begin():
        await close_campaign(s, NAME, NOW)
        await create_campaign(s, name="Đợt 2", tier=None, segment=None, send_at=NOW,
                              remind_days=5, now=NOW)
    # nothing configured: both are listed for staff to ask by hand, nothing is sent
    nothing = SurveyPolicy(public_url="https://cskh.congty.vn", channels=frozenset())
    assert await SendCampaigns(sessions, out, lambda: NOW, nothing).run_once() == 0
    async with sessions() as s:
        rows = {(i.contact_id, i.channel, i.status, i.reason)
                for i in await s.scalars(select(CampaignInvitation).where(
                    CampaignInvitation.campaign_id == 2))}
        surveys = {v.status for v in await s.scalars(select(Survey).where(
            Survey.contact_id.in_([ids["Lan"], ids["Hà"]])))}
    assert rows == {(ids["Lan"], "zalo", "manual", "no_sender"),
                    (ids["Hà"], "email", "manual", "no_sender")}
    assert surveys == {"sent", "manual"}


async def test_a_closed_campaign_sends_nothing_and_its_links_close(
        sessions: SessionFactory) -> None:
    await seed_accounts(sessions)
    await _campaign(sessions, send_at_days=0)
    out = Outbound()
    sender = SendCampaigns(sessions, out, lambda: NOW, EMAIL)
    assert await sender.run_once() == 2
    async with sessions() as s, s.begin():
        await close_campaign(s, NAME, NOW + DAY)
    assert await SendCampaigns(sessions, out, lambda: NOW + 9 * DAY, EMAIL).run_once() == 0
    async with sessions() as s, s.begin():
        found = await find(s, link_token(out.events[0]), NOW + 2 * DAY)
        assert found is not None and found.expired
        with pytest.raises(AnswerError, match="expired"):
            await answer_campaign(s, found, read_form({"overall": "5"}), NOW + 2 * DAY)
        # a campaign link never takes a CSAT answer
        with pytest.raises(AnswerError):
            await answer(s, link_token(out.events[1]), 5, None, NOW)


class RefusingMail:
    """An e-mail sender whose server refuses every ask for good (a 550), counting the tries."""

    def __init__(self) -> None:
        self.tries = 0

    def pieces(self, reply: OutboundMessage, thread: Thread) -> list[Piece]:
        async def refuse() -> str:
            self.tries += 1
            raise SendRefused("550 5.1.1 <ha@binhminh.vn>: mailbox unavailable",
                              "recipient_refused")
        return [refuse]


async def test_an_ask_refused_for_good_is_listed_for_staff(sessions: SessionFactory) -> None:
    await seed_accounts(sessions)
    await _campaign(sessions, send_at_days=0)
    out = Outbound()
    assert await SendCampaigns(sessions, out, lambda: NOW, EMAIL).run_once() == 2
    mail = RefusingMail()
    senders = SendReplies(sessions, {"email": mail}, lambda: NOW)
    values = [e.model_dump_json().encode() for e in out.events]
    with capture_logs() as logs:
        await senders(values)
    await senders(values)  # redelivered: the refusal is recorded, nothing is tried again
    assert mail.tries == 2
    async with sessions() as s:
        rows = {(i.status, i.reason) for i in await s.scalars(select(CampaignInvitation))}
    assert rows == {("manual", "ask failed: recipient_refused")}
    failed = [e for e in logs if e["event"] == LogEvent.CAMPAIGN_ASK_FAILED]
    assert len(failed) == 2 and all("mailbox unavailable" in e["reason"] for e in failed)
    # a refused ask is not reminded: staff ask by hand
    assert await SendCampaigns(sessions, out, lambda: NOW + 30 * DAY, EMAIL).run_once() == 0
    assert len(out.events) == 2
