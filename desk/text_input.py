"""Text from a request that the database can store: the check every staff API input passes.

PostgreSQL refuses NUL characters in text and neither database stores a lone UTF-16
surrogate (JSON's ``"\\ud800"`` decodes to one), so such a value must be refused with 400
before it reaches a query, instead of failing there with a server error.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32


def unstorable(value: Any, *, where: str = "body", depth: int = 0) -> str | None:
    """Why ``value`` (decoded JSON or a query value) cannot be stored, or ``None`` if it can."""
    if depth > MAX_DEPTH:
        return f"{where} is nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        if "\x00" in value:
            return f"{where} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where} is not valid Unicode text (a lone surrogate)"
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        reason = (unstorable(key, where=f"{where} key", depth=depth + 1)
                  or unstorable(item, where=f"{where}.{key}", depth=depth + 1))
        if reason:
            return reason
    return None
