"""A web form's submission id is what its sender typed: it may dedupe only its own retries.

The site (or anyone posting without a signature) chooses ``submission_id``, and the envelope
id is derived from it (``connectors.envelope.envelope_id``), so a retried post is the same
envelope and is stored once. A post that reuses someone else's id for other content is not a
retry: left alone it would be taken for a duplicate and dropped after we answered 202 — or,
posted first with an id the site will give next, it would make the real customer's message
the one dropped. ``distinct_submissions`` gives such a post its own id and conversation
(``{id}~{digest of its content}``), so it becomes its own ticket and its own retries still
dedupe; it never continues the ticket of the id it reused.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.envelope import InboundEnvelope, envelope_id
from normalizer.identity import clip
from normalizer.trust import sender_trust
from storage.log_events import LogEvent
from storage.models import Message

log = structlog.get_logger(__name__)

Content = tuple[str | None, str | None, str | None, str | None, str]


def _content(envelope: InboundEnvelope) -> Content:
    """What the stored message keeps of a submission, as it keeps it."""
    sender = envelope.sender
    return (clip(sender.name, 200), clip(sender.email, 320), clip(sender.phone, 32),
            clip(envelope.subject, 500), envelope.text)


def _own(envelope: InboundEnvelope, content: Content) -> InboundEnvelope:
    digest = hashlib.sha256("\x1f".join(c or "" for c in content).encode(
        "utf-8", "surrogatepass")).hexdigest()[:24]
    external_id = f"{envelope.external_id}~{digest}"
    return envelope.model_copy(update={
        "id": envelope_id(envelope.channel, external_id), "external_id": external_id,
        "thread_key": f"{envelope.channel}:{external_id}"})


async def distinct_submissions(session: AsyncSession,
                               envelopes: Sequence[InboundEnvelope]) -> list[InboundEnvelope]:
    """``envelopes`` with each web-form submission that reuses an id for other content (than
    the stored message's, or an earlier one's in the batch) under its own id; the rest as
    they are. A retry of the same content keeps its id."""
    forms = {e.id for e in envelopes if sender_trust(e) == "self_asserted"}
    if not forms:
        return list(envelopes)
    seen: dict[uuid.UUID, Content] = {
        row[0]: (row[1], row[2], row[3], row[4], row[5]) for row in await session.execute(
            select(Message.envelope_id, Message.sender_name, Message.sender_email,
                   Message.sender_phone, Message.subject, Message.text)
            .where(Message.envelope_id.in_(forms)))}
    out: list[InboundEnvelope] = []
    for envelope in envelopes:
        if envelope.id in forms:
            content = _content(envelope)
            if seen.setdefault(envelope.id, content) != content:
                log.warning(LogEvent.SUBMISSION_ID_REUSED, channel=envelope.channel,
                            message_id=str(envelope.id))
                envelope = _own(envelope, content)
        out.append(envelope)
    return out
