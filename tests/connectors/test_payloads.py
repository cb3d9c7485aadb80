"""JSON at the edge: what every JSON webhook's body goes through first."""

from __future__ import annotations

import pytest

from connectors.base import PayloadError
from connectors.payloads import json_object


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
