"""aiosqlite with one trip to its thread per statement, for SQLAlchemy's aiosqlite dialect.

aiosqlite runs every call on its connection's own thread and hands the result back to the
event loop. SQLAlchemy's adapter makes four such trips for a SELECT (open a cursor, execute,
fetch all, close) and three for an INSERT or UPDATE. Each trip wakes the loop through its
self-pipe and queues behind whatever else the loop is doing; on this project's two-core
machine that costs about 100 µs of the loop's time, more than the statement itself. A
normalizer or router batch of one message runs some twenty statements, so a quiet period
(messages one at a time) cost the loop 8–10 ms per message in these trips alone.

Here the connection's ``cursor()`` is a plain object on the loop's side, and ``execute``
opens a sqlite3 cursor, runs the statement, reads every row and closes it in one trip. The
rows then come from memory; SQLAlchemy reads them all anyway (``fetchall`` after each
execute), so nothing changes for it but the count of trips. A server-side cursor
(``stream()``, which nothing here uses) would get its rows read at execute too, all at once.
Everything else (connect, commit, rollback, user functions, close) is aiosqlite's own.

Wired in by ``storage.db.create_engine`` through SQLAlchemy's ``do_connect`` event, so the
URL, its connect arguments and the dialect stay as they are.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from types import TracebackType
from typing import Any, cast

import aiosqlite

Description = tuple[tuple[Any, ...], ...] | None
_Done = tuple[list[Any], Description, int, int | None]


def _run(conn: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Done:
    """On the connection's thread: execute, read every row, close; what the cursor said."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description is not None else []
        # After the rows: for INSERT … RETURNING the count is only final once they are read.
        return rows, description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor:
    """The cursor SQLAlchemy's adapter drives: one thread trip per execute, rows in memory."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: deque[Any] = deque()
        self.description: Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def _trip(self, sql: str, parameters: Any, many: bool) -> OneTripCursor:
        conn = self._connection._conn  # raises "no active connection" once closed
        # aiosqlite's own "run this on the connection's thread" (untyped there).
        on_thread = cast(Callable[..., Awaitable[_Done]], self._connection._execute)
        rows, self.description, self.rowcount, self.lastrowid = await on_thread(
            _run, conn, sql, parameters, many)
        self._rows = deque(rows)
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None,
                      ) -> OneTripCursor:
        return await self._trip(sql, () if parameters is None else parameters, False)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneTripCursor:
        return await self._trip(sql, list(parameters), True)

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors make one thread trip per statement."""

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)


def connect(database: str | bytes, **kwargs: Any) -> OneTripConnection:
    """Like ``aiosqlite.connect``: the connection to await, for SQLAlchemy's adapter."""
    location = database.decode() if isinstance(database, bytes) else str(database)
    return OneTripConnection(partial(sqlite3.connect, location, **kwargs), 64)
