"""The processed-event ledger: which events a consumer has already applied.

Read with one query per batch; written with one bulk INSERT per batch.

Rows of ``processed_events`` are never read back as objects in the transaction that writes
them, so they skip the ORM's unit of work: building an instance, tracking it and flushing it
cost more than the insert itself at a few hundred events per batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedEvent


async def processed(session: AsyncSession, consumer: str,
                    event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``event_ids`` already in ``consumer``'s ledger."""
    found = await session.scalars(select(ProcessedEvent.event_id).where(
        ProcessedEvent.consumer == consumer, ProcessedEvent.event_id.in_(list(event_ids))))
    return set(found)


async def record_processed(session: AsyncSession, consumer: str,
                           event_ids: Iterable[uuid.UUID], at: datetime) -> None:
    """Add ``event_ids`` to ``consumer``'s ledger in the session's transaction."""
    rows = [{"consumer": consumer, "event_id": event_id, "processed_at": at}
            for event_id in event_ids]
    if rows:
        await session.execute(insert(ProcessedEvent), rows)
