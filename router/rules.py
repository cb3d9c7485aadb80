"""Which queue a ticket goes to: the design's table, overridable by configuration, by the
customer's account and by the channel's queue hint (``route_queue`` states the order)."""

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


def route_queue(category: str, *, configured: Mapping[str, str] | None = None,
                account: Mapping[str, str] | None = None, hint: str | None = None,
                confident: bool = True) -> str:
    """The queue of a new ticket, first rule that applies:

    1. the customer's own override for ``category`` (``account``, set per B2B account);
    2. the channel's ``hint`` (e.g. the mailbox ``ketoan@`` → ``accounting``) when the
       classifier is not ``confident`` or found nothing more specific than ``other``;
    3. the configured override for ``category`` (``CSKH_CATEGORY_QUEUES``), else the design's
       default for it.

    Follow-up messages never come here: they stay with their ticket's queue and assignee.
    """
    if account and category in account:
        return account[category]
    if hint and (category == "other" or not confident):
        return hint
    return queue_for(category, configured)
