"""Staff members, their queues and API tokens (stored only as a SHA-256 digest)."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.shifts import ShiftError, normalize_shift
from storage.models import Queue, Staff, Ticket, login_key, utcnow
from storage.search_fold import fold

ROLES = ("agent", "lead", "admin")
# the roles that lead: every officer's figures, allocating accounts, writing the knowledge base
LEADS = frozenset({"lead", "admin"})
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
                    shift: str | None = None, email: str | None = None,
                    password_hash: str | None = None) -> NewStaff:
    """Create a staff member serving ``queues``; the token is returned once, never stored.

    ``shift``: a weekly shift spec (``router.shifts``); ``None`` or ``"none"``: always on shift.
    ``email`` (stored case-folded) and ``password_hash`` (``desk.passwords``) let them sign in
    to the pages; a name equal to another but for case is refused (sign-in ignores case).
    """
    stored_shift = _shift(shift)
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}")
    if capacity < 1:
        raise StaffError("capacity must be at least 1")
    name = _clean_name(name)
    if await session.scalar(select(Staff.id).where(
            (Staff.name == name) | (Staff.name_key == login_key(name)))):
        raise StaffError(f"a staff member called {name!r} exists already")
    stored_email = login_key(email) if email else None
    if stored_email is not None:
        if "@" not in stored_email.strip("@"):
            raise StaffError(f"{email!r} is not an e-mail address")
        if await session.scalar(select(Staff.id).where(Staff.email == stored_email)):
            raise StaffError(f"another staff member has the e-mail {email!r}")
    found = list(await session.scalars(select(Queue).where(Queue.name.in_(queues))))
    missing = sorted(set(queues) - {q.name for q in found})
    if missing:
        raise StaffError(f"unknown queue(s): {', '.join(missing)}")
    token = new_token()
    staff = Staff(name=name, role=role, capacity=capacity, status="online",
                  shift=stored_shift, token_hash=hash_token(token), queues=found,
                  email=stored_email, password_hash=password_hash)
    session.add(staff)
    await session.flush()
    return NewStaff(id=staff.id, name=name, token=token)


async def set_status(session: AsyncSession, name: str, status: str) -> Staff:
    """Change a staff member's availability."""
    if status not in STATUSES:
        raise StaffError(f"status must be one of {', '.join(STATUSES)}")
    staff = await find_staff(session, name)
    if staff.status != status:
        staff.status, staff.status_changed_at = status, utcnow()
    return staff


async def set_shift(session: AsyncSession, name: str, spec: str | None) -> Staff:
    """Give a staff member a weekly shift (stored in canonical form), or clear it with ``None``
    or ``"none"`` (always on shift). Never moves tickets: the router's next pass does."""
    stored = _shift(spec)
    staff = await find_staff(session, name)
    staff.shift = stored
    return staff


def _clean_name(name: str) -> str:
    """A name as stored: NFC, single spaces, no blank."""
    cleaned = " ".join(unicodedata.normalize("NFC", name).split())
    if not cleaned:
        raise StaffError("a staff name cannot be blank")
    return cleaned


def name_key(name: str) -> str:
    """How names are compared: case, diacritics and spacing ignored (``storage.search_fold``)."""
    return " ".join((fold(unicodedata.normalize("NFC", name)) or "").split())


def match_staff(staff: Sequence[Staff], name: str) -> Staff:
    """The one of ``staff`` that ``name`` names, ignoring case, spacing and, when ``name`` is
    written without diacritics, diacritics too ("nguyen van an" finds "Nguyễn Văn An"; a name
    written with marks, "Nguyễn Văn An", never finds "Nguyễn Văn Ân").

    A name exactly as stored wins. Raises ``StaffError`` when no one matches, or when several
    do (naming them).
    """
    wanted = " ".join(unicodedata.normalize("NFC", name).split())
    key = name_key(wanted)
    marked = key != wanted.lower()  # the caller wrote diacritics: they count
    candidates = [s for s in staff if name_key(s.name) == key
                  and (not marked or s.name.lower() == wanted.lower())]
    exact = [s for s in candidates if s.name == wanted]
    if len(exact) == 1 or len(candidates) == 1:
        return (exact or candidates)[0]
    if candidates:
        names = "; ".join(s.name for s in candidates)
        raise StaffError(f"{name!r} could be any of: {names}; give the name with its "
                         "diacritics")
    raise StaffError(f"no staff member called {name!r}")


async def find_staff(session: AsyncSession, name: str) -> Staff:
    """The staff member ``name`` names, as ``match_staff`` matches; ``StaffError`` if none or
    several."""
    return match_staff(list(await session.scalars(select(Staff).order_by(Staff.id))), name)


async def reset_token(session: AsyncSession, name: str) -> NewStaff:
    """Give a staff member a new API token (the old one stops working); returned once."""
    staff = await find_staff(session, name)
    token = new_token()
    staff.token_hash = hash_token(token)
    return NewStaff(id=staff.id, name=staff.name, token=token)


async def rename_staff(session: AsyncSession, old: str, new: str) -> Staff:
    """Rename a staff member; refuses a name another member already has (ignoring case and
    diacritics, so lookups stay unambiguous)."""
    staff = await find_staff(session, old)
    cleaned = _clean_name(new)
    clash = [s.name for s in await session.scalars(select(Staff).where(Staff.id != staff.id))
             if name_key(s.name) == name_key(cleaned)]
    if clash:
        raise StaffError(f"{cleaned!r} is too close to an existing name: {'; '.join(clash)}")
    staff.name = cleaned
    staff.name_key = login_key(cleaned)  # sign-in by the new name
    return staff


@dataclass(frozen=True, slots=True)
class RemovedStaff:
    """A staff member removed, and the numbers of the tickets handed back to their queues."""

    id: int
    name: str
    returned: list[str]


async def remove_staff(session: AsyncSession, name: str) -> RemovedStaff:
    """Hand a staff member's active tickets back to their queues (status ``queued``, no
    assignee: the router's next pass gives them to someone on shift), then delete them.

    History stays: their messages keep the sender name; assignments, accounts they owned and
    reports' officer columns lose the link (``ON DELETE SET NULL``).
    """
    staff = await find_staff(session, name)
    held = list(await session.scalars(select(Ticket).where(
        Ticket.assignee_id == staff.id, Ticket.status.in_(ACTIVE_TICKET_STATUSES))
        .order_by(Ticket.id).with_for_update()))
    now = utcnow()
    for ticket in held:
        # a wait on the customer stays a wait; its pause keeps running
        ticket.status = "waiting" if ticket.status == "waiting" else "queued"
        ticket.assignee_id = None
        ticket.updated_at = now
    removed = RemovedStaff(id=staff.id, name=staff.name, returned=[t.number for t in held])
    await session.flush()
    await session.delete(staff)
    await session.flush()
    return removed


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
