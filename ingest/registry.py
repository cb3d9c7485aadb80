"""The one explicit list of channels: webhook routes and pull tasks are generated from it.

A channel is on exactly when its secret(s) are set; the web form is always on (without its
secret it accepts posts from our own pages, the origins of ``CSKH_FORM_ORIGINS`` and backends).
"""

from __future__ import annotations

from pathlib import Path

from connectors.asterisk import CdrTailer
from connectors.base import WebhookConnector
from connectors.facebook import FacebookConnector
from connectors.hotline import HotlineConnector
from connectors.lazada import LazadaConnector
from connectors.shopee import ShopeeConnector
from connectors.tiktok import TikTokConnector
from connectors.webform import WebformConnector
from connectors.zalo import ZaloConnector
from ingest.settings import Settings

CDR_CURSOR_NAME = ".cskh-cdr-cursor.json"


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else None


def webhook_connectors(settings: Settings) -> list[WebhookConnector]:
    """The push channels configured in ``settings`` (a channel without its secret is off)."""
    s = settings
    connectors: list[WebhookConnector] = [
        WebformConnector(secret=_secret(s.webform_secret), max_body_bytes=s.webform_max_bytes,
                         allowed_origins=frozenset(s.form_origins)),
    ]
    if app_secret := _secret(s.facebook_app_secret):
        connectors.append(FacebookConnector(app_secret=app_secret,
                                            verify_token=_secret(s.facebook_verify_token)))
    if oa_secret := _secret(s.zalo_oa_secret):
        connectors.append(ZaloConnector(oa_secret=oa_secret, app_id=s.zalo_app_id or None))
    if (partner_key := _secret(s.shopee_partner_key)) and s.shopee_callback_url:
        connectors.append(ShopeeConnector(partner_key=partner_key,
                                          callback_url=s.shopee_callback_url))
    if (lazada_secret := _secret(s.lazada_app_secret)) and s.lazada_app_key:
        connectors.append(LazadaConnector(app_key=s.lazada_app_key, app_secret=lazada_secret))
    if (tiktok_secret := _secret(s.tiktok_app_secret)) and s.tiktok_app_key:
        connectors.append(TikTokConnector(app_key=s.tiktok_app_key, app_secret=tiktok_secret))
    if hotline_secret := _secret(s.hotline_secret):
        connectors.append(HotlineConnector(secret=hotline_secret))
    return connectors


def cdr_tailer(settings: Settings) -> tuple[CdrTailer, Path] | None:
    """The Asterisk CDR tailer and where its cursor lives, when ``CSKH_HOTLINE_CDR_DIR`` is set.

    The cursor defaults to a hidden file in the CDR directory itself: the inode it names only
    means something on that file system, it must survive a restart on the host that mounts
    the directory, and it works the same whichever database backs the service.
    """
    directory = settings.hotline_cdr_dir
    if directory is None:
        return None
    cursor = settings.hotline_cdr_cursor or directory / CDR_CURSOR_NAME
    return CdrTailer(directory, gmt=settings.hotline_cdr_gmt), cursor
