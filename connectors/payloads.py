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
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
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
    # (Shopee's from_id, Lazada's seller_id); ids are text here. bool is not an id. Stripped
    # here, not by ``StringConstraints(strip_whitespace=True)``: after a before-validator,
    # pydantic checks the length before it strips, and " " became the id "".
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return value


MAX_ID_CHARS = 200
IdStr = Annotated[str, BeforeValidator(_id_text),
                  StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
"""A provider id: a non-empty string of at most ``MAX_ID_CHARS``, accepted from a JSON number.

The longest key a connector composes of ids (a Facebook postback without ``mid``:
``postback:<page>:<user>:<time>``) is then 425 characters, inside the envelope's 512: an id
too long is refused as its own field, never as an envelope that cannot be built.
"""

# -- times ---------------------------------------------------------------------------------------

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""The times a provider may give for a message. Any UTC offset and any window of days the
service adds to a message's time stays inside what ``datetime`` holds (years 1 to 9999)."""
_LATEST_SECONDS = int(LATEST.timestamp())
_NS = 10**9


def _digits_text(value: object) -> object:
    # Zalo sends sizes and times as strings of digits; longer strings than any 64-bit number
    # are left as text, for the integer check to refuse without converting them.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return value


def _instant(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"time must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} UTC")
    return value


def _unix_any(value: int) -> int:
    for divisor in (1, 1_000, 1_000_000, _NS):
        if value < 10**11 * divisor:
            if value // divisor >= _LATEST_SECONDS:
                break
            return value
    raise ValueError(f"not a Unix time before {LATEST:%Y-%m-%d} (in s, ms, µs or ns)")


Instant = Annotated[AwareDatetime, AfterValidator(_instant)]
"""An ISO 8601 time with a UTC offset, between ``EARLIEST`` and ``LATEST``."""
UnixSeconds = Annotated[int, BeforeValidator(_digits_text),
                        Field(ge=0, lt=_LATEST_SECONDS)]
"""A Unix time in seconds (from a JSON number or a string of digits), before ``LATEST``."""
UnixMillis = Annotated[int, BeforeValidator(_digits_text),
                       Field(ge=0, lt=_LATEST_SECONDS * 1000)]
"""A Unix time in milliseconds (from a JSON number or a string of digits), before ``LATEST``."""
UnixAny = Annotated[int, BeforeValidator(_digits_text), Field(ge=0),
                    AfterValidator(_unix_any)]
"""A Unix time whose unit the provider leaves vague (see ``from_epoch_any``), before ``LATEST``."""
Count = Annotated[int, BeforeValidator(_digits_text), Field(ge=0, le=2**63 - 1)]
"""A size or a duration: a whole number that fits a 64-bit column."""


# -- links ---------------------------------------------------------------------------------------

MAX_URL_CHARS = 2048
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _url(value: str) -> str:
    if len(value) > MAX_URL_CHARS:
        raise ValueError(f"URL longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(value)
        _HTTP_URL.validate_python(value)
    except (ValueError, ValidationError):
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return value


Url = Annotated[str, AfterValidator(_url)]
"""A link to a file the provider hosts: an absolute http(s) URL (kept as sent) that both
pydantic's URL parser and ``urllib.parse`` read."""


MAX_JSON_DEPTH = 32
"""How deep a body may nest. Provider payloads nest under ten levels; the envelope carries the
body in ``raw`` a few levels further down, and the bus's JSON reader stops at 200."""


def storable_problem(data: Any) -> str | None:
    """Why ``data`` (decoded JSON) would not survive the trip to a ticket, or ``None``.

    What survives: nesting at most ``MAX_JSON_DEPTH`` levels, no NUL character in any text or
    key (PostgreSQL stores none), no infinite number (``1e400``: JSON has none to write back).
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            items: Iterable[Any] = node.values()
            if any("\x00" in key for key in node):
                return "a key contains a NUL character (U+0000)"
        elif isinstance(node, list):
            items = node
        elif isinstance(node, str):
            if "\x00" in node:
                return "a text contains a NUL character (U+0000)"
            continue
        elif isinstance(node, float):
            if node in (_INF, -_INF):
                return "a number is out of range (infinite)"
            continue
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return f"the body nests more than {MAX_JSON_DEPTH} levels deep"
        stack.extend((item, depth + 1) for item in items)
    return None


def check_storable(data: Any) -> None:
    """Raise ``PayloadError`` unless ``data`` (a decoded body) survives the trip to the ticket.

    This is the one limit on what a webhook accepts beyond its connector's model, checked
    once, at the edge (``json_object``, the web form's form encoding, a JSON text inside a
    body), so that whatever is answered 2xx the normalizer reads back from the bus and stores.
    See ``storable_problem``.
    """
    problem = storable_problem(data)
    if problem:
        raise PayloadError(problem)


def _embedded_json(value: object) -> object:
    # Lazada and TikTok send a message's content as a JSON *string* inside the body.
    if not isinstance(value, str | bytes):
        raise ValueError("must be a JSON text")
    data = from_json(value, allow_inf_nan=False)  # its ValueError names the fault
    problem = storable_problem(data)
    if problem:
        raise ValueError(problem)
    return data


EMBEDDED_JSON = BeforeValidator(_embedded_json)
"""``Annotated[Model, EMBEDDED_JSON]``: a field whose value is a JSON text holding ``Model``,
held to the same limits as a body (``check_storable``)."""


_INF = float("inf")


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; ``PayloadError`` for bad UTF-8, bad JSON, a non-object, or
    one that ``check_storable`` refuses."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        # pydantic-core's JSON reader: twice as quick as ``json.loads`` on a webhook, integers
        # of any size stay exact, and it refuses what ``json.loads`` would let through to fail
        # later: an unpaired surrogate escape ("\ud800"), nesting deep enough to recurse out,
        # NaN and Infinity (not JSON).
        data = from_json(text, allow_inf_nan=False)
    except ValueError as exc:
        raise PayloadError(f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError("JSON body must be an object")
    check_storable(data)
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
    """A provider's Unix time (seconds, or milliseconds with ``ms``) as an aware UTC time.

    ``value`` is a ``UnixSeconds`` (``UnixMillis`` with ``ms``): it never overflows.
    """
    return datetime.fromtimestamp(value / 1000 if ms else value, UTC)


def from_epoch_any(value: int) -> datetime:
    """A ``UnixAny`` time, read by its magnitude as an aware UTC time.

    Seconds below 10^11 (the year 5138; ``UnixAny`` stops at ``LATEST``), then milliseconds,
    microseconds, nanoseconds.
    """
    for divisor in (1, 1_000, 1_000_000, _NS):
        if value < 10**11 * divisor:
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
