"""The Lazada push connector: one short test per fixture, then signatures, bad input and ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import PayloadError, RawRequest, SignatureError
from connectors.lazada import LazadaConnector
from connectors.signing import hmac_sha256_hex
from tests.support.webhooks import edit, encode, load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lazada"
URL = "https://cskh.example.vn/webhooks/lazada"
RECEIVED = datetime(2026, 11, 27, 2, 15, 30, tzinfo=UTC)
SECRET = "lazada-app-secret-for-tests"
APP_KEY = "112233"
CONNECTOR = LazadaConnector(app_key=APP_KEY, app_secret=SECRET)


def signature(body: bytes, secret: str = SECRET) -> str:
    """Lazada's way: hex HMAC-SHA256 under the app secret of app key + body."""
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
    assert {"im_message__text", "im_message__image", "im_message__seller_reply",
            "im_message__auto_reply", "trade_order__packed"} <= names
    assert any(n.startswith("unknown__") for n in names)


# -- signatures -----------------------------------------------------------------------------------


def _body() -> bytes:
    return encode(fixture("im_message__text")["body"])


@pytest.mark.parametrize("case", ["wrong_secret", "missing_header", "one_byte_changed",
                                  "reserialized_json", "app_key_not_in_signature", "bearer_prefix",
                                  "empty_value"])
def test_bad_signature_is_refused(case: str) -> None:
    body = _body()
    good = signature(body)
    if case == "wrong_secret":
        req = signed(body, secret="not-the-secret")
    elif case == "missing_header":
        req = request(body)
    elif case == "one_byte_changed":
        changed = body.replace(b"RO 9", b"RO 8")
        assert len(changed) == len(body) and changed != body
        req = request(changed, Authorization=good)
    elif case == "reserialized_json":
        again = json.dumps(json.loads(body), ensure_ascii=True, indent=1).encode()
        assert json.loads(again) == json.loads(body) and again != body
        req = request(again, Authorization=good)
    elif case == "app_key_not_in_signature":
        req = request(body, Authorization=hmac_sha256_hex(SECRET, body))
    elif case == "bearer_prefix":
        req = request(body, Authorization="Bearer " + good)
    else:
        req = request(body, Authorization="")
    with pytest.raises(SignatureError) as caught:
        CONNECTOR.verify(req)
    assert caught.value.status == 401


# -- bad input ------------------------------------------------------------------------------------


def _with(path: str, value: Any) -> bytes:
    body = fixture("im_message__text")["body"]
    edit(body, path, value)
    return encode(body)


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param(b'{"message_type": 2, "data": {', "malformed JSON",
                 id="malformed_json"),
    pytest.param(b'[{"message_type": 2}]', "object", id="json_array"),
    pytest.param(b'{"message_type": "2x"}', "message_type", id="kind_not_a_number"),
    pytest.param(b'\xff\xfe{}', "UTF-8", id="invalid_utf8"),
    pytest.param(_with("data.message_id", ...), "message_id", id="no_message_id"),
    pytest.param(_with("data.content", '{"txt": '), "content", id="content_not_json"),
    pytest.param(_with("data.content", {"txt": "hi"}), "content", id="content_not_a_string"),
    pytest.param(_with("data.from_account_type", "buyer"), "from_account_type",
                 id="account_type_not_a_number"),
    pytest.param(_with("seller_id", ...), "seller_id", id="no_seller"),
])
def test_bad_input_is_a_payload_error(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        CONNECTOR.parse(signed(body))
    assert caught.value.status == 400
    assert reason.lower() in (caught.value.reason + json.dumps(caught.value.details)).lower()


# -- ids ------------------------------------------------------------------------------------------


def test_redelivery_has_the_same_id_and_another_message_another() -> None:
    body = fixture("im_message__text")["body"]
    first = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    again = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    assert first.id == again.id and first.external_id == "3zYOS7N0cuIqw96026"
    body["data"]["message_id"] = "3zYOS7N0cuIqw96099"
    assert CONNECTOR.parse(signed(encode(body))).envelopes[0].id != first.id


def test_recalled_messages_are_not_tickets() -> None:
    body = fixture("im_message__text")["body"]
    body["data"]["status"] = 1
    result = CONNECTOR.parse(signed(encode(body)))
    assert result.ignored and not result.envelopes


def test_secret_is_not_in_the_repr() -> None:
    assert SECRET not in repr(CONNECTOR)
