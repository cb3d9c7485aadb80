"""``/s/{token}``: the customer's survey page, public, Vietnamese, phone-friendly.

``GET`` shows the question (and the answer given so far) and writes nothing; ``POST`` records
the answer; a campaign's link shows the campaign's longer form
(``desk.surveys.campaign_answer``). A token we never sent, or one that expired, gets a clear
page (404, 410), never an error; a malformed answer gets the form again with the reason (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
import structlog
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.api import CLOCK, SESSIONS
from desk.i18n import gettext
from desk.surveys.answer import AnswerError, Found, answer, find
from desk.surveys.campaign_answer import (
    COMMENTED,
    QUESTIONS,
    CampaignForm,
    answer_campaign,
    read_form,
    stored_answer,
)
from desk.surveys.tokens import looks_like_token, token_hash
from storage.log_events import LogEvent
from storage.models import Campaign, CampaignInvitation, Survey

log = structlog.get_logger(__name__)
RATINGS = (5, 4, 3, 2, 1)
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                "X-Robots-Tag": "noindex"}


def _render(request: web.Request, template: str, context: dict[str, Any],
            status: int = 200) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _gone(request: web.Request, found: Found | None) -> web.Response:
    if found is None:
        return _render(request, "survey_message.html", {
            "heading": gettext("This survey link is not valid"),
            "body": gettext("Please check that you opened the whole link from our message.")},
            404)
    return _render(request, "survey_message.html", {
        "heading": gettext("This survey has closed"),
        "body": gettext("Thank you. The time to answer this survey has passed.")}, 410)


def _form(request: web.Request, found: Found, error: str | None = None,
          status: int = 200) -> web.Response:
    survey = found.survey
    return _render(request, "survey.html", {
        "ticket_number": found.ticket_number, "ratings": RATINGS, "rating": survey.rating,
        "comment": survey.comment or "", "answered": survey.rating is not None,
        "error": error, "action": request.path}, status)


async def _campaign_form(request: web.Request, session: AsyncSession, found: Found,
                         form: CampaignForm | None = None, status: int = 200) -> web.Response:
    """The campaign's longer form: ``form`` (a rejected post) or the answer given so far."""
    stored = await stored_answer(session, found)
    shown = form or stored
    name = await session.scalar(
        select(Campaign.name).join(CampaignInvitation,
                                   CampaignInvitation.campaign_id == Campaign.id)
        .where(CampaignInvitation.survey_id == found.survey.id))
    return _render(request, "survey_campaign.html", {
        "name": name, "questions": QUESTIONS, "commented": COMMENTED,
        "scores": shown.scores, "comments": shown.comments, "errors": shown.errors,
        "answered": bool(stored.scores), "action": request.path}, status)


async def survey_page(request: web.Request) -> web.Response:
    """The question, with the answer given so far; records nothing."""
    async with request.app[SESSIONS]() as session:
        found = await find(session, request.match_info["token"], request.app[CLOCK]())
        if found is None or found.expired:
            return _gone(request, found)
        if found.survey.kind == "campaign":
            return await _campaign_form(request, session, found)
    return _form(request, found)


async def campaign_answer(request: web.Request, form: Mapping[str, object]) -> web.Response:
    """Record a campaign's answer; the form again with the reasons (400) when incomplete."""
    token = request.match_info["token"]
    read = read_form(form)
    async with request.app[SESSIONS]() as session, session.begin():
        found = await find(session, token, request.app[CLOCK]())
        if found is None or found.expired:
            return _gone(request, found)
        if read.errors:
            return await _campaign_form(request, session, found, read, 400)
        row = await answer_campaign(session, found, read, request.app[CLOCK]())
        invitation_id, count = row.invitation_id, row.answer_count
    log.info(LogEvent.CAMPAIGN_ANSWERED, invitation_id=invitation_id, answers=count)
    return _render(request, "survey_message.html", {
        "heading": gettext("Thank you for your answer"),
        "body": gettext("You may change it from the same link until it closes."),
        "again": request.path})


async def survey_answer(request: web.Request) -> web.Response:
    """Record the rating and comment; the thank-you page (the answer may still be changed)."""
    form = await request.post()
    token = request.match_info["token"]
    async with request.app[SESSIONS]() as session:
        kind = await session.scalar(select(Survey.kind).where(
            Survey.token_hash == token_hash(token))) if looks_like_token(token) else None
        if kind is None and looks_like_token(token):
            kind = await session.scalar(
                select(Survey.kind).join(CampaignInvitation,
                                         CampaignInvitation.survey_id == Survey.id)
                .where(CampaignInvitation.reminder_token_hash == token_hash(token)))
    if kind == "campaign":
        return await campaign_answer(request, form)
    try:
        rating = int(str(form.get("rating", "")))
    except ValueError:
        rating = 0
    comment = form.get("comment")
    async with request.app[SESSIONS]() as session, session.begin():
        try:
            found = await answer(session, token, rating,
                                 comment if isinstance(comment, str) else None,
                                 request.app[CLOCK]())
        except AnswerError as exc:
            if exc.code != "rating":
                return _gone(request, await find(session, token, request.app[CLOCK]()))
            again = await find(session, token, request.app[CLOCK]())
            assert again is not None
            return _form(request, again, gettext("Please choose from 1 to 5 stars."), 400)
        survey_id, follow_up = found.survey.id, found.survey.follow_up_ticket_id
    log.info(LogEvent.SURVEY_ANSWERED, survey_id=survey_id, rating=rating,
             follow_up=follow_up is not None)
    return _render(request, "survey_message.html", {
        "heading": gettext("Thank you for your answer"),
        "body": gettext("You may change it from the same link until it closes."),
        "again": request.path})


def add_survey_routes(app: web.Application) -> None:
    """Register ``GET`` and ``POST /s/{token}`` on ``app``."""
    app.router.add_get("/s/{token}", survey_page, name="survey")
    app.router.add_post("/s/{token}", survey_answer)
