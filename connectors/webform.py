"""Web form channel: the contact form on the company's site posts here.

Accepts ``application/json`` and ``application/x-www-form-urlencoded`` (what a plain HTML
``<form>`` posts, ours at ``GET /form`` or one on the company's site). Who may post:

- a body carrying ``X-CSKH-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` when a
  shared secret is set (the site's backend);
- a browser post whose ``Origin`` (or, without one, ``Referer``) is our own origin or one of
  ``allowed_origins`` (``CSKH_FORM_ORIGINS``: the company's website), with or without a secret;
- without a secret, also a post with no ``Origin`` and no ``Referer`` (a backend).

Anything else is refused (403, or 401 for a wrong or missing signature when a secret is set).
An ``Origin`` proves nothing against a script that forges it: it keeps other sites' pages from
posting in a visitor's name; the public form's own protection is the rate limit and the
``website`` honeypot (a field people never see: filled, the post is answered like a success and
nothing is stored).

What the sender typed is all a web form knows of them: a submission never continues an existing
ticket by its subject tag, company or address, only with a ``follow_up`` token from a link we
sent (``normalizer.follow_up``); otherwise it is a new ticket.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from connectors.base import (
    ForbiddenOrigin,
    PayloadError,
    RawRequest,
    SignatureError,
    WebhookResult,
)
from connectors.envelope import InboundEnvelope, Sender, envelope_id, nfc
from connectors.payloads import check_storable, json_object
from connectors.signing import hmac_sha256_hex, signature_matches

CHANNEL = "webform"
SIGNATURE_HEADER = "X-CSKH-Signature"
SIGNATURE_PREFIX = "sha256="
MAX_BODY_BYTES = 64 * 1024

HONEYPOT_FIELD = "website"
# What a customer may pick on the form (``category``): a hint the normalizer takes as the
# ticket's category (``InboundEnvelope.category_hint``); the classifier's label set.
FormCategory = Literal[
    "quality", "price", "promotion", "discount", "quantity", "delivery", "debt",
    "invoice", "documents", "payment_due", "warranty", "maintenance", "usage", "other",
]
FORM_CATEGORIES: tuple[str, ...] = get_args(FormCategory)

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
    category: FormCategory | None = None

    def contact_problem(self) -> tuple[str, str] | None:
        """The field and the reason why the submission cannot be answered, or ``None``."""
        if not self.email and not self.phone:
            return "email", "email or phone is required so that we can answer"
        if self.email and not _EMAIL.match(self.email):
            return "email", "email is not a valid address"
        if self.phone and not _PHONE.match(self.phone):
            return "phone", "phone is not a valid number"
        return None

    def external_id(self) -> str:
        """The submission id, or a digest of the content so that a retried post is the same."""
        if self.submission_id:
            return self.submission_id
        parts = (self.name, self.email or "", self.phone or "", self.subject or "", self.message)
        canonical = "\x1f".join(nfc(p) for p in parts)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def form_values(request: RawRequest) -> dict[str, Any]:
    """The submitted fields, decoded as ``parse`` reads them (blank form fields left out);
    raises ``PayloadError`` for a body that is not a JSON object or form encoding."""
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
    allowed_origins: frozenset[str] = frozenset()
    """Other origins (``scheme://host[:port]``, lower case) whose pages may post the form."""
    name: str = CHANNEL
    max_body_bytes: int = MAX_BODY_BYTES
    accepted_status: int = 202

    def verify(self, request: RawRequest) -> None:
        """A matching signature, else an own or allowed browser origin (see the module)."""
        presented = request.headers.get(SIGNATURE_HEADER)
        if self.secret and presented is not None:
            expected = hmac_sha256_hex(self.secret, request.body)
            if not signature_matches(expected, presented, prefix=SIGNATURE_PREFIX):
                raise SignatureError("signature does not match the body")
            return
        origin = page_origin(request.headers)
        if origin is None:
            if self.secret:
                raise SignatureError(f"missing {SIGNATURE_HEADER} header")
            return
        if not self.origin_allowed(origin, request.url):
            raise ForbiddenOrigin(f"origin {origin[:200]} may not post this form; "
                                  "add it to CSKH_FORM_ORIGINS or sign the post")

    def origin_allowed(self, origin: str, own_url: str) -> bool:
        """Whether a page at ``origin`` may post the form served at ``own_url``."""
        return origin == own_origin(own_url) or origin in self.allowed_origins

    def signed(self, request: RawRequest) -> bool:
        """Whether ``request`` (already verified) was let in by its signature."""
        return bool(self.secret) and SIGNATURE_HEADER in request.headers

    def parse(self, request: RawRequest) -> WebhookResult:
        """Validate the form and make one envelope of it."""
        data = form_values(request)
        trap = data.pop(HONEYPOT_FIELD, None)
        try:
            form = WebformSubmission.model_validate(data)
        except ValidationError as exc:
            raise PayloadError.from_validation(exc) from exc
        problem = form.contact_problem()
        if problem:
            field, reason = problem
            raise PayloadError(reason, [{"field": field, "message": reason}])
        external_id = form.external_id()
        if trap not in (None, ""):
            # A robot filled the field people never see: answer as if it worked, store nothing.
            ref = str(envelope_id(CHANNEL, external_id))
            return WebhookResult(envelopes=(), event_type="honeypot", ignored=True,
                                 response={"status": "accepted", "ids": [ref]})
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
            category_hint=form.category,
        )
        return WebhookResult(envelopes=(envelope,), event_type="submission")


def own_origin(url: str) -> str:
    """The origin (``scheme://host[:port]``) of ``url``, lower case."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def page_origin(headers: Mapping[str, str]) -> str | None:
    """The origin of the page that made a browser request: ``Origin``, else that of
    ``Referer``; ``None`` when neither says (or ``Origin: null``, a sandboxed or local page,
    is all there is)."""
    origin = headers.get("Origin")
    if origin and origin != "null":
        return origin.strip().rstrip("/").lower()
    referer = headers.get("Referer")
    if referer:
        parts = urlsplit(referer.strip())
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}".lower()
    return None


def _raw(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (nfc(v) if isinstance(v, str) else v) for k, v in data.items()}
