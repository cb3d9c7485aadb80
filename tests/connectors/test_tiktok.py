"""The TikTok Shop connector: one short test per fixture, then signatures, bad input and ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import PayloadError, RawRequest, SignatureError
from connectors.signing import hmac_sha256_hex
from connectors.tiktok import TikTokConnector
from tests.support.webhooks import edit, encode, load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tiktok"
URL = "https://cskh.example.vn/webhooks/tiktok"
RECEIVED = datetime(2026, 11, 27, 2, 15, 30, tzinfo=UTC)
SECRET = "tiktok-app-secret-for-tests"
APP_KEY = "6c8f2k1q9m3d7"
CONNECTOR = TikTokConnector(app_key=APP_KEY, app_secret=SECRET)


def signature(body: bytes, secret: str = SECRET) -> str:
    """TikTok Shop's way: lowercase hex HMAC-SHA256 under the app secret of app key + body."""
    return hmac_sha256_hex(secret, APP_KEY.encode(), body)


def request(body: bytes, **headers: str) -> RawRequest:
    return RawRequest(body=body, headers=CIMultiDict(headers), content_type="application/json",
                      url=URL, received_at=RECEIVED)


def signed(body: bytes, secret: str = SECRET) -> RawRequest:
    return request(body, Authorization=signature(body, secret))


def fixture(name: str) -> dict[str, Any]:
    return load_fixture(FIXTURES, name)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture(path: Path, webhook_fixture_check: Callable[..., None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    webhook_fixture_check(CONNECTOR, signed(encode(data["body"])), data["expect"], RECEIVED)


def test_fixture_set_is_complete() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert {"new_message__text", "new_message__image", "new_message__shop_reply",
            "new_conversation__buyer", "order_status_change__awaiting_shipment"} <= names
    assert any(n.startswith("unknown__") for n in names)


# -- signatures -----------------------------------------------------------------------------------


def _body() -> bytes:
    return encode(fixture("new_message__text")["body"])


@pytest.mark.parametrize("case", ["wrong_secret", "missing_header", "one_byte_changed",
                                  "reserialized_json", "developers_scheme", "bearer_prefix",
                                  "empty_value"])
def test_bad_signature_is_refused(case: str) -> None:
    body = _body()
    good = signature(body)
    if case == "wrong_secret":
        req = signed(body, secret="not-the-secret")
    elif case == "missing_header":
        req = request(body)
    elif case == "one_byte_changed":
        changed = body.replace(b"Gia", b"Gio")
        assert len(changed) == len(body) and changed != body
        req = request(changed, Authorization=good)
    elif case == "reserialized_json":
        again = json.dumps(json.loads(body), ensure_ascii=True, indent=1).encode()
        assert json.loads(again) == json.loads(body) and again != body
        req = request(again, Authorization=good)
    elif case == "developers_scheme":
        # TikTok for Developers signs differently; a Shop webhook never looks like this
        other = hmac_sha256_hex(SECRET, b"1795745700.", body)
        req = request(body, Authorization=f"t=1795745700,s={other}")
    elif case == "bearer_prefix":
        req = request(body, Authorization="Bearer " + good)
    else:
        req = request(body, Authorization="")
    with pytest.raises(SignatureError) as caught:
        CONNECTOR.verify(req)
    assert caught.value.status == 401


# -- bad input ------------------------------------------------------------------------------------


def _with(path: str, value: Any) -> bytes:
    body = fixture("new_message__text")["body"]
    edit(body, path, value)
    return encode(body)


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param(b'{"type": 14, "data": {', "malformed JSON",
                 id="malformed_json"),
    pytest.param(b'[{"type": 14}]', "object", id="json_array"),
    pytest.param(b'{"type": "14x"}', "type", id="kind_not_a_number"),
    pytest.param(b'\xff\xfe{}', "UTF-8", id="invalid_utf8"),
    pytest.param(_with("tts_notification_id", ...), "tts_notification_id",
                 id="no_notification_id"),
    pytest.param(_with("data.content", "{content: hi}"), "content", id="content_not_json"),
    pytest.param(_with("data.sender", ...), "sender", id="no_sender"),
    pytest.param(_with("data.create_time", "now"), "create_time", id="time_not_a_number"),
    pytest.param(_with("shop_id", ...), "shop_id", id="no_shop"),
])
def test_bad_input_is_a_payload_error(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        CONNECTOR.parse(signed(body))
    assert caught.value.status == 400
    assert reason.lower() in (caught.value.reason + json.dumps(caught.value.details)).lower()


# -- ids ------------------------------------------------------------------------------------------


def test_redelivery_has_the_same_id_and_another_message_another() -> None:
    body = fixture("new_message__text")["body"]
    first = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    again = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    assert first.id == again.id and first.external_id == "7441985230975387400"
    body["tts_notification_id"] = "7441985230975387499"
    assert CONNECTOR.parse(signed(encode(body))).envelopes[0].id != first.id


def test_secret_is_not_in_the_repr() -> None:
    assert SECRET not in repr(CONNECTOR)
