"""What the provider-connector tests share: fixture files, the JSON a provider posts, and a
fixture body with one field changed or removed (the bad-input cases)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def encode(body: Any) -> bytes:
    """A body as most providers post it: JSON, non-ASCII as UTF-8 (Meta's differs)."""
    return json.dumps(body, ensure_ascii=False).encode()


def load_fixture(directory: Path, name: str) -> dict[str, Any]:
    """``directory/name.json``: ``{"body": …, "expect": …}``."""
    data: dict[str, Any] = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    return data


def edit(node: dict[str, Any], path: str, value: Any) -> None:
    """Set ``node``'s dotted ``path`` to ``value``; ``...`` removes it."""
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
