"""A database that does not answer is a 503 with ``Retry-After``, never a 500.

While PostgreSQL restarts, fails over or is cut off, a staff call or a page cannot reach it.
The client (an officer's browser, the fault suite, an integration) should wait and send again
(a reply with its ``Idempotency-Key`` stores and sends once), so the answer says so: 503,
``Retry-After: 5``, and the reason. Every other error stays what it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from desk.json_answers import json_error
from storage.db import database_unavailable

log = structlog.get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RETRY_AFTER = "5"
REASON = "the database is not answering; send again in a few seconds"
@web.middleware
async def unavailable_as_503(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 503 with ``Retry-After`` when the handler could not reach the database."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.warning("web.database_unavailable", path=request.path, method=request.method,
                    error=f"{type(exc).__name__}: {exc}"[:300])
        headers = {"Retry-After": RETRY_AFTER}
        if request.path.startswith("/api/"):
            raise json_error(web.HTTPServiceUnavailable, "database_unavailable", REASON,
                             headers) from None
        raise web.HTTPServiceUnavailable(text=f"503: {REASON}.", headers=headers) from None
