"""What counts as "the database is away, send again" (a 503, a consumer retry) against what
counts as "this statement or this input is wrong" (a 500, the dead-letter topic), from the
errors a real PostgreSQL server raises."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ingest.pipeline import is_transient
from storage.db import create_engine, database_unavailable
from tests.faults.own_postgres import OwnPostgres
from tests.support.service import free_port

pytestmark = pytest.mark.postgres


async def _raised(url: str, statement: str, *, setup: str | None = None) -> BaseException:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            if setup:
                await conn.execute(text(setup))
            with pytest.raises(Exception) as caught:
                await conn.execute(text(statement))
            return caught.value
    finally:
        await engine.dispose()


async def test_a_session_ended_by_the_server_is_unavailable_not_bad_input(
        postgres_url: str, postgres_dsn: str) -> None:
    # what every open session sees when PostgreSQL shuts down fast (57P01): here by
    # pg_terminate_backend from another session, on the same server
    engine = create_engine(postgres_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            admin = await asyncpg.connect(postgres_dsn)
            try:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert database_unavailable(caught.value) and is_transient(caught.value)


async def test_a_server_that_refuses_connections_is_unavailable(postgres_url: str) -> None:
    port = free_port()  # nothing listens there
    url = postgres_url.replace(postgres_url.split("@", 1)[1].split("/", 1)[0],
                               f"127.0.0.1:{port}", 1)
    engine = create_engine(url, pool_size=1)
    try:
        with pytest.raises(Exception) as caught:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert database_unavailable(caught.value) and is_transient(caught.value)


@pytest.mark.parametrize(("setup", "statement"), [
    (None, "SELECT FROM nowhere_at_all"),  # 42P01: a wrong statement
    (None, "SELECT 1 / 0"),  # 22012: wrong data
    ("SET statement_timeout = 50", "SELECT pg_sleep(1)"),  # 57014: would time out again
])
async def test_a_wrong_statement_or_a_timeout_is_not_unavailable(
        postgres_url: str, setup: str | None, statement: str) -> None:
    exc = await _raised(postgres_url, statement, setup=setup)
    assert not database_unavailable(exc)
    assert not is_transient(exc)


async def test_a_server_shutting_down_is_unavailable() -> None:
    # what every new connection sees while PostgreSQL shuts down or starts (57P03): a server of
    # the test's own, asked to stop while a session is still open (a smart shutdown waits for
    # it, refusing everyone else meanwhile)
    server = OwnPostgres()
    try:
        await asyncio.to_thread(server.init)
        await asyncio.to_thread(server.start)
        url = await server.create_database("cskh_shutdown")
        holder = await asyncpg.connect(f"postgresql://cskh@127.0.0.1:{server.port}/postgres")
        try:
            await asyncio.to_thread(server._run, "pg_ctl", "-D", str(server.data), "-m",
                                    "smart", "-W", "stop")
            exc = await _refused(url)
        finally:
            await holder.close()
    finally:
        await asyncio.to_thread(server.remove)
    assert "shutting down" in str(exc)
    assert database_unavailable(exc) and is_transient(exc)


async def _refused(url: str) -> BaseException:
    for _ in range(100):  # until the postmaster has taken the stop request in
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return exc
        finally:
            await engine.dispose()
        await asyncio.sleep(0.05)
    raise AssertionError("the server kept accepting connections after the stop request")
