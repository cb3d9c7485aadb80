"""Officers' passwords: argon2id hashes (``argon2-cffi``), set from the CLI, checked at sign-in.

A password is never stored, logged or returned; only its argon2 hash is kept in
``staff.password_hash``. Checking costs tens of milliseconds of CPU on purpose, so the pages
run it in a worker thread (``verify_async``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.staff import StaffError
from storage.models import Staff, login_key

MIN_LENGTH = 8
MAX_LENGTH = 1024
_HASHER = PasswordHasher()
# verified against when the name is unknown, so an unknown name costs what a known one does
_DUMMY_HASH = _HASHER.hash("cskh-no-such-officer")


class PasswordError(ValueError):
    """A password that cannot be set (too short, too long)."""


def _normal(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def hash_password(password: str) -> str:
    """The stored form of ``password`` (NFC first, so an IME's decomposed 'ế' still matches)."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"a password has at most {MAX_LENGTH} characters")
    return _HASHER.hash(_normal(password))


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; ``False`` for no hash (spending the same work)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, _normal(password)) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_async(stored: str | None, password: str) -> bool:
    """``verify`` in a worker thread."""
    return await asyncio.to_thread(verify, stored, password)


async def set_password(session: AsyncSession, name: str, password: str) -> Staff:
    """Give the officer called ``name`` a new password (their open page sessions end)."""
    staff = await session.scalar(select(Staff).where(Staff.name == name))
    if staff is None:
        raise StaffError(f"no staff member called {name!r}")
    staff.password_hash = hash_password(password)
    return staff


async def staff_by_login(session: AsyncSession, login: str) -> Staff | None:
    """The officer whose e-mail or name is ``login``, ignoring case; ``None`` if none or if the
    name is ambiguous (two names differing only in case)."""
    key = login_key(login)
    if not key:
        return None
    if "@" in key:
        found = await session.scalar(select(Staff).where(Staff.email == key))
        if found is not None:
            return found
    matches = list(await session.scalars(select(Staff).where(Staff.name_key == key).limit(2)))
    return matches[0] if len(matches) == 1 else None
