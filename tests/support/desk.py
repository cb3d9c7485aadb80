"""An officer's side of the service under test, through the staff API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]


class StaffDesk:
    """The queue and the reply route, as the officer whose ``auth`` headers these are."""

    def __init__(self, client: Client, auth: dict[str, str],
                 wait_for: Callable[..., Awaitable[Any]]) -> None:
        self.client, self.auth, self.wait_for = client, auth, wait_for

    async def ticket_with_message(self, external_id: str) -> dict[str, Any]:
        """The queued ticket whose first message is ``external_id``, once it is there."""
        async def found() -> dict[str, Any] | None:
            resp = await self.client.get("/api/v1/queue", headers=self.auth)
            return next((t for t in (await resp.json())["tickets"]
                         if t["messages"][0]["external_id"] == external_id), None)

        ticket: dict[str, Any] = await self.wait_for(found, attempts=600)
        return ticket

    async def reply(self, ticket: dict[str, Any], text: str) -> None:
        """Answer ``ticket`` with ``text``; the API must accept it."""
        resp = await self.client.post(f"/api/v1/tickets/{ticket['id']}/reply",
                                      headers=self.auth, json={"text": text})
        assert resp.status == 200, await resp.text()
