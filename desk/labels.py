"""What the pages call the codes the API and the CLI use: statuses, categories, priorities,
channels, queues and tiers, as catalogue message ids (Vietnamese on the pages by default).

``label(kind, value)`` is the template global ``named``; a code without a label (a new channel, a
customer's own segment) shows as it is.
"""

from __future__ import annotations

from desk.i18n import N_, gettext

LABELS: dict[str, dict[str, str]] = {
    "status": {"new": N_("New"), "queued": N_("Queued"), "assigned": N_("Assigned"),
               "open": N_("Answered"), "waiting": N_("Waiting on the customer"),
               "resolved": N_("Resolved"), "closed": N_("Closed")},
    "category": {"quality": N_("Quality"), "price": N_("Price"), "promotion": N_("Promotion"),
                 "discount": N_("Discount"), "quantity": N_("Quantity"),
                 "delivery": N_("Delivery"), "debt": N_("Debt"), "invoice": N_("Invoice"),
                 "documents": N_("Documents"), "payment_due": N_("Payment due"),
                 "warranty": N_("Warranty"), "maintenance": N_("Maintenance"),
                 "usage": N_("Usage"), "other": N_("Other")},
    "priority": {"urgent": N_("Urgent"), "high": N_("High"), "normal": N_("Normal"),
                 "low": N_("Low")},
    # the providers' names are the same in every language: not in the catalogue
    "channel": {"email": N_("Email"), "facebook": "Facebook", "zalo": "Zalo",
                "shopee": "Shopee", "lazada": "Lazada", "tiktok": "TikTok Shop",
                "hotline": N_("Hotline"), "webform": N_("Web form")},
    "queue": {"cskh": N_("Customer care"), "sales": N_("Sales"),
              "accounting": N_("Accounting"), "warehouse": N_("Warehouse"),
              "technical": N_("Technical")},
    "tier": {"key": N_("Key account"), "standard": N_("Standard"), "small": N_("Small")},
}


def label(kind: str, value: object) -> str:
    """The page's word for code ``value`` of ``kind``; the code itself when it has none."""
    if value is None or value == "":
        return "—"
    text = LABELS.get(kind, {}).get(str(value))
    return gettext(text) if text else str(value)
