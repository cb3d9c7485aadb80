"""Text forms: NFC, diacritics, abbreviations, the classifier's view, matching helpers."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

import pytest

from normalizer.text import (
    MAX_SCANNED_CHARS,
    ClaimableText,
    classifier_text,
    expand_abbreviations,
    fold_same_length,
    has_vietnamese_diacritics,
    parse_number,
    scanned,
    strip_diacritics,
    to_nfc,
)


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


@pytest.mark.parametrize("text", ["Hóa đơn", "Chiết khấu thương mại", "Kính gửi Quý công ty"])
def test_to_nfc_composes_decomposed_input(text: str) -> None:
    assert nfd(text) != text
    assert to_nfc(nfd(text)) == text
    assert to_nfc(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hóa đơn", "hoa don"),
        ("ĐƠN HÀNG bị trễ", "don hang bi tre"),
        ("Chiết khấu 5% 👍", "chiet khau 5% 👍"),
        ("Bảo hành, bảo trì", "bao hanh, bao tri"),
        ("giao hang cham", "giao hang cham"),
        (nfd("Công nợ quá hạn"), "cong no qua han"),
    ],
)
def test_strip_diacritics(text: str, expected: str) -> None:
    assert strip_diacritics(text) == expected


@pytest.mark.parametrize("text", ["Hóa Đơn số 12", "đã CK 5tr", "xin chào 😊"])
def test_fold_same_length_keeps_offsets(text: str) -> None:
    folded = fold_same_length(text)
    assert len(folded) == len(text)
    assert folded.lower() == strip_diacritics(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hóa đơn", True),
        ("đ", True),
        ("hoa don", False),
        ("Dear team, invoice 123", False),
        (nfd("giao hàng"), True),
        ("", False),
    ],
)
def test_has_vietnamese_diacritics(text: str, expected: bool) -> None:
    assert has_vietnamese_diacritics(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ko nhận đc hàng", "không nhận được hàng"),
        ("k dc", "không được"),
        ("xuất hđ cho sp này", "xuất hóa đơn cho sản phẩm này"),
        ("sđt và stk của cty", "số điện thoại và số tài khoản của công ty"),
        ("ck 5% cho đơn này", "chiết khấu 5% cho đơn này"),
        ("đã ck cho cty rồi", "đã chuyển khoản cho công ty rồi"),
        ("giá 1,5tr một bộ", "giá 1,5 triệu một bộ"),
        ("500k", "500 nghìn"),
        ("máy kg chạy", "máy không chạy"),
        ("nặng 10 kg", "nặng 10 kg"),
        ("hok biết j", "không biết gì"),
        ("Okie SP tốt", "ok sản phẩm tốt"),
        ("kho hàng", "kho hàng"),
    ],
)
def test_expand_abbreviations(text: str, expected: str) -> None:
    assert expand_abbreviations(text) == expected


@pytest.mark.parametrize(
    ("with_marks", "without_marks"),
    [
        ("Hóa đơn bị sai mã số thuế", "Hoa don bi sai ma so thue"),
        ("Giao hàng chậm quá 😡", "giao hang cham qua 😡"),
        ("Chưa nhận được hđ", "chua nhan duoc hd"),
        ("Đã ck rồi nhé", "da ck roi nhe"),
        (nfd("Xin gia hạn thanh toán"), "xin gia han thanh toan"),
    ],
)
def test_classifier_text_same_with_and_without_diacritics(
    with_marks: str, without_marks: str
) -> None:
    assert classifier_text(with_marks) == classifier_text(without_marks)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sp lỗi quá 😡😡 gấppp!!", "san pham loi qua :angry: :angry: gap!!"),
        ("tks shop ❤️", "cam on shop :heart:"),
        ("  Kính   gửi\nQuý Công ty ", "kinh gui quy cong ty"),
        ("🙏", ":pray:"),
        ("", ""),
    ],
)
def test_classifier_text(text: str, expected: str) -> None:
    assert classifier_text(text) == expected


def test_claimable_text_blocks_overlapping_matches() -> None:
    sc = ClaimableText("Mã ĐH 12345, SĐT 0912345678")
    digits = re.compile(r"\d+")
    first = next(sc.finditer(digits))
    assert sc.original[first.start():first.end()] == "12345"
    sc.claim(*first.span())
    assert [m.group() for m in sc.finditer(digits)] == ["0912345678"]
    assert len(sc.folded) == len(sc.original)
    assert sc.folded.startswith("ma dh")


@pytest.mark.parametrize(
    ("raw", "comma_thousands", "expected"),
    [
        ("1.500.000", False, Decimal(1500000)),
        ("1,5", False, Decimal("1.5")),
        ("1,500,000", True, Decimal(1500000)),
        ("1,500", False, Decimal("1.5")),
        ("2.5", True, Decimal("2.5")),
        ("1.2.3", True, None),
        ("12", True, Decimal(12)),
    ],
)
def test_parse_number(raw: str, comma_thousands: bool, expected: Decimal | None) -> None:
    assert parse_number(raw, comma_thousands=comma_thousands) == expected


def test_scanned_cuts_at_a_space_near_the_limit_or_hard_in_a_word() -> None:
    assert scanned("ab cd", 10) == "ab cd"
    assert scanned("ab cd efgh", 9) == "ab cd"
    assert scanned("x" * 30, 10) == "x" * 10
    words = "giao hàng " * 5_000
    assert scanned(words) == words[:MAX_SCANNED_CHARS].rstrip()


def test_ck_in_a_long_payment_message_reads_the_context_once_and_the_same() -> None:
    text = "đã chuyển stk vietcombank, " + "ck " * 50_000
    expanded = expand_abbreviations(text)
    assert expanded.count("chuyển khoản") == 50_000 and "chiết khấu" not in expanded
    assert expand_abbreviations("ck 5% cho đơn này") == "chiết khấu 5% cho đơn này"
