"""Entity extraction: each kind with and without diacritics, and the claiming order."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from normalizer.entities import Entities, extract_entities
from normalizer.text import MAX_SCANNED_CHARS, scanned

TODAY = date(2024, 6, 15)


def found(text: str) -> dict[str, Any]:
    """The non-empty fields of the entities in `text`, as JSON data."""
    data = extract_entities(text, today=TODAY).model_dump(mode="json")
    return {k: v for k, v in data.items() if v}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # phones
        ("Gọi lại giúp em sđt 0912 345 678", {"phones": ["+84912345678"]}),
        ("goi lai giup em sdt 0912.345.678", {"phones": ["+84912345678"]}),
        ("+84 912 345 678 hoặc (028) 3823 4567",
         {"phones": ["+84912345678", "+842838234567"]}),
        ("0912345678 hoac 0987654321", {"phones": ["+84912345678", "+84987654321"]}),
        # e-mails
        ("email: KeToan@ABC.com.vn.", {"emails": ["ketoan@abc.com.vn"]}),
        ("xem https://abc.vn/don/0912345678 nhé", {}),
        # tax codes
        ("Mã số thuế: 0312345678", {"tax_codes": ["0312345678"]}),
        ("ma so thue cong ty la 0312345678", {"tax_codes": ["0312345678"]}),
        ("MST 0312345678-001", {"tax_codes": ["0312345678-001"]}),
        # orders
        ("đơn hàng ĐH-2024-00123 chưa giao", {"orders": [{"value": "DH-2024-00123",
                                                           "source": "internal"}]}),
        ("don hang DH-2024-00123 chua giao", {"orders": [{"value": "DH-2024-00123",
                                                          "source": "internal"}]}),
        ("PO-2024-0456 và SO-1234", {"orders": [{"value": "PO-2024-0456", "source": "internal"},
                                                {"value": "SO-1234", "source": "internal"}]}),
        ("Shopee đơn 240612ABCD1234 lỗi", {"orders": [{"value": "240612ABCD1234",
                                                        "source": "shopee"}]}),
        ("lazada 123456789012345", {"orders": [{"value": "123456789012345",
                                                "source": "lazada"}]}),
        ("tiktok 576543210987654321", {"orders": [{"value": "576543210987654321",
                                                   "source": "tiktok"}]}),
        # e-invoices; "hóa đơn số" is an invoice number, not an order number
        ("Hóa đơn số 0000123 bị sai MST", {"invoice_numbers": ["0000123"]}),
        ("hoa don so 0000123 bi sai", {"invoice_numbers": ["0000123"]}),
        ("HĐ 1C24TAA số 0000089", {"invoice_symbols": ["1C24TAA"],
                                  "invoice_numbers": ["0000089"]}),
        ("ky hieu 1c24taa so 89", {"invoice_symbols": ["1C24TAA"], "invoice_numbers": ["89"]}),
        # amounts
        ("thanh toán 1.250.000 VNĐ", {"amounts": [1250000]}),
        ("tong 2tr5 con thieu 500k", {"amounts": [2500000, 500000]}),
        ("còn nợ 3 tỷ 200 triệu", {"amounts": [3200000000]}),
        ("con no 3 ty 200 trieu", {"amounts": [3200000000]}),
        ("giá 120k/thùng", {"amounts": [120000]}),
        ("1,5 tỷ đồng", {"amounts": [1500000000]}),
        # dates
        ("giao ngày 20/6", {"dates": ["2024-06-20"]}),
        ("giao ngay 20 thang 6 nam 2024", {"dates": ["2024-06-20"]}),
        ("hạn thanh toán 15/08/2024", {"dates": ["2024-08-15"]}),
        ("hôm qua em chuyển rồi", {"dates": ["2024-06-14"]}),
        ("ngay mai giao", {"dates": ["2024-06-16"]}),
        ("Lot 2024-06-12", {"dates": ["2024-06-12"]}),
        ("ngày 20/12", {"dates": ["2023-12-20"]}),
        # things that are none of these
        ("mua 3/4 thùng", {}),
        ("hạn 30/02/2024", {}),
        ("lúc 10.30 sáng", {}),
        ("5% ck", {}),
    ],
)
def test_extract_entities(text: str, expected: dict[str, Any]) -> None:
    assert found(text) == expected


def test_everything_in_one_message() -> None:
    text = ("Kính gửi Quý công ty, đơn ĐH-2024-00123 giao ngày 12/06 thiếu 5 thùng; HĐ số 0000123 "
            "ghi 1.500.000đ. MST 0312345678. Liên hệ 0912 345 678 hoặc ketoan@abc.vn")
    assert found(text) == {
        "phones": ["+84912345678"],
        "emails": ["ketoan@abc.vn"],
        "tax_codes": ["0312345678"],
        "orders": [{"value": "DH-2024-00123", "source": "internal"}],
        "invoice_numbers": ["0000123"],
        "amounts": [1500000],
        "dates": ["2024-06-12"],
    }


def test_same_entities_with_and_without_diacritics_and_in_nfd() -> None:
    text = "Đơn ĐH 5567 giao 12/06, hóa đơn số 0000123, chuyển 15 triệu, sđt 0987.654.321"
    plain = "Don DH 5567 giao 12/06, hoa don so 0000123, chuyen 15 trieu, sdt 0987.654.321"
    expected = found(text)
    assert expected["orders"] == [{"value": "DH5567", "source": "internal"}]
    assert found(plain) == expected
    assert found(unicodedata.normalize("NFD", text)) == expected


def test_values_are_deduplicated_in_order_of_appearance() -> None:
    text = "0987654321, 0912345678, lại 0987 654 321"
    assert found(text) == {"phones": ["+84987654321", "+84912345678"]}


@pytest.mark.parametrize(
    "text",
    ["", " ", "\x00\x00", "💥" * 50, "0" * 200, "1/1/1/1/1", "đ" * 30, "ck ck ck 1tr tr k",
     "+84", "ngày 99 tháng 99", "1.2.3.4.5.6đ", "\u0301\u0303"],
)
def test_never_raises_and_is_json_serializable(text: str) -> None:
    json.dumps(extract_entities(text).model_dump(mode="json"))


@pytest.mark.parametrize(("text", "emails"), [
    ("-an.nguyen@minhphat.vn.", ["an.nguyen@minhphat.vn"]),
    ("(ketoan+hd@abc-group.com.vn)", ["ketoan+hd@abc-group.com.vn"]),
    ("a@b@c.vn", ["b@c.vn"]),
    ("x" * 15_000 + " mail hoa@abc.vn", ["hoa@abc.vn"]),
    ("hoa@" + "a" * 50_000, []),
    ("a.b" * 20_000 + "@c.vn", []),  # the run is past the scanned part
])
def test_emails_at_the_edges_of_runs(text: str, emails: list[str]) -> None:
    assert list(extract_entities(text, today=TODAY).emails) == emails


@pytest.mark.parametrize("make", [
    lambda n: ("aăâbcdđeêghiklmnoôơpqrstuưvxy" * n)[:n],
    lambda n: ("0123456789" * n)[:n],
    lambda n: ("a.b-c_" * n)[:n],
])
def test_a_single_word_of_240_kb_is_read_without_finding_anything(
        make: Callable[[int], str]) -> None:
    assert extract_entities(make(240_000), today=TODAY) == Entities()


def test_only_the_scanned_part_is_read() -> None:
    head = "Gọi 0912 345 678. " + "x" * (MAX_SCANNED_CHARS - 40)
    text = head + " hoặc mail ketoan@minhphat.vn"
    assert len(scanned(text)) <= MAX_SCANNED_CHARS < len(text)
    got = extract_entities(text, today=TODAY)
    assert got.phones == ("+84912345678",) and got.emails == ()
