"""A survey the ticket's channel cannot carry (``manual``: no sender, the hotline, no address),
handed to the customer by the officer: the ticket page offers its link once.

The link is made when the officer asks for it (a fresh token; only its SHA-256 is kept, as for
every survey), and the survey is ``sent`` from then on, with the usual life
(``CSKH_SURVEY_DAYS``). Asked again, it is a new token: the link shown before stops working,
so only the last one handed over counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.surveys.offer import SurveyPolicy
from desk.surveys.tokens import new_token, token_hash
from router.actions import ActionError, may_act
from storage.models import Staff, Survey, Ticket

SURVEY_POLICY: web.AppKey[SurveyPolicy] = web.AppKey("desk.survey_policy", SurveyPolicy)


async def by_hand(session: AsyncSession, ticket: Ticket) -> Survey | None:
    """The ticket's latest survey waiting to be asked by hand, or one handed over already
    (``sent`` with ``reason`` ``by_hand``); ``None`` when the channel carried it or none was
    decided."""
    found: Survey | None = await session.scalar(
        select(Survey).where(Survey.ticket_id == ticket.id, Survey.kind == "csat",
                             Survey.status.in_(("manual", "sent")))
        .order_by(Survey.cycle.desc(), Survey.id.desc()).limit(1))
    if found is None or not (found.status == "manual" or found.reason == "by_hand"):
        return None
    return found


async def hand_link(session: AsyncSession, staff: Staff, ticket: Ticket, policy: SurveyPolicy,
                    now: datetime) -> str:
    """A new link of the ticket's by-hand survey, the survey now ``sent``; ``ActionError``
    403 for an officer who may not act on the ticket, 409 when there is none to hand."""
    if not may_act(staff, ticket):
        raise ActionError(403, "not_allowed", "only the assignee or a lead may hand the "
                          "survey over")
    survey = await by_hand(session, ticket)
    if survey is None or survey.answered_at is not None:
        raise ActionError(409, "no_survey_by_hand", "this ticket has no survey to hand over")
    token = new_token()
    survey.token_hash, survey.token_pending = token_hash(token), None
    survey.status, survey.reason = "sent", "by_hand"
    survey.sent_at, survey.expires_at = now, now + timedelta(days=policy.days)
    survey.officer_id = survey.officer_id or staff.id
    await session.flush()
    return policy.link(token)
