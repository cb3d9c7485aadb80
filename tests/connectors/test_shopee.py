"""The Shopee push connector: one short test per fixture, then signatures, bad input and ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import PayloadError, RawRequest, SignatureError
from connectors.shopee import ShopeeConnector
from connectors.signing import hmac_sha256_hex
from tests.support.webhooks import edit, encode, load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopee"
URL = "https://cskh.example.vn/webhooks/shopee"
RECEIVED = datetime(2026, 11, 27, 2, 15, 30, tzinfo=UTC)
SECRET = "shopee-partner-key-for-tests"
CALLBACK = "https://cskh.example.vn/webhooks/shopee"
CONNECTOR = ShopeeConnector(partner_key=SECRET, callback_url=CALLBACK)


def signature(body: bytes, secret: str = SECRET) -> str:
    """Shopee's way: hex HMAC-SHA256 under the partner key of callback URL, "|", body."""
    return hmac_sha256_hex(secret, CALLBACK.encode(), b"|", body)


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
    assert {"webchat__text", "webchat__image", "webchat__item_card", "webchat__shop_reply",
            "order_status__ready_to_ship"} <= names
    assert any(n.startswith("unknown__") for n in names)


# -- signatures -----------------------------------------------------------------------------------


def _body() -> bytes:
    return encode(fixture("webchat__text")["body"])


@pytest.mark.parametrize("case", ["wrong_secret", "missing_header", "one_byte_changed",
                                  "reserialized_json", "url_not_in_signature", "bearer_prefix",
                                  "empty_value"])
def test_bad_signature_is_refused(case: str) -> None:
    body = _body()
    good = signature(body)
    if case == "wrong_secret":
        req = signed(body, secret="not-the-secret")
    elif case == "missing_header":
        req = request(body)
    elif case == "one_byte_changed":
        changed = body.replace(b"1.5HP", b"2.5HP")
        assert len(changed) == len(body) and changed != body
        req = request(changed, Authorization=good)
    elif case == "reserialized_json":
        again = json.dumps(json.loads(body), ensure_ascii=True, indent=1).encode()
        assert json.loads(again) == json.loads(body) and again != body
        req = request(again, Authorization=good)
    elif case == "url_not_in_signature":
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
    body = fixture("webchat__text")["body"]
    edit(body, path, value)
    return encode(body)


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param(b'{"code": 10, "data": {', "malformed JSON",
                 id="malformed_json"),
    pytest.param(b'[{"code": 10}]', "object", id="json_array"),
    pytest.param(b'{"code": "10x"}', "code", id="kind_not_a_number"),
    pytest.param(b'\xff\xfe{}', "UTF-8", id="invalid_utf8"),
    pytest.param(_with("shop_id", ...), "shop_id", id="webchat_without_shop"),
    pytest.param(_with("data.content.message_id", ...), "message_id", id="no_message_id"),
    pytest.param(_with("data.content.content", "text"), "content", id="content_not_an_object"),
    pytest.param(_with("data.content.created_timestamp", "hôm nay"), "created_timestamp",
                 id="time_not_a_number"),
    pytest.param(_with("data", []), "data", id="data_not_an_object"),
])
def test_bad_input_is_a_payload_error(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        CONNECTOR.parse(signed(body))
    assert caught.value.status == 400
    assert reason.lower() in (caught.value.reason + json.dumps(caught.value.details)).lower()


# -- ids ------------------------------------------------------------------------------------------


def test_redelivery_has_the_same_id_and_another_message_another() -> None:
    body = fixture("webchat__text")["body"]
    first = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    again = CONNECTOR.parse(signed(encode(body))).envelopes[0]
    assert first.id == again.id and first.external_id == "2180493582011842560"
    body["data"]["content"]["message_id"] = "2180493582011842569"
    assert CONNECTOR.parse(signed(encode(body))).envelopes[0].id != first.id


def test_callback_url_is_part_of_the_signature() -> None:
    body = _body()
    other = ShopeeConnector(partner_key=SECRET, callback_url=CALLBACK + "/")
    with pytest.raises(SignatureError):
        other.verify(signed(body))


def test_secret_is_not_in_the_repr() -> None:
    assert SECRET not in repr(CONNECTOR)
