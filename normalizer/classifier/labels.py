"""The label sets the classifier predicts, in their canonical order.

The order is part of the contract: the confusion matrix of an evaluation and
the saved model use it, so it only ever grows at the end.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CATEGORIES", "CHANNELS", "FIELDS", "LABELS", "PRIORITIES", "SENTIMENTS"]

CATEGORIES: Final = (
    "quality", "price", "promotion", "discount", "quantity", "delivery", "debt",
    "invoice", "documents", "payment_due", "warranty", "maintenance", "usage", "other",
)
PRIORITIES: Final = ("urgent", "high", "normal", "low")
SENTIMENTS: Final = ("negative", "neutral", "positive")
CHANNELS: Final = (
    "email", "webform", "facebook", "zalo", "shopee", "lazada", "tiktok", "hotline",
)

FIELDS: Final = ("category", "priority", "sentiment")
"""The three predicted fields, in the order reports list them."""

LABELS: Final[dict[str, tuple[str, ...]]] = {
    "category": CATEGORIES,
    "priority": PRIORITIES,
    "sentiment": SENTIMENTS,
}
