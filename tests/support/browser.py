"""Real Chromium for page tests: Debian's ``chromium`` driven by Playwright's Python package.

Playwright never downloads a browser here: it is always launched with ``executable_path``
(``CSKH_TEST_CHROMIUM``, written by ``tests/services/services.sh up``). The flags are the ones a
closed network needs (no background connections, no first-run, no component updates).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

CHROMIUM_FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)
ARTIFACTS = Path(os.environ.get("CSKH_TEST_ARTIFACTS", "test-artifacts"))


@asynccontextmanager
async def chromium(executable: str) -> AsyncIterator[Browser]:
    """A headless Chromium at ``executable``, closed on exit."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True,
                                           args=list(CHROMIUM_FLAGS))
        try:
            yield browser
        finally:
            await browser.close()


def artifact(name: str) -> Path:
    """Where a test keeps a screenshot or trace (``test-artifacts/`` unless told otherwise)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
