"""Fixtures of the end-to-end tests that drive ``cskh serve`` subprocesses over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.support.service import kill_leftovers


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for the services a test starts."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture(autouse=True)
def no_service_left() -> Iterator[None]:
    """A test that fails half-way leaves no ``cskh serve`` running behind it."""
    yield
    kill_leftovers()
