"""A ticket's messages as the page shows them: text stays text, mail HTML is sanitized.

Mail HTML goes through nh3 (ammonia's allow-list: no script, no event handler, no style, no
form) and its quoted part (the first ``blockquote``, Gmail's ``gmail_quote``, Outlook's
``divRplyFwdMsg``) is split off to be shown folded; both halves are sanitized separately, so
the split never leaves a tag open. Plain text is split at the first quoted line (``>``) or
"… wrote:" line (``Vào … đã viết:``). Never marks anything up from the customer's text.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import nh3
from markupsafe import Markup

from storage.models import Message

_HTML_QUOTE = re.compile(r"<blockquote|<div[^>]+(?:gmail_quote|divRplyFwdMsg|moz-cite-prefix)",
                         re.IGNORECASE)
_TEXT_QUOTE = re.compile(r"^(?:>|On .{3,200} wrote:\s*$|Vào .{3,200} đã viết:\s*$|-----"
                         r"\s*Original Message)", re.MULTILINE)
MAX_HTML = 500_000


@dataclass(frozen=True)
class ThreadItem:
    """One message of the thread: its body and, apart, the quoted part to fold."""

    message: Message
    html: Markup | None
    quoted_html: Markup | None
    text: str
    quoted_text: str
    files: list[dict[str, object]]


def _clean(html: str) -> Markup:
    return Markup(nh3.clean(html, link_rel="noopener noreferrer nofollow"))  # noqa: S704


def split_html(html: str) -> tuple[Markup, Markup | None]:
    """Sanitized mail HTML and its sanitized quoted part (``None``: none found)."""
    html = html[:MAX_HTML]
    found = _HTML_QUOTE.search(html)
    if found is None or not nh3.clean(html[:found.start()], tags=set()).strip():
        return _clean(html), None
    return _clean(html[:found.start()]), _clean(html[found.start():])


def split_text(text: str) -> tuple[str, str]:
    """The text and its quoted tail (empty when none, or when all of it is quoted)."""
    found = _TEXT_QUOTE.search(text)
    if found is None or not text[:found.start()].strip():
        return text, ""
    return text[:found.start()].rstrip(), text[found.start():]


def _downloadable(meta: dict[str, object], root: Path | None) -> bool:
    stored = meta.get("stored_at")
    if root is None or not isinstance(stored, str) or "://" in stored:
        return False
    return Path(os.path.normpath(os.path.abspath(stored))).is_relative_to(
        os.path.normpath(os.path.abspath(root)))


def thread_items(messages: list[Message], root: Path | None = None) -> list[ThreadItem]:
    """``messages`` ready for ``ticket_body.html``; a file is ``downloadable`` when it is
    stored under ``root`` (what the download route serves)."""
    items = []
    for m in messages:
        html = quoted_html = None
        if m.direction == "inbound" and m.html:
            html, quoted_html = split_html(m.html)
        text, quoted = split_text(m.text or "") if m.direction == "inbound" else (m.text, "")
        files = [{**f, "downloadable": _downloadable(f, root)}
                 for f in (m.attachments or {}).get("files", []) if isinstance(f, dict)]
        items.append(ThreadItem(m, html, quoted_html, text, quoted, files))
    return items
