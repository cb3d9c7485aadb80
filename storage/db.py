"""Engines and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
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
