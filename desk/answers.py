"""Canned answers: each queue's ready texts an officer inserts into a reply.

A lead keeps them per queue (title, text); the text may name the placeholders
``{khach_hang}`` (the customer), ``{so_phieu}`` (the ticket number) and ``{nhan_vien}`` (the
officer). ``render_answer`` fills only those three, by plain substitution: the text is never
passed to ``str.format``, an unknown ``{name}`` (or a value we do not know) stays as typed.
Functions here work inside the caller's transaction and raise ``AnswerError`` with an HTTP
status; none of them commits.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from desk.search import folded, terms
from desk.text_input import unstorable
from storage.models import CannedAnswer, Queue, Staff

PLACEHOLDERS = ("khach_hang", "so_phieu", "nhan_vien")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
COLUMNS = ("queue", "title", "text")
MAX_TITLE = 200
MAX_TEXT = 20_000


class AnswerError(Exception):
    """A canned-answer request refused; ``status`` is the HTTP answer."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


def render_answer(text: str, values: Mapping[str, str | None]) -> str:
    """``text`` with each known placeholder replaced by its value in ``values``.

    Never interprets anything else in ``text``: braces, ``{0}``, ``{x.__class__}`` and a
    placeholder whose value is missing or empty are kept exactly as typed.
    """
    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return value if value else match.group(0)

    return _PLACEHOLDER.sub(fill, text)


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value.strip())


def clean_fields(title: Any, text: Any) -> tuple[str, str]:
    """The NFC title and text of an answer, or ``AnswerError`` 400 saying what is wrong."""
    for name, value in (("title", title), ("text", text)):
        if not isinstance(value, str):
            raise AnswerError(400, "invalid_field", f"{name} must be a string")
        reason = unstorable(value, where=name)
        if reason:
            raise AnswerError(400, "invalid_text", reason)
    title, text = _nfc(title), unicodedata.normalize("NFC", text).strip("\r\n")
    if not title:
        raise AnswerError(400, "empty_title", "the title is empty")
    if len(title) > MAX_TITLE:
        raise AnswerError(400, "title_too_long", f"the title is over {MAX_TITLE} characters")
    if not text.strip():
        raise AnswerError(400, "empty_text", "the text is empty")
    if len(text) > MAX_TEXT:
        raise AnswerError(400, "text_too_long", f"the text is over {MAX_TEXT} characters")
    return title, text


def answer_json(answer: CannedAnswer) -> dict[str, Any]:
    """The API form of a canned answer."""
    return {"id": answer.id, "queue": answer.queue, "title": answer.title,
            "text": answer.text, "created_by": answer.created_by,
            "updated_at": answer.updated_at.isoformat()}


def readable_queues(staff: Staff) -> list[str] | None:
    """The queues whose answers ``staff`` may read and insert; ``None``: all (an admin)."""
    return None if staff.role == "admin" else [q.name for q in staff.queues]


def may_edit(staff: Staff, queue: str) -> bool:
    """Whether ``staff`` keeps ``queue``'s answers: a lead of it, or an admin."""
    return staff.role == "admin" or (staff.role == "lead"
                                     and queue in {q.name for q in staff.queues})


async def find_answers(session: AsyncSession, queues: list[str] | None, query: str = "",
                       *, limit: int = 50) -> list[CannedAnswer]:
    """Answers of ``queues`` (``None``: all) whose title or text hold every word of ``query``,
    with or without diacritics; by queue and title."""
    stmt = select(CannedAnswer)
    if queues is not None:
        stmt = stmt.where(CannedAnswer.queue.in_(queues))
    for term in terms(query):
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = literal(f"%{escaped}%", String())
        stmt = stmt.where(folded(CannedAnswer.title).like(pattern, escape="\\")
                          | folded(CannedAnswer.text).like(pattern, escape="\\"))
    return list(await session.scalars(
        stmt.order_by(CannedAnswer.queue, CannedAnswer.title, CannedAnswer.id).limit(limit)))


async def _known_queue(session: AsyncSession, queue: Any) -> str:
    if not isinstance(queue, str):
        raise AnswerError(400, "invalid_field", "queue must be a string")
    name = queue.strip()
    if await session.scalar(select(Queue.id).where(Queue.name == name)) is None:
        raise AnswerError(400, "unknown_queue", f"no queue called {name!r}")
    return name


