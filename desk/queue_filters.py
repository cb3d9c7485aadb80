"""The query of ``GET /api/v1/queue``: which tickets, filtered how, which page.

``QueueQuery.parse`` reads the query string and refuses any unknown parameter or bad value
with a ``FilterError`` naming it (the handler answers 400); ``QueueQuery.where`` is the
filter as a SQL clause. Parsing never touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from desk.auth import visible
from desk.search import matches
from desk.text_input import unstorable
from router.rules import CATEGORIES
from router.staff import ACTIVE_TICKET_STATUSES
from storage.models import Staff, Ticket

TICKET_STATUSES = ("new", "queued", "assigned", "open", "waiting", "resolved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
SCOPES = ("mine", "visible")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_QUERY_CHARS = 200
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LISTS = ("status", "category", "priority", "channel", "queue")
PARAMETERS = (*_LISTS, "scope", "breached", "due_before", "q", "limit", "offset")


class FilterError(ValueError):
    """A query parameter the queue cannot be filtered by; the message says why."""


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name, [])
    if len(values) > 1:
        raise FilterError(f"{name} is given {len(values)} times; give it once")
    return values[0] if values else None


def _list(params: Mapping[str, list[str]], name: str,
          allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    """A comma-separated (or repeated) list; each value one of ``allowed`` or a plain name."""
    values = tuple(v.strip() for raw in params.get(name, []) for v in raw.split(","))
    for value in values:
        if allowed is not None and value not in allowed:
            raise FilterError(f"{name} {value!r} is not one of {', '.join(allowed)}")
        if allowed is None and not _NAME.fullmatch(value):
            raise FilterError(f"{name} {value!r} is not a name (letters, digits, _ . -)")
    return values


def _int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit():
        raise FilterError(f"{name} must be a whole number, got {raw[:40]!r}")
    if len(raw.lstrip("0")) > len(str(high)):  # never int() a number of thousands of digits
        raise FilterError(f"{name} must be between {low} and {high}, got {len(raw)} digits")
    value = int(raw)
    if not low <= value <= high:
        raise FilterError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _instant(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise FilterError(f"{name} is not an ISO 8601 date-time: {raw!r}") from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise FilterError(f"{name} needs a UTC offset (e.g. 2026-05-04T17:00:00+07:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:59-01:00 is in year 10000 in UTC
        raise FilterError(f"{name} is out of range: {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """What the caller asked of their queue."""

    scope: Literal["mine", "visible"] = "mine"
    status: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()
    breached: bool | None = None
    due_before: datetime | None = None
    q: str = ""
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def parse(cls, params: Mapping[str, list[str]]) -> QueueQuery:
        """The query from a query string (each name with all its values).

        Raises ``FilterError`` for an unknown parameter, a value outside its set, a date-time
        without an offset, or a limit/offset out of range.
        """
        for name, values in params.items():
            for value in values:
                reason = unstorable(value, where=name)
                if reason:
                    raise FilterError(reason)
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise FilterError(f"unknown parameter {unknown[0]!r}; the queue takes "
                              f"{', '.join(PARAMETERS)}")
        scope = _one(params, "scope") or "mine"
        if scope not in SCOPES:
            raise FilterError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
        breached = _one(params, "breached")
        if breached not in (None, "true", "false"):
            raise FilterError(f"breached must be true or false, got {breached!r}")
        q = _one(params, "q") or ""
        if len(q) > MAX_QUERY_CHARS:
            raise FilterError(f"q is longer than {MAX_QUERY_CHARS} characters")
        return cls(
            scope="visible" if scope == "visible" else "mine",
            status=_list(params, "status", TICKET_STATUSES),
            category=_list(params, "category", CATEGORIES),
            priority=_list(params, "priority", PRIORITIES),
            channel=_list(params, "channel", None),
            queue=_list(params, "queue", None),
            breached=None if breached is None else breached == "true",
            due_before=_instant(_one(params, "due_before"), "due_before"),
            q=q,
            limit=_int(_one(params, "limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            offset=_int(_one(params, "offset"), "offset", 0, 0, 10**9),
        )

    def where(self, staff: Staff, now: datetime) -> ColumnElement[bool]:
        """The tickets this query selects for ``staff`` at ``now``."""
        clauses: list[Any] = [
            Ticket.assignee_id == staff.id if self.scope == "mine" else visible(staff),
            Ticket.status.in_(self.status or ACTIVE_TICKET_STATUSES),
        ]
        for column, wanted in ((Ticket.category, self.category), (Ticket.priority, self.priority),
                               (Ticket.channel, self.channel), (Ticket.queue, self.queue)):
            if wanted:
                clauses.append(column.in_(wanted))
        if self.breached is not None:
            clauses.append(breached(now) if self.breached else ~breached(now))
        if self.due_before is not None:
            clauses.append(Ticket.resolution_due < self.due_before)
        if self.q.strip():
            clauses.append(matches(self.q))
        return and_(*clauses)


def breached(now: datetime) -> ColumnElement[bool]:
    """A clock ran past its deadline: answered (or resolved) late, or still running past it."""
    def late(done: Any, due: Any) -> ColumnElement[bool]:
        # every branch is non-null, so NOT(breached) is exact (no three-valued logic)
        return and_(due.is_not(None), or_(and_(done.is_(None), due <= now),
                                          and_(done.is_not(None), done > due)))

    return or_(late(Ticket.first_responded_at, Ticket.first_response_due),
               late(Ticket.resolved_at, Ticket.resolution_due))
