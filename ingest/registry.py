"""The one explicit list of channels: webhook routes and pull tasks are generated from it."""

from __future__ import annotations

from connectors.base import WebhookConnector
from connectors.webform import WebformConnector
from ingest.settings import Settings


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else None


def webhook_connectors(settings: Settings) -> list[WebhookConnector]:
    """The push channels configured in ``settings`` (a channel without its secret is off)."""
    return [
        WebformConnector(secret=_secret(settings.webform_secret),
                         max_body_bytes=settings.webform_max_bytes),
    ]
