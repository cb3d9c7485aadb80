"""A stand-in cloud PBX's click-to-call endpoint (``connectors.hotline_call``'s request)."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.signing import hmac_sha256_hex

PATH = "/api/click-to-call"


@dataclass
class Pbx:
    """What the stand-in received and how it answers: a call id; when ``down``, 503 (trunk
    busy); when ``refuse`` is set, 403 with that message. ``url`` once it runs."""

    secret: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    refuse: str | None = None
    url: str = ""


def pbx_app(state: Pbx) -> web.Application:
    """The stand-in: checks the signature over the raw body, then answers as ``state`` says."""
    async def call(request: web.Request) -> web.Response:
        raw = await request.read()
        given = request.headers.get("X-CSKH-Signature", "")
        if not hmac.compare_digest(given, "sha256=" + hmac_sha256_hex(state.secret, raw)):
            return web.json_response({"error": "bad_signature", "message": "wrong sign"},
                                     status=401)
        if state.down:
            return web.json_response({"error": "busy", "message": "trunk busy"}, status=503)
        if state.refuse is not None:
            return web.json_response({"error": "forbidden", "message": state.refuse},
                                     status=403)
        state.calls.append(json.loads(raw))
        return web.json_response({"call_id": f"pbx-{len(state.calls)}"})

    app = web.Application()
    app.router.add_post(PATH, call)
    return app


@asynccontextmanager
async def running_pbx(secret: str) -> AsyncIterator[Pbx]:
    """The stand-in, serving on a local port for the block (its ``url`` set)."""
    state = Pbx(secret)
    server = TestServer(pbx_app(state))
    await server.start_server()
    state.url = str(server.make_url(PATH))
    try:
        yield state
    finally:
        await server.close()
