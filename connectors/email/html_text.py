"""HTML mail → readable plain text, with the standard library's ``html.parser``.

The HTML is only read here, never rendered; the envelope carries it sanitized by nh3
(``connectors.email.envelope``).

Block elements become line breaks, list items get a dash, ``<blockquote>`` lines get the
``> `` prefix (so the reply splitter treats them as quoted), scripts, styles and the head are
dropped, and whitespace collapses as a browser would collapse it (except in ``<pre>``).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
          "fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
          "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead",
          "tfoot", "tr", "ul"}
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre", "hr"}
_SKIP = {"head", "script", "style", "title", "template", "noscript", "xml"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "area", "base", "col"}
_SPACE = re.compile(r"[ \t\r\n\f\u200b]+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0
        self.pre = 0

    def _break(self, *, blank: bool = False) -> None:
        line = "".join(self.current).strip(" ")
        self.current = []
        prefix = "> " * self.quote
        if line:
            self.lines.append(prefix + line)
        if blank and self.lines and self.lines[-1].strip("> "):
            self.lines.append(prefix.rstrip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if tag == "br":
            self._break(blank=not self.current)
        elif tag in _BLOCK:
            self._break(blank=tag in _PARAGRAPH)
            if tag == "blockquote":
                self.quote += 1
            elif tag == "li":
                self.current.append("- ")
            elif tag == "pre":
                self.pre += 1
        elif tag in ("td", "th") and self.current:
            self.current.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag in _BLOCK:
            self._break(blank=tag in _PARAGRAPH)
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)
            elif tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            parts = data.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self._break()
                self.current.append(part)
            return
        collapsed = _SPACE.sub(" ", data.replace("\xa0", " "))
        if collapsed.strip() or (self.current and not self.current[-1].endswith(" ")):
            if not self.current:
                collapsed = collapsed.lstrip(" ")
            self.current.append(collapsed)


def html_to_text(html: str) -> str:
    """The readable text of ``html``; never raises (broken markup is read as far as it goes)."""
    parser = _Text()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # very broken markup: keep what was read
        pass
    parser._break()
    lines = [line.replace("\xa0", " ").rstrip() for line in parser.lines]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")
