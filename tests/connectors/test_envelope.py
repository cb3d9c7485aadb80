"""``InboundEnvelope.create``: the same envelope as the constructor, still validated."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.envelope import (
    ENVELOPE_NAMESPACE,
    Attachment,
    InboundEnvelope,
    Sender,
    envelope_id,
)

RECEIVED = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)
SENDER = Sender(name="Nguyễn Văn An", company="Công ty Thép Việt", email="an@thepviet.vn")
REQUIRED: dict[str, Any] = {"channel": "zalo", "external_id": "msg-1",
                            "thread_key": "zalo:user-9", "received_at": RECEIVED,
                            "sender": SENDER}
EVERY_FIELD: dict[str, Any] = {
    **REQUIRED, "sent_at": RECEIVED - timedelta(seconds=5), "subject": "Bảo hành",
    "text": "Máy bị lỗi", "html": "<p>Máy bị lỗi</p>",
    "attachments": (Attachment(name="ảnh.jpg", content_type="image/jpeg", size=10,
                               sha256="0" * 64),),
    "in_reply_to": "<a@b>", "raw": {"event": "user_send_text"}, "category_hint": "warranty",
    "priority_floor": "high", "kind": "message", "contact_status": None, "queue_hint": "technical",
}


def constructed(**fields: Any) -> InboundEnvelope:
    """The envelope built the long way: every field passed to the constructor."""
    defaults: dict[str, Any] = {
        "sent_at": None, "subject": None, "text": "", "html": None, "attachments": (),
        "in_reply_to": None, "raw": {}, "category_hint": None, "priority_floor": None,
        "kind": "message", "contact_status": None, "queue_hint": None}
    values = {**defaults, **fields}
    values["sent_at"] = values["sent_at"] or values["received_at"]
    return InboundEnvelope(id=envelope_id(values["channel"], values["external_id"]), **values)


@pytest.mark.parametrize("fields", [REQUIRED, EVERY_FIELD,
                                    {**REQUIRED, "kind": "contact", "contact_status": "unfollow"}],
                         ids=["required only", "every field", "contact change"])
def test_create_gives_what_the_constructor_gives(fields: dict[str, Any]) -> None:
    envelope = InboundEnvelope.create(**fields)
    assert envelope == constructed(**fields)
    assert envelope.to_json_bytes() == constructed(**fields).to_json_bytes()
    assert envelope.id == uuid.uuid5(ENVELOPE_NAMESPACE, f"zalo\x1f{fields['external_id']}")


def test_create_stores_text_as_nfc_and_leaves_the_callers_raw_alone() -> None:
    decomposed = unicodedata.normalize("NFD", "Hàng giao thiếu")
    raw = {"text": decomposed}
    envelope = InboundEnvelope.create(**REQUIRED, subject=decomposed, text=decomposed, raw=raw)
    assert envelope.text == envelope.subject == "Hàng giao thiếu"
    assert unicodedata.is_normalized("NFC", envelope.text)
    raw["text"] = "changed"
    assert envelope.raw == {"text": decomposed}


@pytest.mark.parametrize(("field", "value"), [
    ("priority_floor", "whenever"), ("kind", "note"), ("queue_hint", "q" * 65),
    ("channel", ""), ("received_at", datetime(2026, 11, 28, 1, 30)),
])
def test_create_still_validates_what_it_is_given(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        InboundEnvelope.create(**{**REQUIRED, field: value})
    assert caught.value.errors()[0]["loc"][0] == field
