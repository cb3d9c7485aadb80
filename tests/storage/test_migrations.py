"""Alembic migrations on SQLite and PostgreSQL: upgrade, idempotence, downgrade, model drift."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.models import Base, Queue

QUEUES = ["cskh", "sales", "accounting", "warehouse", "technical"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(database_url)
    try:
        yield made
    finally:
        await made.dispose()


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    cfg = alembic_config()

    def _downgrade(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_downgrade)


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def queue_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(select(Queue.name).order_by(Queue.id))).all())


async def drift(engine: AsyncEngine, metadata: MetaData = Base.metadata) -> list[Any]:
    def _compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(_compare)


async def test_upgrade_creates_every_table_and_the_default_queues(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None
    assert await upgrade(engine) == head_revision() is not None
    assert await tables(engine) == set(Base.metadata.tables) | {"alembic_version"}
    assert await queue_names(engine) == QUEUES


async def test_upgrade_twice_is_a_no_op(engine: AsyncEngine) -> None:
    first = await upgrade(engine)
    before = await tables(engine)
    assert await upgrade(engine) == first
    assert await tables(engine) == before
    assert await queue_names(engine) == QUEUES


async def test_downgrade_to_base_leaves_no_tables(engine: AsyncEngine) -> None:
    await upgrade(engine)
    await downgrade(engine)
    assert await current_revision(engine) is None
    assert await tables(engine) - {"alembic_version"} == set()
    # and it can come back
    await upgrade(engine)
    assert await queue_names(engine) == QUEUES


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await drift(engine) == []


async def test_drift_check_sees_a_model_change(engine: AsyncEngine) -> None:
    """The comparison above is not vacuous: a column the migration lacks is reported."""
    await upgrade(engine)
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["queues"].append_column(Column("colour", String(16), nullable=True))
    diffs = await drift(engine, changed)
    assert [(d[0], d[2], d[3].name) for d in diffs] == [("add_column", "queues", "colour")]
