"""A stand-in for Zalo's OAuth v4 OA token endpoint (``POST /v4/oa/access_token``).

It checks the ``secret_key`` header, ``app_id`` and ``grant_type`` and accepts each refresh
token once (Zalo's refresh tokens are single-use): the answer carries a new access token
(made live on the Zalo send stand-in ``api``, the old one dropped) and a new refresh token.
``delay`` holds each answer that long (to overlap two refreshes).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.providers import StandIn

APP_ID, APP_SECRET = "2154781093528401638", "zalo-app-secret-stand-in-K2q9"


@dataclass
class OAuth:
    api: StandIn  # the send stand-in whose live tokens this issues
    live_refresh: set[str] = field(default_factory=set)
    calls: int = 0
    delay: float = 0.0
    url: str = ""


def oauth_app(state: OAuth) -> web.Application:
    async def token(request: web.Request) -> web.Response:
        state.calls += 1
        await asyncio.sleep(state.delay)
        form = await request.post()
        if request.headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID:
            return web.json_response({"error": -14002, "error_name": "Invalid app",
                                      "error_reason": "app_id or secret_key is invalid"})
        if form.get("grant_type") != "refresh_token":
            return web.json_response({"error": -14003, "error_reason": "Invalid grant_type"})
        given = str(form.get("refresh_token", ""))
        if given not in state.live_refresh:
            return web.json_response({"error": -14014, "error_name": "Invalid refresh token",
                                      "error_reason": "Refresh token is invalid or used"})
        state.live_refresh.discard(given)
        access, rotated = f"zl-at-{secrets.token_hex(8)}", f"zl-rt-{secrets.token_hex(8)}"
        state.live_refresh.add(rotated)
        state.api.tokens.clear()
        state.api.tokens.add(access)
        return web.json_response({"access_token": access, "refresh_token": rotated,
                                  "expires_in": "90000"})

    app = web.Application()
    app.router.add_post("/v4/oa/access_token", token)
    return app
