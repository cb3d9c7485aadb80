"""What a mail says about its thread: our Message-IDs, the ticket tag, the normalized subject."""

from __future__ import annotations

import pytest

from normalizer.threads import (
    is_generic,
    our_message_id,
    reply_subject,
    strip_prefixes,
    subject_key,
    tagged_ticket,
    ticket_of_message_id,
)

OURS = frozenset({"congty.vn"})


def test_our_message_id_names_its_ticket_and_is_new_each_time() -> None:
    first, second = our_message_id(123, "CongTy.vn"), our_message_id(123, "congty.vn")
    assert first != second
    assert first.startswith("cskh.123.") and first.endswith("@congty.vn")
    assert ticket_of_message_id(first, OURS) == ticket_of_message_id(f"<{second}>", OURS) == 123


@pytest.mark.parametrize("ident", [
    None, "", "cskh.123.abcdef12@other.vn",  # not our domain
    "cskh.123.abc@congty.vn",  # token too short
    "cskh.x.abcdef12@congty.vn", "CAF=abc@mail.gmail.com", "cskh-6f1c2a7e@congty.vn",
])
def test_ids_not_of_our_scheme_name_no_ticket(ident: str | None) -> None:
    assert ticket_of_message_id(ident, OURS) is None


def test_ticket_tag() -> None:
    assert tagged_ticket("Re: [#CSKH-000123] Hóa đơn") == 123
    assert tagged_ticket("[#cskh-42]") == 42
    assert tagged_ticket("CSKH-000123 without brackets") is None
    assert tagged_ticket(None) is None


@pytest.mark.parametrize("subject", [
    "Hóa đơn tháng 10 sai MST",
    "Re: Hóa đơn tháng 10 sai MST",
    "RE: RE: Fwd: Hóa đơn tháng 10 sai MST",
    "TL: Chuyển tiếp: Hóa đơn tháng 10 sai MST",
    "Trả lời: Hóa đơn tháng 10 sai MST",
    "tra loi: hoa don thang 10 sai mst",
    "AW: WG: Re[2]: HÓA ĐƠN THÁNG 10 SAI MST",
    "FW: [#CSKH-000123] Re:  Hóa   đơn tháng 10 sai MST ",
    "[EXTERNAL] Re: Hóa đơn tháng 10 sai MST!",
    "Re: Hoá đơn tháng 10 sai MST",  # the other placement of the tone mark
])
def test_subject_key_ignores_prefixes_tags_case_spacing_and_diacritics(subject: str) -> None:
    assert subject_key(subject) == "hoa don thang 10 sai mst"


def test_subject_key_keeps_what_differs() -> None:
    assert subject_key("Hóa đơn tháng 10") != subject_key("Hóa đơn tháng 11")
    assert subject_key("Re: Relay module lỗi") == "relay module loi"  # "Re" only as a prefix


@pytest.mark.parametrize("subject", [
    None, "", "   ", "Re:", "RE: Fwd:", "(no subject)", "hỏi", "Re: Hỏi", "Xin chào",
    "Báo giá", "Hóa đơn", "Re: Công nợ", "test", "gấp", "Đơn 12",
])
def test_generic_subjects_are_no_evidence(subject: str | None) -> None:
    assert is_generic(subject_key(subject))


@pytest.mark.parametrize("subject", [
    "Hóa đơn tháng 10 sai MST", "Đối chiếu công nợ quý 3", "Báo giá thép cuộn",
])
def test_specific_subjects_are_evidence(subject: str) -> None:
    assert not is_generic(subject_key(subject))


@pytest.mark.parametrize(("subject", "expected"), [
    ("Hóa đơn tháng 10", "Re: [#CSKH-000123] Hóa đơn tháng 10"),
    ("Re: RE: Hóa đơn tháng 10", "Re: [#CSKH-000123] Hóa đơn tháng 10"),
    ("Re: [#CSKH-000123] Hóa đơn tháng 10", "Re: [#CSKH-000123] Hóa đơn tháng 10"),
    ("TL: Hóa đơn", "Re: [#CSKH-000123] Hóa đơn"),
    (None, "Re: [#CSKH-000123]"),
])
def test_reply_subject_has_one_re_and_one_tag(subject: str | None, expected: str) -> None:
    assert reply_subject(subject, "CSKH-000123") == expected


def test_strip_prefixes_keeps_the_words_as_written() -> None:
    assert strip_prefixes("Fwd: RE: [#CSKH-000007] Đối chiếu Công nợ") == "Đối chiếu Công nợ"
