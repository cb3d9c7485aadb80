"""The one place request signatures are computed and compared."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def hmac_sha256_hex(secret: str | bytes, *parts: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the concatenated ``parts`` under ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.hexdigest()


def sha256_hex(*parts: bytes) -> str:
    """Lowercase hex plain SHA-256 of the concatenated ``parts`` (providers that put the secret
    inside the hashed text instead of keying an HMAC with it, e.g. Zalo OA)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


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


def signature_matches_any(expected_hexes: Iterable[str], presented: str | None, *,
                          prefix: str = "") -> bool:
    """``signature_matches`` against several candidates, comparing every one of them.

    For schemes whose signed text depends on a value we must locate in the body (Zalo's
    timestamp): each candidate is compared in constant time and none is skipped early.
    """
    matched = False
    for expected in expected_hexes:
        matched |= signature_matches(expected, presented, prefix=prefix)
    return matched


def secret_matches(expected: str, presented: str | None) -> bool:
    """Whether a presented shared token (e.g. Facebook's ``hub.verify_token``) equals ours.

    Constant time; a missing or empty token never matches. Never logs either value.
    """
    if not presented or not expected:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
