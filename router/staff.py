"""Staff members, their queues and API tokens (stored only as a SHA-256 digest)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.shifts import ShiftError, normalize_shift
from storage.models import Queue, Staff, Ticket, utcnow

ROLES = ("agent", "lead", "admin")
STATUSES = ("online", "away", "off")
ACTIVE_TICKET_STATUSES = ("assigned", "open", "waiting")


class StaffError(ValueError):
    """A staff operation that cannot be done as asked (unknown queue, duplicate name, …)."""


def hash_token(token: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh API token with 256 bits of entropy."""
    return "cskh_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class NewStaff:
    """A staff member just created, with the only copy of their token."""

    id: int
    name: str
    token: str


def _shift(spec: str | None) -> str | None:
    try:
        return normalize_shift(spec)
    except ShiftError as exc:
        raise StaffError(str(exc)) from exc


async def add_staff(session: AsyncSession, name: str, queues: Sequence[str], *,
                    capacity: int = 20, role: str = "agent",
                    shift: str | None = None) -> NewStaff:
    """Create a staff member serving ``queues``; the token is returned once, never stored.

    ``shift``: a weekly shift spec (``router.shifts``); ``None`` or ``"none"``: always on shift.
    """
    stored_shift = _shift(shift)
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}")
    if capacity < 1:
        raise StaffError("capacity must be at least 1")
    if await session.scalar(select(Staff.id).where(Staff.name == name)):
        raise StaffError(f"a staff member called {name!r} exists already")
    found = list(await session.scalars(select(Queue).where(Queue.name.in_(queues))))
    missing = sorted(set(queues) - {q.name for q in found})
    if missing:
        raise StaffError(f"unknown queue(s): {', '.join(missing)}")
    token = new_token()
    staff = Staff(name=name, role=role, capacity=capacity, status="online",
                  shift=stored_shift, token_hash=hash_token(token), queues=found)
    session.add(staff)
    await session.flush()
    return NewStaff(id=staff.id, name=name, token=token)


async def set_status(session: AsyncSession, name: str, status: str) -> Staff:
    """Change a staff member's availability."""
    if status not in STATUSES:
        raise StaffError(f"status must be one of {', '.join(STATUSES)}")
    staff = await session.scalar(select(Staff).where(Staff.name == name))
    if staff is None:
        raise StaffError(f"no staff member called {name!r}")
    if staff.status != status:
        staff.status, staff.status_changed_at = status, utcnow()
    return staff


async def set_shift(session: AsyncSession, name: str, spec: str | None) -> Staff:
    """Give a staff member a weekly shift (stored in canonical form), or clear it with ``None``
    or ``"none"`` (always on shift). Never moves tickets: the router's next pass does."""
    stored = _shift(spec)
    staff = await session.scalar(select(Staff).where(Staff.name == name))
    if staff is None:
        raise StaffError(f"no staff member called {name!r}")
    staff.shift = stored
    return staff


async def staff_by_token(session: AsyncSession, token: str) -> Staff | None:
    """The staff member holding ``token``, or ``None``."""
    return await session.scalar(select(Staff).where(Staff.token_hash == hash_token(token)))


async def open_loads(session: AsyncSession, staff_ids: Sequence[int]) -> dict[int, int]:
    """How many active tickets each of ``staff_ids`` holds."""
    if not staff_ids:
        return {}
    rows = await session.execute(
        select(Ticket.assignee_id, func.count()).where(
            Ticket.assignee_id.in_(staff_ids), Ticket.status.in_(ACTIVE_TICKET_STATUSES)
        ).group_by(Ticket.assignee_id)
    )
    loads = dict.fromkeys(staff_ids, 0)
    for staff_id, count in rows.all():
        if staff_id is not None:
            loads[staff_id] = int(count)
    return loads
