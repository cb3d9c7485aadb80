"""Outgoing mail headers read back exactly: long Vietnamese subjects keep every space."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from connectors.email.send import compose_reply

SUBJECTS = [
    "Hóa đơn",
    "plain ascii subject",
    "Re: [#CSKH-000123] Báo cáo CSKH tháng 2026-11: mức độ hài lòng và SLA của khách hàng",
    "Re: [#CSKH-000001] " + ", ".join(["Đơn hàng số 12345 giao thiếu 3 thùng sơn"] * 3),
    "Re: 注文番号 12345 の請求書について お問い合わせ 株式会社 ミンファット ベトナム 支店",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subject_round_trips(subject: str) -> None:
    message = compose_reply(sender="CSKH <cskh@congty.vn>", to="an@thepviet.vn",
                            subject=subject, text="Dạ em chào anh.",
                            message_id="<cskh.1.ab@congty.vn>", in_reply_to=None,
                            references=None, date=datetime(2026, 12, 2, tzinfo=UTC),
                            ticket_number="CSKH-000001")
    for wire in (message.as_bytes(policy=policy.SMTP), message.as_bytes()):
        assert max(len(line) for line in wire.splitlines()) <= 78
        parsed = email.message_from_bytes(wire, policy=policy.default)
        assert parsed["Subject"] == subject
