"""Provider access tokens that refresh themselves, kept in the database (``channel_tokens``).

A channel's tokens are stored per account (a Zalo OA, a shop, a seller: the part of the
thread key before ``:``), or under the account ``""`` for the whole channel, which serves
every account without a row of its own (``cskh channels auth CHANNEL [--shop-id ID]``).
``TokenStore.token(account)`` answers a usable access token, refreshing it first when it
expires within ``margin``; ``rejected(account, token)`` is called when the provider answered
"expired" or "invalid" for ``token`` and refreshes unless another sender already did. A
refresh:

1. takes the row's lease with one conditional UPDATE (free, lapsed, or ours): two senders
   never refresh the same token at once; the one that loses answers ``SendUnavailable`` (its
   loop backs off and then reads the new token);
2. calls the provider with the stored refresh token, outside any transaction;
3. saves the new access token, the rotated refresh token and the expiry, and frees the lease,
   in one transaction, before the new token is used (a refresh token is single-use at Zalo: a
   second transaction could lose it).

A token read is remembered for ``cache_for`` (30 s): a send does not read the database each
time, a refresh by another sender is seen within that time (the old token stays valid until
it expires), and a token the provider refuses is looked up again at once.

With no row stored, ``fallback`` (the token of the environment, ``CSKH_*_ACCESS_TOKEN``) is
used as it is and never refreshed. A refresh the provider refuses is ``SendRefused``
(``token_invalid``), recorded on the row as its ``last_error``: seed a new pair with
``cskh channels auth``. Tokens are never logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import structlog
from sqlalchemy import ColumnElement, CursorResult, or_, select, update

from connectors.sending import (
    TOKEN_INVALID,
    ChatSender,
    ChatWindow,
    FreshToken,
    SendRefused,
    SendUnavailable,
)
from storage.db import SessionFactory
from storage.log_events import LogEvent
from storage.models import ChannelToken

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]
Refresh = Callable[[str, str], Awaitable[FreshToken]]  # (refresh token, account) → new token


def account_of(thread_key: str) -> str:
    """The account a thread belongs to: its key's part before ``:`` (OA, shop, seller)."""
    account, sep, _rest = thread_key.partition(":")
    return account if sep else ""