async def _same_title(session: AsyncSession, queue: str, title: str) -> CannedAnswer | None:
    return await session.scalar(select(CannedAnswer).where(
        CannedAnswer.queue == queue, CannedAnswer.title == title))


async def create_answer(session: AsyncSession, staff: Staff, data: Mapping[str, Any],
                        now: datetime) -> CannedAnswer:
    """A new answer of ``data["queue"]`` by a lead of that queue (or an admin)."""
    queue = await _known_queue(session, data.get("queue"))
    if not may_edit(staff, queue):
        raise AnswerError(403, "not_allowed", "only a lead of the queue keeps its answers")
    title, text = clean_fields(data.get("title"), data.get("text"))
    if await _same_title(session, queue, title) is not None:
        raise AnswerError(409, "duplicate_title", f"{queue} already has an answer {title!r}")
    answer = CannedAnswer(queue=queue, title=title, text=text, created_by=staff.id,
                          updated_at=now)
    session.add(answer)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create of the same title
        raise AnswerError(409, "duplicate_title",
                          f"{queue} already has an answer {title!r}") from exc
    return answer


async def visible_answer(session: AsyncSession, staff: Staff, answer_id: int) -> CannedAnswer:
    """The answer ``answer_id`` if ``staff`` may read it, else ``AnswerError`` 404."""
    answer = await session.get(CannedAnswer, answer_id)
    queues = readable_queues(staff)
    if answer is None or (queues is not None and answer.queue not in queues):
        raise AnswerError(404, "not_found", "no such answer")
    return answer


async def update_answer(session: AsyncSession, staff: Staff, answer: CannedAnswer,
                        data: Mapping[str, Any], now: datetime) -> CannedAnswer:
    """Change the title and/or the text of ``answer`` (a lead of its queue, an admin)."""
    if not may_edit(staff, answer.queue):
        raise AnswerError(403, "not_allowed", "only a lead of the queue keeps its answers")
    if "title" not in data and "text" not in data:
        raise AnswerError(400, "nothing_to_change", "give title and/or text")
    title, text = clean_fields(data.get("title", answer.title), data.get("text", answer.text))
    other = await _same_title(session, answer.queue, title)
    if other is not None and other.id != answer.id:
        raise AnswerError(409, "duplicate_title",
                          f"{answer.queue} already has an answer {title!r}")
    answer.title, answer.text, answer.updated_at = title, text, now
    await session.flush()
    return answer


async def delete_answer(session: AsyncSession, staff: Staff, answer: CannedAnswer) -> None:
    """Remove ``answer`` (a lead of its queue, an admin)."""
    if not may_edit(staff, answer.queue):
        raise AnswerError(403, "not_allowed", "only a lead of the queue keeps its answers")
    await session.delete(answer)
    await session.flush()


@dataclass
class ImportReport:
    """What an import did, and the lines it refused (1-based, the header is line 1)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_rows(text: str) -> Iterable[tuple[int, dict[str, str | None]]]:
    """Rows of a CSV text (UTF-8, with or without an Excel BOM) with their line numbers."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    fields = [(f or "").strip().lower() for f in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in fields]
    if missing:
        raise ValueError(f"the CSV needs the columns {', '.join(COLUMNS)}; "
                         f"missing: {', '.join(missing)}")
    reader.fieldnames = fields
    for row in reader:
        yield reader.line_num, row


async def import_answers(session: AsyncSession, text: str, now: datetime) -> ImportReport:
    """Create or update answers from CSV ``text`` (columns queue, title, text), matched by
    queue and title. A line with an unknown queue, an empty or over-long title or text is
    refused and listed in the report; the other lines are imported."""
    report = ImportReport()
    queues = set(await session.scalars(select(Queue.name)))
    for line, row in read_rows(text):
        queue = (row.get("queue") or "").strip()
        try:
            if queue not in queues:
                raise AnswerError(400, "unknown_queue", f"no queue called {queue!r}")
            title, body = clean_fields(row.get("title") or "", row.get("text") or "")
        except AnswerError as exc:
            report.errors.append((line, exc.reason))
            continue
        existing = await _same_title(session, queue, title)
        if existing is None:
            session.add(CannedAnswer(queue=queue, title=title, text=body, updated_at=now))
            report.created += 1
        elif existing.text != body:
            existing.text, existing.updated_at = body, now
            report.updated += 1
        else:
            report.unchanged += 1
        await session.flush()
    return report
