"""Every push channel's secrets and its provider's way of signing a body, for tests that post
real, validly signed requests to the service (``tests/e2e/test_hostile_input.py``,
``tests/e2e/test_extreme_payloads.py``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from connectors.signing import hmac_sha256_hex, sha256_hex

SECRETS: dict[str, Any] = {
    "facebook_app_secret": "edge-fb-app-secret",
    "zalo_oa_secret": "edge-zalo-oa-secret", "zalo_app_id": "2154781093528401638",
    "shopee_partner_key": "edge-shopee-partner-key",
    "shopee_callback_url": "https://cskh.example.vn/webhooks/shopee",
    "lazada_app_key": "112233", "lazada_app_secret": "edge-lazada-secret",
    "tiktok_app_key": "6c8f2k1q9m3d7", "tiktok_app_secret": "edge-tiktok-secret",
    "hotline_secret": "edge-hotline-secret", "webform_secret": "edge-webform-secret",
}
# Where Zalo's signature takes the body's timestamp from (the first one, as the connector reads).
_ZALO_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"?([0-9]{1,20})"?')


def _zalo(body: bytes) -> dict[str, str]:
    found = _ZALO_TIMESTAMP.search(body)
    stamp = found.group(1) if found else b""
    mac = sha256_hex(SECRETS["zalo_app_id"].encode(), body, stamp,
                     SECRETS["zalo_oa_secret"].encode())
    return {"X-ZEvent-Signature": f"mac={mac}"}


def _hmac_header(header: str, secret: str, prefix: str = "",
                 before: bytes = b"") -> Callable[[bytes], dict[str, str]]:
    return lambda body: {header: prefix + hmac_sha256_hex(SECRETS[secret], before, body)}


SIGNERS: dict[str, Callable[[bytes], dict[str, str]]] = {
    "facebook": _hmac_header("X-Hub-Signature-256", "facebook_app_secret", "sha256="),
    "zalo": _zalo,
    "shopee": _hmac_header("Authorization", "shopee_partner_key",
                           before=SECRETS["shopee_callback_url"].encode() + b"|"),
    "lazada": _hmac_header("Authorization", "lazada_app_secret",
                           before=SECRETS["lazada_app_key"].encode()),
    "tiktok": _hmac_header("Authorization", "tiktok_app_secret",
                           before=SECRETS["tiktok_app_key"].encode()),
    "hotline": _hmac_header("X-CSKH-Signature", "hotline_secret", "sha256="),
    "webform": _hmac_header("X-CSKH-Signature", "webform_secret", "sha256="),
}
"""Channel → the headers its provider sends with ``body`` (signature included)."""


def signed(channel: str, body: bytes) -> dict[str, str]:
    """The headers of a validly signed JSON post of ``body`` to ``/webhooks/{channel}``."""
    return {"Content-Type": "application/json", **SIGNERS[channel](body)}
