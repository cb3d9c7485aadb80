"""Web form channel: the contact form on the company's site posts here.

Accepts ``application/json`` and ``application/x-www-form-urlencoded``. With a shared secret the
body must carry ``X-CSKH-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``; without one,
only same-origin browser posts (or posts with no ``Origin`` at all, e.g. the site's backend) pass.

What the sender typed is all a web form knows of them: a submission never continues an existing
ticket by its subject tag, company or address, only with a ``follow_up`` token from a link we
sent (``normalizer.follow_up``); otherwise it is a new ticket.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from connectors.base import (
    ForbiddenOrigin,
    PayloadError,
    RawRequest,
    SignatureError,
    WebhookResult,
)
from connectors.envelope import InboundEnvelope, Sender, nfc
from connectors.payloads import check_storable, json_object
from connectors.signing import hmac_sha256_hex, signature_matches

CHANNEL = "webform"
SIGNATURE_HEADER = "X-CSKH-Signature"
SIGNATURE_PREFIX = "sha256="
MAX_BODY_BYTES = 64 * 1024

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PHONE = re.compile(r"^[+0-9 ().\-]{6,32}$")

Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class WebformSubmission(BaseModel):
    """One contact-form submission; strict: numbers where text is expected are rejected."""

    model_config = ConfigDict(extra="ignore", strict=True, str_strip_whitespace=True)

    name: Text = Field(min_length=1, max_length=200)
    company: Text | None = Field(default=None, max_length=300)
    email: Text | None = Field(default=None, max_length=320)
    phone: Text | None = Field(default=None, max_length=32)
    subject: Text | None = Field(default=None, max_length=300)
    message: Text = Field(min_length=1, max_length=20_000)
    submission_id: Text | None = Field(default=None, min_length=1, max_length=128)
    # The token of a follow-up link we sent (``normalizer.follow_up``), carried by the form in
    # a hidden field; checked by the normalizer, the only proof that joins an existing ticket.
    follow_up: Text | None = Field(default=None, min_length=1, max_length=160)

    def contact_problem(self) -> str | None:
        """Why the submission cannot be answered, or ``None`` when it can."""
        if not self.email and not self.phone:
            return "email or phone is required so that we can answer"
        if self.email and not _EMAIL.match(self.email):
            return "email is not a valid address"
        if self.phone and not _PHONE.match(self.phone):
            return "phone is not a valid number"
        return None

    def external_id(self) -> str:
        """The submission id, or a digest of the content so that a retried post is the same."""
        if self.submission_id:
            return self.submission_id
        parts = (self.name, self.email or "", self.phone or "", self.subject or "", self.message)
        canonical = "\x1f".join(nfc(p) for p in parts)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _decode_body(request: RawRequest) -> dict[str, Any]:
    media_type = request.content_type.split(";", 1)[0].strip().lower()
    if media_type in ("application/json", ""):
        return json_object(request.body)
    if media_type != "application/x-www-form-urlencoded":
        raise PayloadError(f"unsupported content type {media_type!r}")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                          errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError("body is not valid form encoding") from exc
    data = {k: v for k, v in pairs if v != ""}
    check_storable(data)
    return data


@dataclass(frozen=True, slots=True)
class WebformConnector:
    """The web form channel, configured with its optional shared secret."""

    secret: str | None = None
    name: str = CHANNEL
    max_body_bytes: int = MAX_BODY_BYTES
    accepted_status: int = 202

    def verify(self, request: RawRequest) -> None:
        """With a secret: the HMAC of the raw body must match. Without: same origin only."""
        if self.secret:
            expected = hmac_sha256_hex(self.secret, request.body)
            presented = request.headers.get(SIGNATURE_HEADER)
            if presented is None:
                raise SignatureError(f"missing {SIGNATURE_HEADER} header")
            if not signature_matches(expected, presented, prefix=SIGNATURE_PREFIX):
                raise SignatureError("signature does not match the body")
            return
        origin = request.headers.get("Origin")
        if origin and origin != "null":
            own = urlsplit(request.url).netloc.lower()
            if urlsplit(origin).netloc.lower() != own:
                raise ForbiddenOrigin("cross-origin form posts need a signature")

    def parse(self, request: RawRequest) -> WebhookResult:
        """Validate the form and make one envelope of it."""
        data = _decode_body(request)
        try:
            form = WebformSubmission.model_validate(data)
        except ValidationError as exc:
            raise PayloadError.from_validation(exc) from exc
        problem = form.contact_problem()
        if problem:
            raise PayloadError(problem)
        external_id = form.external_id()
        envelope = InboundEnvelope.create(
            channel=CHANNEL,
            external_id=external_id,
            thread_key=f"{CHANNEL}:{external_id}",
            received_at=request.received_at,
            sender=Sender(
                name=form.name,
                company=form.company,
                email=form.email.lower() if form.email else None,
                phone=form.phone,
            ),
            subject=form.subject,
            text=form.message,
            raw=_raw(data),
        )
        return WebhookResult(envelopes=(envelope,), event_type="submission")


def _raw(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (nfc(v) if isinstance(v, str) else v) for k, v in data.items()}
