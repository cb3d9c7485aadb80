"""Follow-up tokens: the one proof that lets a web form continue an existing ticket.

A web form's sender is only what they typed: a name, a company, an address, a subject with
``[#CSKH-000123]`` in it. None of it joins an existing ticket. What does is a link we sent the
ticket's customer (``{form}?follow_up={token}``) whose token we signed: the site's form carries
the token in a hidden ``follow_up`` field, and a submission with a valid, unexpired token goes
onto that ticket (like a reply to our Message-ID on mail, whoever holds the link is in the
conversation). Anything else is a new ticket, which an officer may merge.

The token is ``{ticket id}.{expiry, Unix seconds}.{signature}``, the signature the URL-safe
base64 of HMAC-SHA256 over ``cskh.follow-up.v1:{ticket id}:{expiry}`` keyed with the server's
secret (``CSKH_FOLLOW_UP_SECRET``), compared in constant time. Ticket ids are sequential, so
the id alone proves nothing; the signature cannot be made without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

FIELD = "follow_up"
DEFAULT_LIFETIME = timedelta(days=90)
MAX_TOKEN = 160
_TOKEN = re.compile(r"^([0-9]{1,18})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


def _signature(secret: str, ticket_id: int, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"cskh.follow-up.v1:{ticket_id}:{expires}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def mint(secret: str, ticket_id: int, now: datetime,
         lifetime: timedelta = DEFAULT_LIFETIME) -> str:
    """A token that lets a web form continue ``ticket_id`` until ``now + lifetime``."""
    if not secret:
        raise ValueError("a follow-up token needs a secret")
    expires = int((now + lifetime).timestamp())
    return f"{ticket_id}.{expires}.{_signature(secret, ticket_id, expires)}"


def follow_up_link(form_url: str, token: str) -> str:
    """``form_url`` with ``follow_up=token`` added to its query (other parameters kept)."""
    parts = urlsplit(form_url)
    query = "&".join(q for q in (parts.query, urlencode({FIELD: token})) if q)
    return urlunsplit(parts._replace(query=query))


def ticket_of(secret: str | None, token: object, now: datetime) -> int | None:
    """The ticket a token proves, or ``None``: no secret, not a token, a wrong signature, or
    expired. Never raises on any input."""
    if not secret or not isinstance(token, str) or len(token) > MAX_TOKEN:
        return None
    match = _TOKEN.match(token.strip())
    if match is None:
        return None
    ticket_id, expires = int(match.group(1)), int(match.group(2))
    if not hmac.compare_digest(_signature(secret, ticket_id, expires), match.group(3)):
        return None
    if expires < now.timestamp():
        return None
    return ticket_id
