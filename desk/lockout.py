"""Wrong passwords at sign-in: counted per typed name and per address, slowed, then locked out.

Failures are rows of ``sign_in_failures`` (so every process serving pages counts the same
ones). Within ``window``, ``per_name`` failures for one name, or ``per_address`` from one
address, lock that name or address until ``window`` after the last of them; while locked,
no password is even checked. A successful sign-in forgets the name's failures (not the
address's). Times come from the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SignInFailure


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """How many failures lock a name or an address, within which window, for how long."""

    per_name: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    # the first wrong password waits this long, doubling with each further one, up to max_delay
    delay: float = 0.25
    max_delay: float = 2.0

    def slowdown(self, failures: int) -> float:
        """Seconds to wait before answering the ``failures``-th wrong password in a row."""
        if failures <= 0 or self.delay <= 0:
            return 0.0
        return float(min(self.delay * 2 ** min(failures - 1, 16), self.max_delay))


async def _recent(session: AsyncSession, kind: str, key: str, now: datetime,
                  policy: LockoutPolicy, limit: int) -> list[datetime]:
    return list(await session.scalars(
        select(SignInFailure.failed_at)
        .where(SignInFailure.kind == kind, SignInFailure.key == key,
               SignInFailure.failed_at > now - policy.window)
        .order_by(SignInFailure.failed_at.desc()).limit(limit)))


async def locked_until(session: AsyncSession, name_key: str, address: str, now: datetime,
                       policy: LockoutPolicy) -> datetime | None:
    """Until when sign-ins as ``name_key`` or from ``address`` are refused; ``None``: they are
    not."""
    until: datetime | None = None
    for kind, key, limit in (("name", name_key, policy.per_name),
                             ("address", address, policy.per_address)):
        recent = await _recent(session, kind, key, now, policy, limit)
        if len(recent) >= limit:
            end = recent[0] + policy.window
            until = end if until is None or end > until else until
    return until


async def record_failure(session: AsyncSession, name_key: str, address: str, now: datetime,
                         policy: LockoutPolicy) -> int:
    """Count one wrong password; the name's failures within the window, this one included.

    Failures older than the window are dropped on the way (they no longer count)."""
    await session.execute(delete(SignInFailure).where(
        SignInFailure.failed_at <= now - policy.window))
    session.add_all([SignInFailure(kind="name", key=name_key[:320], failed_at=now),
                     SignInFailure(kind="address", key=address[:320], failed_at=now)])
    await session.flush()
    return len(await _recent(session, "name", name_key[:320], now, policy, policy.per_name))


async def forget_failures(session: AsyncSession, name_key: str) -> None:
    """A successful sign-in: the name's failures no longer count."""
    await session.execute(delete(SignInFailure).where(
        SignInFailure.kind == "name", SignInFailure.key == name_key[:320]))
