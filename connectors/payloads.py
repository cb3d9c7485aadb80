"""Small helpers every provider connector shares: JSON at the edge, ids, times, phones, files.

Nothing here knows a provider; each connector module keeps its own models and quirks.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import phonenumbers
from pydantic import BaseModel, BeforeValidator, StringConstraints, ValidationError
from pydantic_core import from_json

from connectors.base import PayloadError, RawRequest, SignatureError, WebhookResult
from connectors.envelope import Attachment, InboundEnvelope
from connectors.signing import signature_matches_any

M = TypeVar("M", bound=BaseModel)

# Fields a provider documents as kinds of media, mapped to a content type when the file name
# tells nothing better ("image/*": an image whose exact format we have not seen yet).
_KIND_TYPES = {"image": "image/*", "photo": "image/*", "gif": "image/gif", "sticker": "image/*",
               "video": "video/*", "audio": "audio/*", "voice": "audio/*"}


def _id_text(value: object) -> object:
    # Providers send the same id as a JSON number in one event and a string in the next
    # (Shopee's from_id, Lazada's seller_id); ids are text here. bool is not an id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


IdStr = Annotated[str, BeforeValidator(_id_text),
                  StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
"""A provider id: a non-empty string, accepted from a JSON number too."""


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; ``PayloadError`` for bad UTF-8, bad JSON or a non-object."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        # pydantic-core's JSON reader: twice as quick as ``json.loads`` on a webhook, integers
        # of any size stay exact, and it refuses what ``json.loads`` would let through to fail
        # later: an unpaired surrogate escape ("\ud800"), nesting deep enough to recurse out.
        data = from_json(text)
    except ValueError as exc:
        raise PayloadError(f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError("JSON body must be an object")
    return data


def validated(model: type[M], data: Any) -> M:
    """``data`` read through ``model``; every invalid field listed in one ``PayloadError``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PayloadError.from_validation(exc) from exc


def require_signature(request: RawRequest, header: str, expected: str | Iterable[str], *,
                      prefix: str = "") -> None:
    """Raise ``SignatureError`` unless ``header`` carries one of the ``expected`` hex digests.

    The comparison is constant time (``connectors.signing``); neither value is ever logged.
    """
    presented = request.headers.get(header)
    if presented is None or not presented.strip():
        raise SignatureError(f"missing {header} header")
    candidates = [expected] if isinstance(expected, str) else list(expected)
    if not signature_matches_any(candidates, presented, prefix=prefix):
        raise SignatureError("signature does not match the body")


def from_epoch(value: int, *, ms: bool) -> datetime:
    """A provider's Unix time (seconds, or milliseconds with ``ms``) as an aware UTC time."""
    return datetime.fromtimestamp(value / 1000 if ms else value, UTC)


def from_epoch_any(value: int) -> datetime:
    """A Unix time whose unit the provider leaves vague, read by its magnitude.

    Seconds until the year 5138, then milliseconds, microseconds, nanoseconds.
    """
    for divisor in (1, 1_000, 1_000_000, 1_000_000_000):
        if value / divisor < 10**11:
            return datetime.fromtimestamp(value / divisor, UTC)
    raise ValueError(f"{value} is not a Unix time")


def e164(number: str | None, region: str = "VN") -> str | None:
    """``number`` in E.164 form read as dialled in ``region``; ``None`` if it is no phone number.

    Internal extensions (``101``) and withheld numbers (``anonymous``) are ``None``.
    """
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def remote_attachment(url: str, kind: str, *, name: str | None = None,
                      size: int | None = None) -> Attachment:
    """A file the provider hosts at ``url`` that we have not fetched yet.

    Until a fetcher stores it, ``stored_at`` is the provider's URL, ``sha256`` is empty and
    ``size`` is what the provider announced (0 when it announced nothing).
    """
    path_name = PurePosixPath(urlsplit(url).path).name
    file_name = name or path_name or kind
    guessed, _ = mimetypes.guess_type(file_name)
    if guessed is None and path_name:
        guessed, _ = mimetypes.guess_type(path_name)
    content_type = guessed or _KIND_TYPES.get(kind, "application/octet-stream")
    return Attachment(name=file_name[:255], content_type=content_type, size=max(size or 0, 0),
                      sha256="", stored_at=url)


def ignored(event_type: str) -> WebhookResult:
    """A known event that is deliberately not a customer message (delivery receipts, echoes)."""
    return WebhookResult(envelopes=(), event_type=event_type, ignored=True)


def unknown(event_type: str) -> WebhookResult:
    """An event type we do not know: answered 2xx so the provider stops, logged apart."""
    return WebhookResult(envelopes=(), event_type=event_type, ignored=True, unknown=True)


EventHandler = Callable[[Mapping[str, Any], datetime], InboundEnvelope | None]


def dispatch(events: Mapping[str, EventHandler], event_type: str | None, unknown_as: str,
             data: Mapping[str, Any], received_at: datetime) -> WebhookResult:
    """Run one event through a connector's ``EVENTS`` map: an unknown type (answered 2xx,
    logged apart), a known one that is not a customer message, or one envelope."""
    handler = None if event_type is None else events.get(event_type)
    if event_type is None or handler is None:
        return unknown(unknown_as)
    envelope = handler(data, received_at)
    if envelope is None:
        return ignored(event_type)
    return WebhookResult(envelopes=(envelope,), event_type=event_type)
