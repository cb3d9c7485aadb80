"""What every webhook connector is: a channel name, a verifier, typed payloads, event handlers.

A connector never touches HTTP, the bus or the database: it receives the raw request as bytes
and headers and returns envelopes, or raises one of the errors below, which the web layer turns
into the same JSON 4xx answer for every channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from connectors.envelope import InboundEnvelope


@dataclass(frozen=True, slots=True)
class RawRequest:
    """An HTTP request as a connector sees it: nothing parsed beyond the headers.

    ``content_type`` is the ``Content-Type`` header as sent, parameters included
    (``application/octet-stream`` when there is none).
    """

    body: bytes
    headers: Mapping[str, str]
    content_type: str
    url: str
    received_at: datetime
    query: Mapping[str, str] = field(default_factory=dict)


class WebhookError(Exception):
    """A connector's refusal: ``status`` is the HTTP answer and ``code`` its name."""

    status = 400
    code = "invalid_request"

    def __init__(self, reason: str, details: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = list(details)


class SignatureError(WebhookError):
    """The request is not signed by whom it claims: answered 401, body never parsed."""

    status = 401
    code = "invalid_signature"


class ForbiddenOrigin(WebhookError):
    """The request comes from an origin the channel does not accept: answered 403."""

    status = 403
    code = "forbidden_origin"


class VerificationFailed(WebhookError):
    """A subscription handshake presented the wrong token: answered 403, as providers expect."""

    status = 403
    code = "verification_failed"


class PayloadError(WebhookError):
    """The body is not a valid payload for the channel: answered 400 with the reason."""

    status = 400
    code = "invalid_payload"

    @classmethod
    def from_validation(cls, exc: ValidationError) -> PayloadError:
        """A 400 that lists every invalid field, without echoing the customer's input back."""
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        fields = ", ".join(d["field"] or "(body)" for d in details)
        return cls(f"invalid fields: {fields}", details)


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What a connector made of a request: envelopes to append and the body to answer with."""

    envelopes: tuple[InboundEnvelope, ...]
    event_type: str
    ignored: bool = False
    response: Mapping[str, Any] | None = None
    unknown: bool = False
    """An event type the connector does not know: answered 2xx, logged apart from errors."""


class WebhookConnector(Protocol):
    """The shape every push channel has; the registry turns each into ``POST /webhooks/{name}``."""

    @property
    def name(self) -> str: ...

    @property
    def max_body_bytes(self) -> int: ...

    @property
    def accepted_status(self) -> int: ...

    def verify(self, request: RawRequest) -> None:
        """Raise ``SignatureError`` (or ``ForbiddenOrigin``) unless the raw request is authentic."""

    def parse(self, request: RawRequest) -> WebhookResult:
        """Validate the verified body and map each event to an envelope; raise ``PayloadError``."""


@runtime_checkable
class ChallengeConnector(Protocol):
    """A push channel that also proves the endpoint with a ``GET`` handshake (Facebook).

    The registry's channels that have ``challenge`` get ``GET /webhooks/{name}`` as well.
    """

    @property
    def name(self) -> str: ...

    def challenge(self, request: RawRequest) -> str:
        """The text to echo back; raise ``VerificationFailed`` (or ``PayloadError``) otherwise."""
