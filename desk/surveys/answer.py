"""The customer's answer: found by the link's token, changeable until the link expires.

Opening the page records nothing (mail scanners open links); only ``answer`` writes. A rating
of 1 or 2 opens one follow-up ticket ("khách hàng chưa hài lòng") for the account's owner, or
a lead of the ticket's queue, with the comment and the original ticket linked; changing the
rating later keeps the follow-up that was opened.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.surveys.tokens import looks_like_token, token_hash
from router.deadlines import set_deadlines
from storage.models import (
    Assignment,
    CampaignInvitation,
    Customer,
    Message,
    Staff,
    Survey,
    Ticket,
    staff_queues,
)
from storage.models import Queue as QueueRow

MAX_COMMENT = 2000
LOW = 2


class AnswerError(ValueError):
    """The answer cannot be taken: ``code`` names why (``invalid``, ``expired``, ``rating``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Found:
    """A survey a link points at, with its ticket's number for the page."""

    survey: Survey
    ticket_number: str | None
    expired: bool


async def find(session: AsyncSession, token: str, now: datetime) -> Found | None:
    """The sent survey ``token`` opens, or None for a token we never sent."""
    if not looks_like_token(token):
        return None
    digest = token_hash(token)
    survey = await session.scalar(select(Survey).where(Survey.token_hash == digest,
                                                       Survey.status == "sent"))
    if survey is None:  # a campaign reminder's link opens the same survey
        survey = await session.scalar(
            select(Survey).join(CampaignInvitation, CampaignInvitation.survey_id == Survey.id)
            .where(CampaignInvitation.reminder_token_hash == digest,
                   CampaignInvitation.reminded_at.is_not(None), Survey.status == "sent"))
    if survey is None:
        return None
    ticket = await session.get(Ticket, survey.ticket_id) if survey.ticket_id else None
    expired = survey.expires_at is not None and now >= survey.expires_at
    return Found(survey, ticket.number if ticket else None, expired)


def _clean(comment: str | None) -> str | None:
    if comment is None:
        return None
    text = unicodedata.normalize("NFC", comment).replace("\x00", "").strip()
    return text[:MAX_COMMENT] or None


async def answer(session: AsyncSession, token: str, rating: int, comment: str | None,
                 now: datetime) -> Found:
    """Record (or change) the rating 1-5 and comment of the survey ``token`` opens."""
    found = await find(session, token, now)
    if found is None:
        raise AnswerError("invalid", "this survey link is not valid")
    if found.expired:
        raise AnswerError("expired", "this survey has expired")
    if found.survey.kind != "csat":  # a campaign's answer: desk.surveys.campaign_answer
        raise AnswerError("invalid", "this survey link is not valid")
    if not 1 <= rating <= 5:
        raise AnswerError("rating", "the rating is from 1 to 5")
    survey = found.survey
    survey.rating, survey.comment, survey.answered_at = rating, _clean(comment), now
    survey.answer_count = (survey.answer_count or 0) + 1
    if rating <= LOW and survey.follow_up_ticket_id is None and survey.ticket_id is not None:
        survey.follow_up_ticket_id = await _follow_up(session, survey, now)
    await session.flush()
    return found


async def _lead_of(session: AsyncSession, queue: str | None) -> Staff | None:
    if queue is None:
        return None
    return await session.scalar(
        select(Staff).join(staff_queues, staff_queues.c.staff_id == Staff.id)
        .join(QueueRow, QueueRow.id == staff_queues.c.queue_id)
        .where(QueueRow.name == queue, Staff.role == "lead").order_by(Staff.id).limit(1))


CHAT_CHANNELS = frozenset({"facebook", "zalo", "shopee", "lazada", "tiktok"})


async def _follow_up(session: AsyncSession, survey: Survey, now: datetime) -> int | None:
    original = await session.get(Ticket, survey.ticket_id)
    if original is None:
        return None
    customer = (await session.get(Customer, original.customer_id)
                if original.customer_id else None)
    owner = await session.get(Staff, customer.owner_id) if customer and customer.owner_id else None
    officer = owner or await _lead_of(session, original.queue)
    # On a chat channel the reply goes to the conversation the thread key names (the page and
    # the user, the OA and the user, the shop's conversation): the original's. Elsewhere (mail,
    # the hotline, a form) the contact's address or number carries it: a key of its own.
    chat = original.channel in CHAT_CHANNELS
    ticket = Ticket(
        status="assigned" if officer else "queued", channel=original.channel,
        thread_key=original.thread_key if chat else f"survey:{survey.public_id}",
        category=original.category,
        priority="high", sentiment="negative", queue=original.queue,
        assignee_id=officer.id if officer else None, customer_id=original.customer_id,
        contact_id=original.contact_id,
        subject=f"Khách hàng chưa hài lòng — {original.number}", created_at=now,
        updated_at=now, entities={"follow_up_of": original.number, "survey_rating":
                                  survey.rating})
    set_deadlines(ticket, customer.tier if customer else None)
    session.add(ticket)
    await session.flush()
    text = (f"Đánh giá {survey.rating}/5 cho yêu cầu {original.number}.\n"
            f"Nhận xét của khách hàng: {survey.comment or '(không có)'}")
    session.add(Message(
        ticket_id=ticket.id, envelope_id=uuid.uuid5(survey.public_id, "follow-up"),
        direction="inbound", channel=original.channel,
        external_id=f"survey-{survey.public_id}", subject=ticket.subject, text=text,
        attachments={"files": []}, sent_at=now, received_at=now,
        raw={"survey": str(survey.public_id), "follow_up_of": original.id}))
    if officer is not None:
        officer.last_assigned_at = now
        session.add(Assignment(event_id=uuid.uuid5(survey.public_id, "follow-up-assignment"),
                               ticket_id=ticket.id, staff_id=officer.id,
                               queue=original.queue or "cskh",
                               reason="owner" if owner else "lead", assigned_at=now))
    return ticket.id
