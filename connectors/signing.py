"""The one place request signatures are computed and compared."""

from __future__ import annotations

import hashlib
import hmac


def hmac_sha256_hex(secret: str | bytes, *parts: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the concatenated ``parts`` under ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.hexdigest()


def signature_matches(expected_hex: str, presented: str | None, *, prefix: str = "") -> bool:
    """Compare a presented signature with the expected one in constant time.

    ``presented`` may carry ``prefix`` (e.g. ``sha256=``); hex case is ignored. A missing or
    malformed signature never matches. Never logs either value.
    """
    if not presented:
        return False
    value = presented.strip()
    if prefix:
        if not value.lower().startswith(prefix.lower()):
            return False
        value = value[len(prefix) :]
    return hmac.compare_digest(expected_hex.lower().encode(), value.lower().encode())
