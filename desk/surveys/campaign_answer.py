"""The campaign's longer answer: its questions, reading a submitted form, recording it.

Overall satisfaction (1-5) is required; likelihood to recommend (0-10) and each topic (1-5,
with its own comment) may be left out, for a customer who never used the warranty, say. One
answer per invitation, changed in place until the link expires; opening the page records
nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.surveys.answer import MAX_COMMENT, AnswerError, Found
from storage.models import CAMPAIGN_TOPICS, CampaignAnswer, CampaignInvitation


@dataclass(frozen=True)
class Question:
    """One question of the campaign form: ``key`` is the answer's column."""

    key: str
    label: str  # a gettext message id
    low: int
    high: int
    required: bool = False

    @property
    def scale(self) -> range:
        """The values offered, highest first on the page."""
        return range(self.high, self.low - 1, -1)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue; translated where it is shown."""
    return message


QUESTIONS: tuple[Question, ...] = (
    Question("overall", N_("Overall, how satisfied are you with our company?"), 1, 5, True),
    Question("recommend", N_("How likely are you to recommend us to a partner?"), 0, 10),
    Question("product_quality", N_("Product quality"), 1, 5),
    Question("prices_promotions", N_("Prices and promotions"), 1, 5),
    Question("delivery", N_("Delivery"), 1, 5),
    Question("invoices_documents", N_("Invoices and documents"), 1, 5),
    Question("warranty_maintenance", N_("Warranty and maintenance"), 1, 5),
    Question("care_staff", N_("Our customer care staff"), 1, 5),
)
# the questions that take a comment (the recommendation is a bare score)
COMMENTED = ("overall", *CAMPAIGN_TOPICS)


@dataclass
class CampaignForm:
    """A submitted (or stored) campaign answer: scores by question, comments by question."""

    scores: dict[str, int | None] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # question -> gettext message id


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = unicodedata.normalize("NFC", text).replace("\x00", "").strip()
    return cleaned[:MAX_COMMENT] or None


def read_form(form: Mapping[str, object]) -> CampaignForm:
    """The scores and comments of a posted form, with what is wrong with it (if anything)."""
    out = CampaignForm()
    for question in QUESTIONS:
        raw = form.get(question.key)
        text = raw.strip() if isinstance(raw, str) else ""
        if not text:
            out.scores[question.key] = None
            if question.required:
                out.errors[question.key] = N_("Please answer this question.")
            continue
        try:
            value = int(text)
        except ValueError:
            value = question.low - 1
        if not question.low <= value <= question.high:
            out.scores[question.key] = None
            out.errors[question.key] = (N_("Please choose from 1 to 5.") if question.high == 5
                                        else N_("Please choose from 0 to 10."))
            continue
        out.scores[question.key] = value
    for key in COMMENTED:
        raw = form.get(f"{key}_comment")
        comment = _clean(raw if isinstance(raw, str) else None)
        if comment:
            out.comments[key] = comment
    return out


async def _invitation(session: AsyncSession, found: Found) -> CampaignInvitation:
    invitation = await session.scalar(select(CampaignInvitation).where(
        CampaignInvitation.survey_id == found.survey.id))
    if invitation is None or found.survey.kind != "campaign":
        raise AnswerError("invalid", "this survey link is not valid")
    return invitation


async def stored_answer(session: AsyncSession, found: Found) -> CampaignForm:
    """The answer given so far (empty when none): what the page shows."""
    invitation = await _invitation(session, found)
    row = await session.scalar(select(CampaignAnswer).where(
        CampaignAnswer.invitation_id == invitation.id))
    out = CampaignForm()
    if row is None:
        return out
    for question in QUESTIONS:
        out.scores[question.key] = getattr(row, question.key)
    for key in COMMENTED:
        if comment := getattr(row, f"{key}_comment"):
            out.comments[key] = comment
    return out


async def answer_campaign(session: AsyncSession, found: Found, form: CampaignForm,
                          now: datetime) -> CampaignAnswer:
    """Record (or replace) the answer of the invitation ``found`` opens.

    ``AnswerError`` for an expired link (``expired``) or a form with errors (``form``).
    """
    if found.expired:
        raise AnswerError("expired", "this survey has expired")
    if form.errors:
        raise AnswerError("form", "the answer is incomplete")
    invitation = await _invitation(session, found)
    row = await session.scalar(select(CampaignAnswer).where(
        CampaignAnswer.invitation_id == invitation.id))
    if row is None:
        row = CampaignAnswer(invitation_id=invitation.id, campaign_id=invitation.campaign_id,
                             answer_count=0)
        session.add(row)
    for question in QUESTIONS:
        setattr(row, question.key, form.scores.get(question.key))
    for key in COMMENTED:
        setattr(row, f"{key}_comment", form.comments.get(key))
    row.answered_at = now
    row.answer_count = (row.answer_count or 0) + 1
    survey = found.survey
    survey.rating, survey.comment = form.scores.get("overall"), form.comments.get("overall")
    survey.answered_at, survey.answer_count = now, (survey.answer_count or 0) + 1
    await session.flush()
    return row
