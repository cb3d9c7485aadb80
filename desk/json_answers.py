"""One JSON style for every HTTP answer: compact, UTF-8, never ``\\u`` escapes.

The staff API, the webhooks, the health routes and the SSE stream all answer through these,
so "Nguyễn Văn An" reads the same everywhere (``"Nguy\\u1ec5n …"`` nowhere). Serialized by
pydantic-core, which also writes datetimes and UUIDs as ISO strings.
"""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic_core import to_json

E = TypeVar("E", bound=web.HTTPException)


def dumps_bytes(data: Any) -> bytes:
    """``data`` as compact UTF-8 JSON (non-ASCII text as itself, not escaped)."""
    return to_json(data)


def dumps(data: Any) -> str:
    """``dumps_bytes`` as text."""
    return to_json(data).decode("utf-8")


def json_response(data: Any, *, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    """An ``application/json; charset=utf-8`` answer of ``data``."""
    return web.Response(body=to_json(data), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def json_error(exc: type[E], code: str, reason: str,
               headers: dict[str, str] | None = None) -> E:
    """An HTTP error to raise, with the ``{"error", "reason"}`` body every route uses."""
    return exc(text=dumps({"error": code, "reason": reason}), headers=headers,
               content_type="application/json")  # text: charset utf-8
