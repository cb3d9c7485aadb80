"""Survey link tokens: random, unguessable, kept only as their SHA-256 once sent."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 24


def new_token() -> str:
    """A fresh URL-safe token (192 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database keeps of ``token``."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(value: str) -> bool:
    """Whether ``value`` could be one of our tokens at all (shape only, no lookup)."""
    return 16 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)
