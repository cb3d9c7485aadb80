"""Whether a mail's ``From`` is its author's: our own receiving server's DKIM/DMARC verdict.

Anyone can write any ``From``. Our receiving server (its milters: OpenDKIM, OpenDMARC, rspamd)
checks DKIM signatures and DMARC and records the results in an ``Authentication-Results`` field
(RFC 8601) named by its *authserv-id* (``CSKH_IMAP_AUTHSERV_ID``). Only fields carrying that id
are read — a sender can add fields of its own, with any id (RFC 8601 §5: the border server
removes fields that claim its id) — and of those only the topmost, the one added last.

``sender_auth`` says:

* ``pass``: ``dmarc=pass``, or ``dkim=pass`` with a signing domain (``header.d``) aligned with
  the ``From`` domain (equal, or one is a parent of the other: DMARC's relaxed alignment, RFC
  7489 §3.1.1, without the public suffix list, so ``d=vn`` aligns nothing);
* ``fail``: our server's field is there (or must be: an authserv-id is configured) and says
  neither — DKIM/DMARC failed, or was not evaluated, or the field is missing;
* ``unchecked``: no authserv-id configured: nothing can be said.

Parsing is authres's (the RFC 8601 grammar: comments, quoted values, versions); a field it
cannot parse counts as absent.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any, Literal

import authres  # type: ignore[import-untyped]

Verdict = Literal["pass", "fail", "unchecked"]


def _aligned(signer: str, author: str) -> bool:
    signer, author = signer.strip().strip(".").lower(), author.strip().strip(".").lower()
    if not signer or not author or "." not in signer or "." not in author:
        return False
    return signer == author or author.endswith("." + signer) or signer.endswith("." + author)


def _ours(msg: EmailMessage, authserv_id: str) -> Any | None:
    wanted = authserv_id.strip().lower()
    for key, value in msg.raw_items():  # topmost first
        if key.lower() != "authentication-results":
            continue
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(
                " ".join(str(value).split()))
        except authres.AuthResError:  # a field it cannot parse counts as absent
            parsed = None
        if parsed is not None and str(parsed.authserv_id or "").lower() == wanted:
            return parsed
    return None


def sender_auth(msg: EmailMessage, from_address: str | None,
                authserv_id: str | None) -> dict[str, Any]:
    """The verdict on ``from_address`` (see the module docstring) and what it rests on, as a
    small JSON-safe record: ``verdict``, ``dmarc``, ``dkim`` (``[[result, domain], ...]``)."""
    if not authserv_id:
        return {"verdict": "unchecked"}
    found = _ours(msg, authserv_id)
    if found is None:
        return {"verdict": "fail", "reason": f"no Authentication-Results of {authserv_id}"}
    author = (from_address or "").rpartition("@")[2]
    dmarc: str | None = None
    dkim: list[list[str]] = []
    for result in found.results[:20]:
        method = str(result.method or "").lower()
        verdict = str(result.result or "").lower()
        if method == "dmarc" and dmarc is None:
            dmarc = verdict
        elif method == "dkim":
            domain = next((str(p.value) for p in result.properties
                           if str(p.type).lower() == "header" and str(p.name).lower() == "d"),
                          "")
            dkim.append([verdict, domain[:255]])
    passed = dmarc == "pass" or any(v == "pass" and _aligned(d, author) for v, d in dkim)
    out: dict[str, Any] = {"verdict": "pass" if passed else "fail", "dmarc": dmarc,
                           "dkim": dkim}
    return out


def verdict_of(auth: object) -> Verdict:
    """The verdict in a record ``sender_auth`` made (``unchecked`` for anything else)."""
    value = auth.get("verdict") if isinstance(auth, dict) else None
    return value if value in ("pass", "fail") else "unchecked"
