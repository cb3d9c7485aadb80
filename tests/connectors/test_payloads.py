"""JSON at the edge: what every JSON webhook's body goes through first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from connectors.base import PayloadError
from connectors.envelope import InboundEnvelope, Sender
from connectors.payloads import (
    LATEST,
    MAX_ID_CHARS,
    MAX_JSON_DEPTH,
    Count,
    IdStr,
    Instant,
    UnixAny,
    UnixMillis,
    UnixSeconds,
    Url,
    from_epoch,
    from_epoch_any,
    json_object,
    validated,
)


def test_a_json_object_is_read_with_large_ids_exact() -> None:
    body = '{"id": 123456789012345678901234567890, "text": "Đơn hàng"}'.encode()
    assert json_object(body) == {"id": 123456789012345678901234567890, "text": "Đơn hàng"}


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"text": "a', "malformed JSON"),
    # Would be read by json.loads and only fail when the envelope is written: a 500.
    (b'{"text": "\\ud800"}', "malformed JSON"),
    (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "malformed JSON"),
    (b'{"a": 1} trailing', "malformed JSON"),
    (b"[1, 2]", "must be an object"),
    (b'{"text": "\xff"}', "not valid UTF-8"),
])
def test_bad_json_is_a_payload_error(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        json_object(body)


def _nested(depth: int) -> bytes:
    return b'{"a": ' + b'{"b": ' * (depth - 1) + b"1" + b"}" * (depth - 1) + b"}"


@pytest.mark.parametrize(("body", "reason"), [
    # Read at the edge, then unreadable from the bus (its reader stops at 200 levels, the
    # envelope adds its own): told "received", then dead-lettered.
    (_nested(MAX_JSON_DEPTH + 1), f"nests more than {MAX_JSON_DEPTH} levels"),
    (_nested(199), f"nests more than {MAX_JSON_DEPTH} levels"),
    (b'{"a": [' + b"[" * 40 + b"]" * 40 + b"]}", f"nests more than {MAX_JSON_DEPTH} levels"),
    # PostgreSQL stores no NUL, in text nor in JSONB.
    (b'{"text": "a\\u0000b"}', "NUL character"),
    (b'{"extra": {"a\\u0000": 1}}', "NUL character"),
    (b'{"lat": 1e400}', "out of range"),
    (b'{"lat": NaN}', "malformed JSON"),
    (b'{"lat": -Infinity}', "malformed JSON"),
])
def test_what_could_not_be_read_back_is_refused_at_the_edge(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        json_object(body)


def test_the_deepest_body_accepted_survives_the_bus() -> None:
    data = json_object(_nested(MAX_JSON_DEPTH))
    # Deeper still inside the envelope: a one-event Facebook body is re-wrapped in four levels.
    raw = {"object": "page", "entry": [{"messaging": [data]}]}
    envelope = InboundEnvelope.create(channel="facebook", external_id="m", thread_key="p:u",
                                      received_at=datetime.now(UTC), sender=Sender(), raw=raw)
    assert InboundEnvelope.model_validate_json(envelope.to_json_bytes()).raw == raw


class _Times(BaseModel):
    seconds: UnixSeconds | None = None
    millis: UnixMillis | None = None
    vague: UnixAny | None = None
    iso: Instant | None = None
    url: Url | None = None
    size: Count | None = None


@pytest.mark.parametrize("values", [
    {"seconds": 10**20}, {"seconds": "1" * 21}, {"seconds": "9" * 5000}, {"seconds": -1},
    {"millis": 10**20}, {"millis": "1" * 21}, {"millis": 253402300800000},
    {"vague": 10**20}, {"vague": 40_000_000_000}, {"vague": "1" * 21},
    {"iso": "9999-12-31T23:59:59-01:00"}, {"iso": "0001-01-01T00:00:00+07:00"},
    {"iso": "9999-12-31T00:00:00+00:00"}, {"iso": "1969-12-31T23:59:59Z"},
    {"url": "http://["}, {"url": "http://[::1"}, {"url": "ftp://x.vn/a.png"},
    {"url": "/relative/a.png"}, {"url": "https://"}, {"url": "https://x.vn/" + "a" * 2100},
    {"url": "http://example.com:99999/a"},
    {"size": 2**63}, {"size": "9" * 30}, {"size": -1},
])
def test_out_of_range_values_are_invalid_fields(values: dict[str, Any]) -> None:
    with pytest.raises(PayloadError, match=f"invalid fields: {next(iter(values))}"):
        validated(_Times, values)


def test_in_range_values_convert_without_overflow() -> None:
    got = validated(_Times, {"seconds": "1795745700", "millis": 1795745700123,
                             "vague": 1795745700123456789, "iso": "2026-11-27T09:16:10+07:00",
                             "url": "https://cdn.example.vn/f/Báo giá.pdf", "size": "1024"})
    assert got.seconds is not None and got.millis is not None and got.vague is not None
    assert from_epoch(got.seconds, ms=False) == from_epoch(got.millis, ms=True).replace(
        microsecond=0) == from_epoch_any(got.vague).replace(microsecond=0)
    assert got.size == 1024
    latest = validated(_Times, {"millis": int(LATEST.timestamp() * 1000) - 1,
                                "vague": int(LATEST.timestamp()) * 10**9 - 1})
    assert latest.millis is not None and latest.vague is not None
    assert from_epoch(latest.millis, ms=True) < LATEST
    assert from_epoch_any(latest.vague) <= LATEST


class _Id(BaseModel):
    id: IdStr


@pytest.mark.parametrize("value", [" ", "\u2028", "\u3000 ", "", "a" * (MAX_ID_CHARS + 1)])
def test_blank_or_too_long_ids_are_invalid(value: str) -> None:
    # " " was the id "" (pydantic checked the length before stripping): an envelope with an
    # empty external id could not be built, a 500.
    with pytest.raises(PayloadError, match="invalid fields: id"):
        validated(_Id, {"id": value})


def test_ids_are_stripped_and_numbers_are_text() -> None:
    assert validated(_Id, {"id": " m_1 "}).id == "m_1"
    assert validated(_Id, {"id": 1795745700123456789}).id == "1795745700123456789"
    assert validated(_Id, {"id": "a" * MAX_ID_CHARS}).id == "a" * MAX_ID_CHARS
