"""Engines and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import socket
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_driver
from storage.search_fold import fold

SessionFactory = async_sessionmaker[AsyncSession]
# an execution option: this engine's transactions only read (SQLite: a deferred BEGIN)
READ_ONLY = "cskh_read_only"
# A connection refused, reset or timed out before SQLAlchemy wraps it (asyncpg's connect
# raises the socket's own error), SQLAlchemy's wrappers of the driver's, its pool's timeout.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    ConnectionError, TimeoutError, socket.gaierror, sa_exc.OperationalError,
    sa_exc.InterfaceError, sa_exc.TimeoutError, asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError, asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError)
# SQLSTATE classes that mean "the server is away or restarting", not "this statement is
# wrong": 08 connection exception, 57P operator intervention (57P01 admin shutdown, 57P02
# crash shutdown, 57P03 "the database system is starting up / shutting down"), 53300 too
# many connections; not 57014 (a statement timeout: that input would time out again). A
# fast shutdown (``systemctl restart postgresql``) raises 57P01 in every open session and
# 57P03 in every connect until the server is up again.
_AWAY_SQLSTATES = ("08", "57P", "53300")


def _sqlstate(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return ""


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached or is restarting (send again
    later), not that the statement or the data was wrong."""
    if isinstance(exc, sa_exc.IntegrityError):
        return False
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, _UNREACHABLE):
        return True
    return _sqlstate(exc).startswith(_AWAY_SQLSTATES)


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> str | None:
    """The file path of a SQLite URL, or ``None`` for other backends and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return None if parsed.database == ":memory:" else parsed.database


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An engine for ``url``; SQLite gets WAL, full fsync, write-intent transactions and
    one thread trip per statement (``storage.sqlite_driver``).

    SQLite connections offer ``cskh_fold(text)`` (``storage.search_fold``) for text search.
    SQLite write transactions start with ``BEGIN IMMEDIATE`` so that two writers queue on the
    busy timeout instead of failing with ``database is locked`` when a reader upgrades.
    """
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0,
                                     pool_timeout=60)
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "do_connect")
        def _one_trip(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            # The dialect's own connect, with a driver connection that makes one thread trip
            # per statement instead of three or four (storage.sqlite_driver).
            return dialect.dbapi.connect(*cargs, async_creator_fn=sqlite_driver.connect,
                                         **cparams)

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            dbapi_conn.create_function("cskh_fold", 1, fold, deterministic=True)

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # a reader (read_session_factory) takes no write lock: WAL readers never wait
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                               pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions for pages that only read: on SQLite their transactions begin deferred, not
    ``BEGIN IMMEDIATE``, so a page never queues behind (or holds) the write lock. Never write
    in one: a deferred transaction that upgrades can fail with ``database is locked``."""
    return async_sessionmaker(engine.execution_options(**{READ_ONLY: True}),
                              expire_on_commit=False)
