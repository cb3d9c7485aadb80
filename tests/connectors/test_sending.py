"""Cutting a long reply into chat messages (``connectors.sending.split_text``)."""

from __future__ import annotations

import unicodedata

import pytest

from connectors.sending import SendRefused, split_text, utf16_len


def test_short_text_is_one_piece_in_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "  Dạ em gửi báo giá ạ.\n")
    assert split_text(decomposed, 2000) == ["Dạ em gửi báo giá ạ."]


def test_long_text_is_cut_at_paragraphs_then_sentences_then_words_in_order() -> None:
    first = "Dạ em chào anh. " * 50  # 800 characters
    second = "Hóa đơn số 0001532 đã được điều chỉnh. " * 40
    text = f"{first.strip()}\n\n{second.strip()}"
    pieces = split_text(text, 1000)
    assert pieces[0] == first.strip()  # the paragraph break is the cut
    assert all(utf16_len(p) <= 1000 for p in pieces)
    assert all(p.endswith(".") for p in pieces)  # later cuts fall after a sentence
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_a_word_longer_than_the_limit_is_cut_inside_and_emoji_count_two() -> None:
    pieces = split_text("x" * 25, 10)
    assert pieces == ["x" * 10, "x" * 10, "x" * 5]
    emoji = split_text("👍" * 7, 10)
    assert emoji == ["👍" * 5, "👍" * 2]


def test_an_empty_reply_is_refused() -> None:
    with pytest.raises(SendRefused):
        split_text(" \n\t", 2000)
