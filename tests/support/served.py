"""The app behind a test server that treats a leaving client as ``cskh serve`` does."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner


class ServedLikeProduction(TestServer):
    """A ``TestServer`` without handler cancellation.

    aiohttp's test server cancels a handler when its client disconnects; ``web.run_app`` (what
    ``cskh serve`` uses) does not, so there the handler sees the next write fail with
    ``ClientConnectionResetError``. Tests of that path serve the app through this class."""

    async def _make_runner(self, handler_cancellation: bool = False,
                           **kwargs: Any) -> BaseRunner:
        return await super()._make_runner(handler_cancellation=False, **kwargs)
