"""Which queue a category goes to: the design's table, overridable by configuration."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

CATEGORIES = (
    "quality", "price", "promotion", "discount", "quantity", "delivery", "debt", "invoice",
    "documents", "payment_due", "warranty", "maintenance", "usage", "other",
)
QUEUES = ("cskh", "sales", "accounting", "warehouse", "technical")

DEFAULT_QUEUE_BY_CATEGORY: Mapping[str, str] = MappingProxyType({
    "quality": "cskh",
    "price": "sales",
    "promotion": "sales",
    "discount": "sales",
    "quantity": "warehouse",
    "delivery": "warehouse",
    "debt": "accounting",
    "invoice": "accounting",
    "documents": "accounting",
    "payment_due": "accounting",
    "warranty": "technical",
    "maintenance": "technical",
    "usage": "cskh",
    "other": "cskh",
})
FALLBACK_QUEUE = "cskh"


def queue_for(category: str, overrides: Mapping[str, str] | None = None) -> str:
    """The queue for ``category``: an override if one is set, else the design's default."""
    if overrides and category in overrides:
        return overrides[category]
    return DEFAULT_QUEUE_BY_CATEGORY.get(category, FALLBACK_QUEUE)
