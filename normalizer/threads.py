"""What a mail says about the thread it belongs to: our own Message-IDs, the ticket tag, and
the normalized subject.

Our outgoing mail carries Message-IDs of the form ``cskh.{ticket id}.{random token}@{domain}``
(``our_message_id``), so a reply to it names its ticket even when the stored row is gone (a
restore); the subject carries ``[#CSKH-000123]``. Both are easy to forge — ticket ids are
sequential — so the normalizer only believes them for a sender who belongs to the ticket.
The router writes these ids and subjects; the normalizer reads them: one definition here.
"""

from __future__ import annotations

import re
import secrets
import unicodedata

DEFAULT_MAIL_DOMAIN = "cskh.invalid"

_OUR_ID = re.compile(r"^cskh\.(\d{1,18})\.([0-9a-z]{8,64})@([^@\s<>]+)$", re.IGNORECASE)
TICKET_TAG = re.compile(r"\[#CSKH-0*(\d{1,18})\]", re.IGNORECASE)
# "Re:", "RE :", "Re[2]:", "Fwd:", "FW:", "TL:", "Trả lời:", "Chuyển tiếp:", "AW:", "WG:",
# "SV:", "VS:", "Antw:" (Vietnamese, English and the Outlook translations customers forward).
_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|tl|tr\u1ea3\s+l\u1eddi|tra\s+loi|chuy\u1ec3n\s+ti\u1ebfp|chuyen\s+tiep|"
    r"aw|wg|sv|vs|antw|tr)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*", re.IGNORECASE)
_BRACKET_TAG = re.compile(r"\[[^\[\]]{0,80}\]")
_LEADING_TAG = re.compile(r"^\s*\[[^\[\]]{0,80}\]")
_NOT_WORD = re.compile(r"[^\w]+")
# Subjects people write when they have nothing to say in one: never evidence of a thread.
GENERIC_SUBJECTS = frozenset({
    "", "no subject", "khong co tieu de", "khong tieu de", "untitled", "hoi", "cau hoi",
    "hoi dap", "thac mac", "xin chao", "chao", "chao ban", "hello", "hi", "help", "ho tro",
    "can ho tro", "lien he", "thong tin", "gop y", "phan hoi", "yeu cau", "test", "thu",
    "bao gia", "hoa don", "don hang", "khieu nai", "cong no",
})
MIN_SUBJECT_CHARS = 10
MIN_SUBJECT_WORDS = 3


def our_message_id(ticket_id: int, domain: str = DEFAULT_MAIL_DOMAIN,
                   token: str | None = None) -> str:
    """A fresh Message-ID (without angle brackets) of a mail we send on ``ticket_id``."""
    return f"cskh.{ticket_id}.{token or secrets.token_hex(8)}@{domain.strip().lower()}"


def ticket_of_message_id(ident: str | None, domains: frozenset[str]) -> int | None:
    """The ticket id an id of our scheme names, when it is ours (its domain in ``domains``).

    Says nothing about whether that ticket exists or whether the mail may join it.
    """
    if not ident:
        return None
    match = _OUR_ID.match(ident.strip().strip("<>"))
    if match is None or match.group(3).lower() not in domains:
        return None
    return int(match.group(1))


def tagged_ticket(subject: str | None) -> int | None:
    """The ticket id of a ``[#CSKH-000123]`` tag in ``subject``."""
    match = TICKET_TAG.search(subject or "")
    return int(match.group(1)) if match else None


def strip_prefixes(subject: str | None) -> str:
    """``subject`` without its reply/forward prefixes and ticket tags, as written otherwise."""
    text = TICKET_TAG.sub(" ", subject or "")
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        stripped = TICKET_TAG.sub(" ", stripped)
        if stripped == text:
            return " ".join(text.split())
        text = stripped


def has_reply_prefix(subject: str | None) -> bool:
    """Whether ``subject`` says it answers or forwards something: ``Re:``, ``RE:``, ``Trả
    lời:``, ``TL:``, ``Fwd:``, ``AW:``… at its start, after any bracketed tags
    (``[#CSKH-000123] Re: …``, ``[Thép Việt] TL: …``)."""
    text = subject or ""
    while True:
        stripped = _LEADING_TAG.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return _PREFIX.match(text) is not None


def reply_subject(subject: str | None, ticket_number: str) -> str:
    """``Re: [#CSKH-000123] subject``: one "Re:", one tag, whatever the original carried."""
    rest = strip_prefixes(subject)
    return f"Re: [#{ticket_number}] {rest}".rstrip()


def fold(text: str) -> str:
    """Lower case without Vietnamese diacritics (``Đ`` → ``d``)."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def subject_key(subject: str | None) -> str:
    """The subject as the last-resort threading rule compares it: prefixes and bracketed tags
    gone (repeatedly), case, diacritics, punctuation and spacing ignored."""
    text = fold(strip_prefixes(subject))
    while True:
        stripped = _PREFIX.sub("", _BRACKET_TAG.sub(" ", text), count=1)
        if stripped == text:
            break
        text = stripped
    return " ".join(_NOT_WORD.sub(" ", text).replace("_", " ").split())


def is_generic(key: str) -> bool:
    """Whether a ``subject_key`` says too little to thread by: empty, a placeholder such as
    "hỏi" or "(no subject)", or shorter than 3 words / 10 characters."""
    return (key in GENERIC_SUBJECTS or len(key) < MIN_SUBJECT_CHARS
            or len(key.split()) < MIN_SUBJECT_WORDS)