class TokenStore:
    """The stored tokens of one channel; see the module docstring."""

    def __init__(self, sessions: SessionFactory, clock: Clock, channel: str, refresh: Refresh,
                 *, fallback: str | None = None, margin: timedelta = timedelta(minutes=10),
                 lease: timedelta = timedelta(seconds=60), owner: str | None = None,
                 cache_for: timedelta = timedelta(seconds=30)) -> None:
        self._sessions = sessions
        self._clock = clock
        self.channel = channel
        self._refresh = refresh
        self._fallback = fallback or None
        self._margin, self._lease = margin, lease
        self._owner = owner or uuid.uuid4().hex
        self._cache_for = cache_for
        self._cache: dict[str, tuple[datetime, ChannelToken | None]] = {}

    async def _row(self, account: str) -> ChannelToken | None:
        """The account's own row, else the channel's (account ``""``), else None (one
        query); remembered for ``cache_for``."""
        async with self._sessions() as session:
            rows = {r.account: r for r in await session.scalars(
                select(ChannelToken).where(ChannelToken.channel == self.channel,
                                           ChannelToken.account.in_({account, ""}))
                .execution_options(populate_existing=True))}
        row = rows.get(account) or rows.get("")
        self._cache[account] = (self._clock(), row)
        return row

    async def _known(self, account: str) -> ChannelToken | None:
        """``_row``, from memory when read within ``cache_for``: a token another sender
        refreshed meanwhile is still valid, and one the provider refuses goes through
        ``rejected``, which always reads the database."""
        read_at, row = self._cache.get(account, (None, None))
        if read_at is not None and self._clock() - read_at < self._cache_for:
            return row
        return await self._row(account)

    def _missing(self) -> SendRefused:
        return SendRefused(f"no {self.channel} token is stored: seed one with `cskh channels "
                           f"auth {self.channel}` (it asks for the tokens)",
                           TOKEN_INVALID)

    def _due(self, row: ChannelToken) -> bool:
        return row.expires_at is not None and row.expires_at - self._margin <= self._clock()

    async def token(self, account: str = "") -> str:
        """A usable access token for ``account``; refreshed first when it expires within
        ``margin``."""
        row = await self._known(account)
        if row is None:
            if self._fallback is None:
                raise self._missing()
            return self._fallback
        if self._due(row):
            return await self._refresh_once(row.account, self._due)
        return row.access_token

    async def rejected(self, account: str, token: str) -> str:
        """The provider refused ``token``: a new one (refreshed unless someone already did)."""
        row = await self._row(account)
        if row is None:
            raise SendRefused(f"the {self.channel} token of the settings was refused and none "
                              f"is stored: `cskh channels auth {self.channel}`", TOKEN_INVALID)
        return await self._refresh_once(row.account, lambda fresh: fresh.access_token == token)

    def _where(self, account: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        return (ChannelToken.channel == self.channel, ChannelToken.account == account)

    async def _take_lease(self, account: str, now: datetime) -> bool:
        async with self._sessions() as session, session.begin():
            result = cast(CursorResult[object], await session.execute(
                update(ChannelToken)
                .where(*self._where(account),
                       or_(ChannelToken.lease_until.is_(None), ChannelToken.lease_until < now,
                           ChannelToken.lease_owner == self._owner))
                .values(lease_owner=self._owner, lease_until=now + self._lease)
                .execution_options(synchronize_session=False)))
            return result.rowcount == 1

    async def _release(self, account: str, error: str | None = None) -> None:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            values: dict[str, object] = {"lease_owner": None, "lease_until": None}
            if error is not None:
                values.update(last_error=error[:2000], last_error_at=now)
            await session.execute(
                update(ChannelToken)
                .where(*self._where(account), ChannelToken.lease_owner == self._owner)
                .values(**values).execution_options(synchronize_session=False))

    async def _refresh_once(self, account: str,
                            still_needed: Callable[[ChannelToken], bool]) -> str:
        now = self._clock()
        if not await self._take_lease(account, now):
            raise SendUnavailable(f"the {self.channel} token is being refreshed by another "
                                  "sender")
        try:
            async with self._sessions() as session:
                row = await session.get(ChannelToken, (self.channel, account),
                                        populate_existing=True)
            if row is None:
                raise self._missing()
            if not still_needed(row):  # refreshed by another sender meanwhile
                await self._release(account)
                self._cache.clear()
                return row.access_token
            if not row.refresh_token:
                raise SendRefused(f"the {self.channel} token expired and no refresh token is "
                                  "stored: `cskh channels auth`", TOKEN_INVALID)
            fresh = await self._refresh(row.refresh_token, account)
        except (SendRefused, SendUnavailable) as exc:
            await self._release(account, f"refresh: {exc}")
            raise
        except BaseException:
            await self._release(account)
            raise
        done = self._clock()
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(ChannelToken)
                .where(*self._where(account), ChannelToken.lease_owner == self._owner)
                .values(access_token=fresh.access_token,
                        refresh_token=fresh.refresh_token or row.refresh_token,
                        expires_at=None if fresh.expires_in is None
                        else done + timedelta(seconds=fresh.expires_in),
                        refreshed_at=done, updated_at=done, lease_owner=None,
                        lease_until=None, last_error=None, last_error_at=None)
                .execution_options(synchronize_session=False))
        self._cache.clear()  # the next send reads the new token
        log.info(LogEvent.TOKEN_REFRESHED, channel=self.channel, account=account,
                 expires_in=fresh.expires_in)
        return fresh.access_token


@dataclass(frozen=True, slots=True)
class TokenedChat:
    """A chat sender whose token comes from a ``TokenStore``: ``make(token)`` builds the
    provider's sender; a reply refused for its token is sent again once with a refreshed one."""

    channel: str
    make: Callable[[str], ChatSender]
    store: TokenStore | None  # None: a registry only listing channels (never sends)

    @property
    def window(self) -> ChatWindow:
        return self.make("").window

    def parts(self, thread_key: str, text: str) -> list[str]:
        return self.make("").parts(thread_key, text)

    async def send(self, thread_key: str, text: str, *, tagged: bool = False,
                   last_message: Mapping[str, object] | None = None) -> str:
        if self.store is None:
            raise RuntimeError(f"{self.channel}: this registry has no token store")
        account = account_of(thread_key)
        token = await self.store.token(account)
        try:
            return await self.make(token).send(thread_key, text, tagged=tagged,
                                               last_message=last_message)
        except SendRefused as exc:
            if exc.code != TOKEN_INVALID:
                raise
            token = await self.store.rejected(account, token)
        return await self.make(token).send(thread_key, text, tagged=tagged,
                                           last_message=last_message)
