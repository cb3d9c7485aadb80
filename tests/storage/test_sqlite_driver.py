"""SQLite engines make one trip to aiosqlite's thread per statement, with results unchanged."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Integer, String, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage import sqlite_driver
from storage.db import create_engine, read_session_factory, session_factory


class _Base(DeclarativeBase):
    pass


class Thing(_Base):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with made.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    try:
        yield made
    finally:
        await made.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each function sent to a connection's thread, in order."""
    sent: list[str] = []
    original = cast(Callable[..., Awaitable[Any]], sqlite_driver.OneTripConnection._execute)

    async def counting(self: sqlite_driver.OneTripConnection, fn: Any, *args: Any,
                       **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_driver.OneTripConnection, "_execute", counting)
    return sent


async def test_engine_connections_use_the_one_trip_driver(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_driver.OneTripConnection)


async def test_a_select_is_one_trip_and_reads_every_row(engine: AsyncEngine,
                                                         trips: list[str]) -> None:
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        s.add_all([Thing(name=f"thứ {i}") for i in range(250)])
    async with sessions() as s, s.begin():
        await s.execute(text("SELECT 1"))  # the transaction's BEGIN IMMEDIATE comes first
        trips.clear()
        names = list(await s.scalars(select(Thing.name).order_by(Thing.id)))
        assert trips == ["_run"]  # aiosqlite alone: cursor, execute, fetchall, close
    assert names == [f"thứ {i}" for i in range(250)]


async def test_insert_returning_update_rowcount_and_executemany(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        made = await conn.execute(
            insert(Thing).returning(Thing.id, Thing.name),
            [{"name": "một"}, {"name": "hai"}, {"name": "ba"}])
        assert [name for _, name in made.all()] == ["một", "hai", "ba"]
        changed = await conn.execute(update(Thing).where(Thing.name != "một")
                                     .values(name=Thing.name + "!"))
        assert changed.rowcount == 2
        cursor = await conn.exec_driver_sql("INSERT INTO things (name) VALUES ('bốn')")
        assert cursor.lastrowid == 4
        await conn.exec_driver_sql("INSERT INTO things (name) VALUES (?)",
                                   [("năm",), ("sáu",)])
        assert (await conn.scalar(text("SELECT count(*) FROM things"))) == 6


async def test_errors_surface_as_sqlalchemy_errors_and_the_connection_stays_usable(
        engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        s.add(Thing(name="một"))
    with pytest.raises(IntegrityError):
        async with sessions() as s, s.begin():
            s.add(Thing(name="một"))
    with pytest.raises(OperationalError, match="no such table"):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM nowhere"))
    async with sessions() as s:
        assert list(await s.scalars(select(Thing.name))) == ["một"]


async def test_rows_are_read_in_chunks_too(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(Thing), [{"name": f"n{i}"} for i in range(7)])
    async with engine.connect() as conn:
        result = await conn.stream(select(Thing.name).order_by(Thing.id))
        chunks = [list(chunk) async for chunk in result.partitions(3)]
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert [r.name for c in chunks for r in c] == [f"n{i}" for i in range(7)]
    async with engine.connect() as conn:
        rows = [r.name async for r in await conn.stream(select(Thing.name).order_by(Thing.id))]
        one = await (await conn.stream(select(Thing.name).where(Thing.name == "n3"))).one()
    assert rows == [f"n{i}" for i in range(7)]
    assert one.name == "n3"


async def test_a_read_session_reads_while_another_connection_holds_the_write_lock(
        engine: AsyncEngine, tmp_path: Path) -> None:
    async with session_factory(engine)() as s, s.begin():
        s.add(Thing(name="đã lưu"))
    writer = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO things (name) VALUES ('chưa lưu')")

        async def read() -> list[str]:
            async with read_session_factory(engine)() as s, s.begin():
                return list(await s.scalars(select(Thing.name).order_by(Thing.id)))

        # BEGIN IMMEDIATE would wait out the 30 s busy timeout behind the writer
        assert await asyncio.wait_for(read(), 10) == ["đã lưu"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
