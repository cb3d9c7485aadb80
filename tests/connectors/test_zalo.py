"""The Zalo OA connector: one short test per fixture, then its MAC, bad input and ids."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import PayloadError, RawRequest, SignatureError
from connectors.signing import hmac_sha256_hex, sha256_hex
from connectors.zalo import ZaloConnector
from tests.support.webhooks import edit, encode, load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "zalo"
URL = "https://cskh.example.vn/webhooks/zalo"
RECEIVED = datetime(2026, 11, 27, 2, 15, 30, tzinfo=UTC)
SECRET = "zalo-oa-secret-for-tests"
APP_ID = "2154781093528401638"
CONNECTOR = ZaloConnector(oa_secret=SECRET, app_id=APP_ID)


def mac(body: bytes, *, app_id: str = APP_ID, secret: str = SECRET,
        timestamp: str | None = None) -> str:
    """Zalo's way: plain SHA-256 of app id + body + the body's timestamp + OA secret."""
    if timestamp is None:
        found = re.search(rb'"timestamp"\s*:\s*"?(\d+)', body)
        assert found
        timestamp = found.group(1).decode()
    return "mac=" + sha256_hex(app_id.encode(), body, timestamp.encode(), secret.encode())


def request(body: bytes, **headers: str) -> RawRequest:
    return RawRequest(body=body, headers=CIMultiDict(headers), content_type="application/json",
                      url=URL, received_at=RECEIVED)


def signed(body: bytes, **kwargs: str) -> RawRequest:
    return request(body, **{"X-ZEvent-Signature": mac(body, **kwargs)})


def fixture(name: str) -> dict[str, Any]:
    return load_fixture(FIXTURES, name)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture(path: Path, webhook_fixture_check: Callable[..., None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    webhook_fixture_check(CONNECTOR, signed(encode(data["body"])), data["expect"], RECEIVED)


def test_fixture_set_is_complete() -> None:
    events = {p.stem.split("__", 1)[0] for p in FIXTURES.glob("*.json")}
    assert {"user_send_text", "user_send_image", "user_send_file", "user_send_link",
            "user_send_sticker", "user_send_location", "anonymous_send_text", "follow",
            "unfollow", "user_received_message", "user_seen_message", "unknown"} <= events


# -- the MAC --------------------------------------------------------------------------------------


def _body() -> bytes:
    return encode(fixture("user_send_text__plain")["body"])


@pytest.mark.parametrize("case", ["wrong_secret", "missing_header", "one_byte_changed",
                                  "reserialized_json", "other_timestamp", "other_app_id",
                                  "hmac_not_sha256", "no_prefix", "empty_value"])
def test_bad_signature_is_refused(case: str) -> None:
    body = _body()
    good = mac(body)
    header = "X-ZEvent-Signature"
    if case == "wrong_secret":
        req = signed(body, secret="not-the-oa-secret")
    elif case == "missing_header":
        req = request(body)
    elif case == "one_byte_changed":
        changed = body.replace(b"0001532", b"0001533")
        assert len(changed) == len(body) and changed != body
        req = request(changed, **{header: good})
    elif case == "reserialized_json":
        again = json.dumps(json.loads(body), ensure_ascii=True, indent=1).encode()
        assert json.loads(again) == json.loads(body) and again != body
        req = request(again, **{header: good})
    elif case == "other_timestamp":
        req = request(body, **{header: mac(body, timestamp="1795745700000")})
    elif case == "other_app_id":
        req = request(body, **{header: mac(body, app_id="9999999999999999999")})
    elif case == "hmac_not_sha256":
        req = request(body, **{header: "mac=" + hmac_sha256_hex(SECRET, body)})
    elif case == "no_prefix":
        req = request(body, **{header: good.removeprefix("mac=")})
    else:
        req = request(body, **{header: ""})
    with pytest.raises(SignatureError) as caught:
        CONNECTOR.verify(req)
    assert caught.value.status == 401


def test_without_a_pinned_app_id_the_bodys_is_used() -> None:
    body = _body()
    ZaloConnector(oa_secret=SECRET).verify(signed(body))
    other = body.replace(APP_ID.encode(), b"1111111111111111111")
    ZaloConnector(oa_secret=SECRET).verify(signed(other, app_id="1111111111111111111"))
    with pytest.raises(SignatureError):  # pinned: another app's events are not ours
        CONNECTOR.verify(signed(other, app_id="1111111111111111111"))


def test_a_body_without_a_timestamp_cannot_be_verified() -> None:
    body = b'{"app_id": "' + APP_ID.encode() + b'", "event_name": "user_send_text"}'
    with pytest.raises(SignatureError):
        CONNECTOR.verify(request(body, **{"X-ZEvent-Signature": mac(body, timestamp="1")}))


# -- bad input ------------------------------------------------------------------------------------


def _with(**changes: Any) -> bytes:
    body = fixture("user_send_text__plain")["body"]
    for key, value in changes.items():
        edit(body, key, value)
    return encode(body)


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param(b'{"app_id": "2154781093528401638", "timestamp": "1795745700417", "event_',
                 "malformed JSON", id="malformed_json_but_signed"),
    pytest.param(b'[{"app_id": "2154781093528401638", "timestamp": "1795745700417"}]', "object",
                 id="json_array"),
    pytest.param(_with(event_name=...), "event_name", id="no_event_name"),
    pytest.param(_with(timestamp=1795745700417.5), "timestamp", id="timestamp_not_an_integer"),
    pytest.param(_with(message={"text": "không có msg_id"}), "msg_id", id="no_msg_id"),
    pytest.param(_with(sender="8438561224567893215"), "sender", id="sender_not_an_object"),
    pytest.param(_with(recipient=...), "recipient", id="no_recipient"),
    pytest.param(_with(message={"msg_id": "x", "attachments": {"type": "image"}}),
                 "attachments", id="attachments_not_a_list"),
])
def test_bad_input_is_a_payload_error(body: bytes, reason: str) -> None:
    req = signed(body)
    CONNECTOR.verify(req)  # signed properly: the refusal is about the content
    with pytest.raises(PayloadError) as caught:
        CONNECTOR.parse(req)
    assert caught.value.status == 400
    assert reason.lower() in (caught.value.reason + json.dumps(caught.value.details)).lower()


def test_follow_without_a_follower_is_a_payload_error() -> None:
    body = fixture("follow__oa_profile")["body"]
    del body["follower"]
    with pytest.raises(PayloadError):
        CONNECTOR.parse(signed(encode(body)))


# -- ids ------------------------------------------------------------------------------------------


def test_redelivery_has_the_same_id_and_another_msg_id_another() -> None:
    body = fixture("user_send_text__plain")["body"]
    first = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    again = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    assert first.id == again.id
    body["message"]["msg_id"] = "a3f1c07b9d2e4c5f8a6c"
    assert CONNECTOR.parse(signed(encode(body))).envelopes[0].id != first.id
