"""The Facebook Messenger connector: a test per fixture, then handshake, signatures, input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import PayloadError, RawRequest, SignatureError, VerificationFailed
from connectors.facebook import FacebookConnector
from connectors.signing import hmac_sha256_hex
from tests.support.webhooks import edit, load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "facebook"
URL = "https://cskh.example.vn/webhooks/facebook"
RECEIVED = datetime(2026, 11, 27, 2, 15, 30, tzinfo=UTC)
SECRET = "fb-app-secret-for-tests"
TOKEN = "fb-verify-token-for-tests"
CONNECTOR = FacebookConnector(app_secret=SECRET, verify_token=TOKEN)


def encode(body: Any) -> bytes:
    """What Meta posts: compact JSON with non-ASCII escaped as \\uXXXX."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode()


def request(body: bytes, headers: dict[str, str] | None = None, *,
            query: dict[str, str] | None = None) -> RawRequest:
    return RawRequest(body=body, headers=CIMultiDict(headers or {}),
                      content_type="application/json", url=URL, received_at=RECEIVED,
                      query=query or {})


def signed(body: bytes, secret: str = SECRET) -> RawRequest:
    return request(body, {"X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(secret, body)})


def fixture(name: str) -> dict[str, Any]:
    return load_fixture(FIXTURES, name)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture(path: Path, webhook_fixture_check: Callable[..., None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    webhook_fixture_check(CONNECTOR, signed(encode(data["body"])), data["expect"], RECEIVED)


def test_fixture_set_is_complete() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    events = {n.split("__", 1)[0] for n in names}
    assert {"message", "postback", "message_echo", "delivery", "read", "reaction", "batch",
            "unknown"} <= events
    assert {"message__text", "message__image", "message__file", "message__sticker",
            "message__reply_to", "message__no_diacritics_emoji"} <= names


# -- the GET handshake ----------------------------------------------------------------------------


def hub(**params: str) -> RawRequest:
    return request(b"", query={f"hub.{k}": v for k, v in params.items()})


def test_handshake_echoes_the_challenge() -> None:
    assert CONNECTOR.challenge(hub(mode="subscribe", verify_token=TOKEN,
                                   challenge="1158201444")) == "1158201444"


@pytest.mark.parametrize("connector", [CONNECTOR, FacebookConnector(app_secret=SECRET)],
                         ids=["wrong_token", "no_token_configured"])
def test_handshake_with_the_wrong_token_is_forbidden(connector: FacebookConnector) -> None:
    for token in ("other-token", TOKEN.upper(), ""):
        with pytest.raises(VerificationFailed) as caught:
            connector.challenge(hub(mode="subscribe", verify_token=token, challenge="42"))
        assert caught.value.status == 403
    with pytest.raises(VerificationFailed):
        CONNECTOR.challenge(request(b"", query={"hub.mode": "subscribe", "hub.challenge": "42"}))


@pytest.mark.parametrize("params", [{"verify_token": TOKEN, "challenge": "42"},
                                    {"mode": "unsubscribe", "verify_token": TOKEN,
                                     "challenge": "42"},
                                    {"mode": "subscribe", "verify_token": TOKEN}])
def test_handshake_without_mode_or_challenge_is_a_bad_request(params: dict[str, str]) -> None:
    with pytest.raises(PayloadError):
        CONNECTOR.challenge(hub(**params))


def test_secrets_are_not_in_the_repr() -> None:
    assert SECRET not in repr(CONNECTOR) and TOKEN not in repr(CONNECTOR)


# -- signatures -----------------------------------------------------------------------------------


def _body() -> bytes:
    return encode(fixture("message__text")["body"])


@pytest.mark.parametrize("case", ["wrong_secret", "missing_header", "one_byte_changed",
                                  "reserialized_json", "unescaped_utf8", "no_prefix",
                                  "empty_value", "sha1_header_only"])
def test_bad_signature_is_refused(case: str) -> None:
    body = _body()
    good = "sha256=" + hmac_sha256_hex(SECRET, body)
    header = "X-Hub-Signature-256"
    if case == "wrong_secret":
        req = signed(body, secret="not-the-app-secret")
    elif case == "missing_header":
        req = request(body)
    elif case == "one_byte_changed":
        changed = body.replace(b"40x80", b"40x81")
        assert len(changed) == len(body) and changed != body
        req = request(changed, {header: good})
    elif case == "reserialized_json":
        again = json.dumps(json.loads(body), ensure_ascii=True, indent=1).encode()
        assert json.loads(again) == json.loads(body) and again != body
        req = request(again, {header: good})
    elif case == "unescaped_utf8":  # the same JSON with its Vietnamese not escaped
        again = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()
        assert json.loads(again) == json.loads(body) and again != body
        req = request(again, {header: good})
    elif case == "no_prefix":
        req = request(body, {header: good.removeprefix("sha256=")})
    elif case == "empty_value":
        req = request(body, {header: ""})
    else:
        req = request(body, {"X-Hub-Signature": "sha1=" + "0" * 40})
    with pytest.raises(SignatureError) as caught:
        CONNECTOR.verify(req)
    assert caught.value.status == 401 and caught.value.reason


# -- bad input ------------------------------------------------------------------------------------


def _with(**changes: Any) -> bytes:
    body = fixture("message__text")["body"]
    event = body["entry"][0]["messaging"][0]
    for key, value in changes.items():
        edit(event, key, value)
    return encode(body)


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param(b'{"object": "page", "entry": [', "malformed JSON", id="malformed_json"),
    pytest.param(b'[{"object": "page"}]', "object", id="json_array"),
    pytest.param(b'{"object": "page", "entry": {"id": "1"}}', "entry", id="entry_not_a_list"),
    pytest.param(b'{"entry": []}', "object", id="no_object"),
    pytest.param(_with(sender=...), "sender", id="no_sender"),
    pytest.param(_with(timestamp="yesterday"), "timestamp", id="timestamp_not_a_number"),
    pytest.param(_with(message={"text": "no mid"}), "mid", id="message_without_mid"),
    pytest.param(_with(message={"mid": "", "text": "x"}), "mid", id="empty_mid"),
    pytest.param(_with(message="just text"), "message", id="message_not_an_object"),
    pytest.param(b'{"object": "page", "entry": [{"id": "1", "time": 1, "messaging": '
                 b'[{"sender": {"id": "\xff"}}]}]}', "UTF-8", id="invalid_utf8"),
])
def test_bad_input_is_a_payload_error(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        CONNECTOR.parse(signed(body))
    assert caught.value.status == 400
    assert reason.lower() in (caught.value.reason + json.dumps(caught.value.details)).lower()


# -- ids ------------------------------------------------------------------------------------------


def test_redelivery_has_the_same_ids_and_seq_is_not_the_key() -> None:
    body = fixture("message__text")["body"]
    first = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    body["entry"][0]["messaging"][0]["message"]["seq"] = 98765
    body["entry"][0]["time"] += 60_000
    again = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    assert first.id == again.id and first.external_id == again.external_id
    body["entry"][0]["messaging"][0]["message"]["mid"] += "x"
    assert CONNECTOR.parse(signed(encode(body))).envelopes[0].id != first.id
