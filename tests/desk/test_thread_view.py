"""Mail HTML and text as the ticket page shows them: sanitized, the quoted part apart."""

from __future__ import annotations

from desk.thread_view import split_html, split_text


def test_mail_html_loses_scripts_and_handlers_and_its_quote_is_apart() -> None:
    html = ('<div><p style="x" onclick="a()">Chào <a href="javascript:alert(1)">anh</a></p>'
            '<img src=x onerror="b()"><script>c()</script><iframe src="//evil"></iframe>'
            '<blockquote><p>Vào ngày 5/5 <b>anh</b> đã viết</p></blockquote></div>')
    main, quoted = split_html(html)
    for bad in ("onclick", "onerror", "<script", "c()", "javascript:", "<iframe", "style="):
        assert bad not in main and bad not in (quoted or ""), bad
    assert "Chào" in main and "đã viết" not in main
    assert quoted is not None and "<b>anh</b>" in quoted and quoted.count("<blockquote>") == 1
    assert main.count("<div>") == main.count("</div>")  # the split left no tag open


def test_html_that_is_all_quote_is_shown_whole() -> None:
    main, quoted = split_html("<blockquote>chỉ có trích dẫn</blockquote>")
    assert quoted is None and "chỉ có trích dẫn" in main


def test_text_is_split_at_the_first_quoted_line() -> None:
    text = "Dạ em cảm ơn ạ.\n\nVào Th 4, 6 thg 5, 2026 lúc 10:00 CSKH đã viết:\n> Chào anh"
    assert split_text(text) == ("Dạ em cảm ơn ạ.",
                                "Vào Th 4, 6 thg 5, 2026 lúc 10:00 CSKH đã viết:\n> Chào anh")
    assert split_text("> chỉ trích dẫn") == ("> chỉ trích dẫn", "")
    assert split_text("không có trích dẫn <b>") == ("không có trích dẫn <b>", "")
