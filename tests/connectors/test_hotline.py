"""The cloud PBX hotline connector: a test per fixture, then call rules, signatures and input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import PayloadError, RawRequest, SignatureError
from connectors.hotline import HotlineConnector
from connectors.signing import hmac_sha256_hex
from tests.support.webhooks import edit, encode, load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hotline"
URL = "https://cskh.example.vn/webhooks/hotline"
RECEIVED = datetime(2026, 11, 27, 2, 16, 30, tzinfo=UTC)
SECRET = "hotline-secret-for-tests"
CONNECTOR = HotlineConnector(secret=SECRET)
HEADER = "X-CSKH-Signature"


def request(body: bytes, **headers: str) -> RawRequest:
    return RawRequest(body=body, headers=CIMultiDict(headers), content_type="application/json",
                      url=URL, received_at=RECEIVED)


def signed(body: bytes, secret: str = SECRET) -> RawRequest:
    return request(body, **{HEADER: "sha256=" + hmac_sha256_hex(secret, body)})


def fixture(name: str) -> dict[str, Any]:
    return load_fixture(FIXTURES, name)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture(path: Path, webhook_fixture_check: Callable[..., None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    webhook_fixture_check(CONNECTOR, signed(encode(data["body"])), data["expect"], RECEIVED)


def test_fixture_set_is_complete() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert {"newCall__inbound", "answer__agent", "hangup__no_answer", "hangup__busy",
            "hangup__abandoned_in_queue", "hangup__answered_no_note",
            "hangup__answered_with_note", "note__agent", "unknown__transfer"} <= names


# -- what a call becomes --------------------------------------------------------------------------


def test_missed_calls_are_callbacks_threaded_by_the_callers_e164_number() -> None:
    envelopes = [CONNECTOR.parse(signed(encode(fixture(name)["body"]))).envelopes[0]
                 for name in ("hangup__no_answer", "hangup__busy", "hangup__abandoned_in_queue")]
    for envelope in envelopes:
        assert envelope.channel == "hotline"
        assert envelope.subject and envelope.subject.startswith("Gọi lại:")
        assert envelope.thread_key == envelope.sender.phone
        assert envelope.sender.phone and envelope.sender.phone.startswith("+84")
    assert len({e.id for e in envelopes}) == 3


def test_two_calls_from_one_number_share_the_thread_not_the_id() -> None:
    body = fixture("hangup__no_answer")["body"]
    first = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    later = {**body, "call_id": "c0a8012e-7f3b-4d2a-9e61-20261127093000",
             "from": "+84 912 345 678", "timestamp": "2026-11-27T09:30:40+07:00",
             "started_at": "2026-11-27T09:30:00+07:00"}
    second = CONNECTOR.parse(signed(encode(later))).envelopes[0]
    assert second.thread_key == first.thread_key == "+84912345678"
    assert second.id != first.id


def test_the_note_of_a_missed_call_makes_nothing_more() -> None:
    body = {**fixture("hangup__no_answer")["body"], "event": "note", "note": "Đã gọi lại"}
    result = CONNECTOR.parse(signed(encode(body)))
    assert result.ignored and not result.envelopes


def test_a_note_and_a_noted_hangup_of_one_call_are_one_message() -> None:
    hangup = fixture("hangup__answered_with_note")["body"]
    note = {**hangup, "event": "note", "note": hangup["note"] + " (đã sửa)"}
    ids = {CONNECTOR.parse(signed(encode(b))).envelopes[0].id for b in (hangup, note)}
    assert len(ids) == 1


@pytest.mark.parametrize("cause", ["NO ANSWER", "no-answer", "NoAnswer", "BUSY", "CANCEL",
                                   "Abandoned", "FAILED", "CONGESTION"])
def test_missed_causes_are_read_in_any_spelling(cause: str) -> None:
    body = {**fixture("hangup__no_answer")["body"], "cause": cause}
    (envelope,) = CONNECTOR.parse(signed(encode(body))).envelopes
    assert envelope.subject and envelope.subject.startswith("Gọi lại:")


# -- signatures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["wrong_secret", "missing_header", "one_byte_changed",
                                  "reserialized_json", "no_prefix", "empty_value"])
def test_bad_signature_is_refused(case: str) -> None:
    body = encode(fixture("hangup__no_answer")["body"])
    good = "sha256=" + hmac_sha256_hex(SECRET, body)
    if case == "wrong_secret":
        req = signed(body, secret="not-the-hotline-secret")
    elif case == "missing_header":
        req = request(body)
    elif case == "one_byte_changed":
        changed = body.replace(b"0912345678", b"0912345679")
        assert len(changed) == len(body) and changed != body
        req = request(changed, **{HEADER: good})
    elif case == "reserialized_json":
        again = json.dumps(json.loads(body), ensure_ascii=True, indent=1).encode()
        assert json.loads(again) == json.loads(body) and again != body
        req = request(again, **{HEADER: good})
    elif case == "no_prefix":
        req = request(body, **{HEADER: good.removeprefix("sha256=")})
    else:
        req = request(body, **{HEADER: ""})
    with pytest.raises(SignatureError) as caught:
        CONNECTOR.verify(req)
    assert caught.value.status == 401


# -- bad input ------------------------------------------------------------------------------------


def _with(**changes: Any) -> bytes:
    body = fixture("hangup__no_answer")["body"]
    for key, value in changes.items():
        edit(body, key, value)
    return encode(body)


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param(b'{"event": "hangup", "call_id": ', "malformed JSON", id="malformed_json"),
    pytest.param(b'[{"event": "hangup"}]', "object", id="json_array"),
    pytest.param(_with(event=...), "event", id="no_event"),
    pytest.param(_with(call_id=...), "call_id", id="no_call_id"),
    pytest.param(_with(timestamp="2026-11-27 09:15:40"), "timestamp", id="naive_timestamp"),
    pytest.param(_with(direction="sideways"), "direction", id="unknown_direction"),
    pytest.param(_with(duration=-3), "duration", id="negative_duration"),
    pytest.param(_with(**{"from": ...}), "from", id="no_caller"),
    pytest.param(_with(event="newCall", to=19006868), "to", id="number_as_json_number"),
])
def test_bad_input_is_a_payload_error(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        CONNECTOR.parse(signed(body))
    assert caught.value.status == 400
    assert reason.lower() in (caught.value.reason + json.dumps(caught.value.details)).lower()


def test_secret_is_not_in_the_repr() -> None:
    assert SECRET not in repr(CONNECTOR)
