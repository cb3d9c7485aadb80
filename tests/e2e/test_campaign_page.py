"""The campaign's longer form on ``/s/{token}`` in real Chromium, on both backend pairs.

The campaign is sent by ``SendCampaigns`` (the router role's pass) to the accounts of
tests/support/campaign.py; Hà's link is opened at phone width: opening records nothing, a post
without the required question gets the form again with the reason, an answer is recorded and
then changed from the same link, hostile comments stay text, and an expired link closes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Browser
from sqlalchemy import select, update

from desk.surveys.campaign import create_campaign
from desk.surveys.campaign_send import SendCampaigns
from desk.surveys.offer import SurveyPolicy
from ingest.web.app import create_app
from router.events import OutboundMessage
from storage.db import SessionFactory
from storage.models import CampaignAnswer, CampaignInvitation, Contact, Survey
from tests.support.browser import artifact
from tests.support.campaign import seed_accounts
from tests.support.pages import Client

AiohttpClient = Callable[..., Awaitable[Client]]
NAME = "Khảo sát hài lòng 6 tháng cuối 2026"
POLICY = SurveyPolicy(public_url="https://cskh.congty.vn", channels=frozenset({"email"}),
                      mail_domain="congty.vn")
HOSTILE = '<img src=x onerror="window.pwned=1">Giao hàng trễ 3 ngày'


async def _send(sessions: SessionFactory) -> dict[str, str]:
    """Create the campaign, send it now; the link token of each contact asked, by name."""
    now = datetime.now(UTC)
    async with sessions() as s, s.begin():
        await create_campaign(s, name=NAME, tier=None, segment=None, send_at=now,
                              remind_days=5, now=now - timedelta(hours=1))
    events: list[OutboundMessage] = []

    async def keep(batch: Sequence[OutboundMessage]) -> None:
        events.extend(batch)

    assert await SendCampaigns(sessions, keep, lambda: datetime.now(UTC), POLICY).run_once() == 2
    async with sessions() as s:
        names = {c.email: c.name for c in await s.scalars(select(Contact)) if c.email}
    return {names[e.to_email or ""] or "": e.text.split("/s/")[1].split()[0] for e in events}


async def test_the_campaign_form_answered_and_changed_on_a_phone(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    await seed_accounts(sessions)
    tokens = await _send(sessions)
    client = await aiohttp_client(create_app(backend.settings()))
    url = str(client.make_url(f"/s/{tokens['Hà']}"))

    page = await browser.new_page(viewport={"width": 390, "height": 844})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url)
    await page.goto(url)  # a mail scanner's visits record nothing
    assert await page.text_content("h1") == NAME
    assert "Nhìn chung" in (await page.text_content("#q-overall legend") or "")
    assert await page.locator("#q-recommend input[type=radio]").count() == 11
    assert await page.locator("fieldset.question").count() == 8
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone
    async with sessions() as s:
        assert (await s.scalar(select(CampaignAnswer.id))) is None
        assert (await s.scalar(select(Survey.answered_at).where(Survey.kind == "campaign"))
                ) is None
    await page.screenshot(path=str(artifact(f"campaign-{backend.name}.png")), full_page=True)

    # the required question left out: the browser itself refuses; a bare post gets the reason
    bare = await client.post(f"/s/{tokens['Hà']}", data={"delivery": "2"})
    assert bare.status == 400
    assert "Xin trả lời câu hỏi này." in await bare.text()
    async with sessions() as s:
        assert (await s.scalar(select(CampaignAnswer.id))) is None

    await page.check("#q-overall input[value='3']")
    await page.check("#q-recommend input[value='7']")
    await page.check("#q-delivery input[value='2']")
    await page.fill("#delivery_comment", HOSTILE)
    await page.click("button[type=submit]")
    assert "Cảm ơn" in (await page.text_content("h1") or "")
    async with sessions() as s:
        row = await s.scalar(select(CampaignAnswer))
        assert row is not None
        assert (row.overall, row.recommend, row.delivery, row.care_staff) == (3, 7, 2, None)
        assert row.delivery_comment == HOSTILE and row.answer_count == 1

    # the same link shows the answer given, which may be changed
    await page.goto(url)
    assert await page.locator("#answered").is_visible()
    assert await page.is_checked("#q-overall input[value='3']")
    assert await page.is_checked("#q-delivery input[value='2']")
    assert await page.input_value("#delivery_comment") == HOSTILE
    assert await page.evaluate("window.pwned === undefined")
    await page.check("#q-overall input[value='5']")
    await page.check("#q-care_staff input[value='4']")
    await page.click("button[type=submit]")
    assert "Cảm ơn" in (await page.text_content("h1") or "")
    async with sessions() as s:
        rows = (await s.scalars(select(CampaignAnswer))).all()
        assert len(rows) == 1
        assert (rows[0].overall, rows[0].care_staff, rows[0].answer_count) == (5, 4, 2)
        rating = await s.scalar(select(Survey.rating).join(
            CampaignInvitation, CampaignInvitation.survey_id == Survey.id)
            .where(CampaignInvitation.id == rows[0].invitation_id))
        assert rating == 5  # the survey row carries the overall score too

    # Lan's link is hers: untouched by Hà's answers
    other = await client.get(f"/s/{tokens['Lan']}")
    assert other.status == 200 and 'id="answered"' not in await other.text()

    # Lan's reminder (5 days on, she has not answered) carries its own link to the same form
    reminders: list[OutboundMessage] = []

    async def keep(batch: Sequence[OutboundMessage]) -> None:
        reminders.extend(batch)

    later = datetime.now(UTC) + timedelta(days=6)
    assert await SendCampaigns(sessions, keep, lambda: later, POLICY).run_once() == 1
    reminder = reminders[0].text.split("/s/")[1].split()[0]
    assert reminder != tokens["Lan"]
    answered = await client.post(f"/s/{reminder}", data={"overall": "1", "recommend": "0"})
    assert answered.status == 200, await answered.text()
    async with sessions() as s:
        scores = sorted((await s.execute(
            select(CampaignAnswer.overall, CampaignAnswer.recommend))).all())
    assert scores == [(1, 0), (5, 7)]

    async with sessions() as s, s.begin():
        await s.execute(update(Survey).values(
            expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    await page.goto(url)
    assert "kết thúc" in (await page.content())
    expired = await client.post(f"/s/{tokens['Hà']}", data={"overall": "1"})
    assert expired.status == 410
    async with sessions() as s:
        assert sorted(await s.scalars(select(CampaignAnswer.overall))) == [1, 5]
    assert errors == []
