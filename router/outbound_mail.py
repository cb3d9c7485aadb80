"""The headers of a reply we send on an e-mail ticket: our Message-ID, the thread, the tag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from normalizer.threads import our_message_id, reply_subject
from router.events import OutboundEmail
from storage.models import Message, Ticket

MAX_REFERENCES = 20


def real_message_id(message: Message) -> str | None:
    """``message``'s Message-ID when the sender gave it one (not a digest we made up)."""
    headers = _headers(message)
    if headers.get("message_id_generated") or message.external_id.startswith("sha256:"):
        return None
    return message.external_id or None


def _headers(message: Message) -> dict[str, Any]:
    headers = (message.raw or {}).get("headers")
    return headers if isinstance(headers, dict) else {}


def _trimmed(ids: Sequence[str]) -> list[str]:
    """At most ``MAX_REFERENCES`` ids, keeping the thread's root and its newest ones (RFC 5322
    §3.6.4 allows trimming the middle)."""
    unique = list(dict.fromkeys(ids))
    if len(unique) <= MAX_REFERENCES:
        return unique
    return [unique[0], *unique[-(MAX_REFERENCES - 1):]]


def reply_headers(ticket: Ticket, parent: Message | None, domain: str, *,
                  token: str | None = None) -> OutboundEmail:
    """Headers of a reply on ``ticket`` to the customer's message ``parent`` (their latest).

    The Message-ID is new on every call; ``token`` fixes its random part (tests).
    """
    parent_id = real_message_id(parent) if parent is not None else None
    refs: list[str] = []
    if parent is not None:
        refs = [r for r in _headers(parent).get("references") or [] if isinstance(r, str) and r]
        if parent_id:
            refs.append(parent_id)
    refs = _trimmed(refs)
    subject = reply_subject((parent.subject if parent is not None else None) or ticket.subject,
                            ticket.number)
    return OutboundEmail(
        message_id=f"<{our_message_id(ticket.id, domain, token)}>",
        in_reply_to=f"<{parent_id}>" if parent_id else None,
        references=" ".join(f"<{r}>" for r in refs) or None,
        subject=subject)


def bare(header_id: str | None) -> str | None:
    """A header id without its angle brackets, as messages store Message-IDs."""
    return header_id.strip().strip("<>") if header_id else None
