"""The ceiling: an aiohttp app whose webhook only reads the body and answers 202."""

from __future__ import annotations

import sys

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"status": "accepted"}, status=202)


async def ready(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


if __name__ == "__main__":
    app = web.Application()
    app.router.add_post("/webhooks/webform", accept)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
