"""Split a reply into what the customer wrote now, what they quoted, and their signature.

Recognised quote starts (the earliest wins, everything from it on is quoted):

* Gmail: ``On <date> <name> wrote:`` / ``Vào <ngày> <tên> đã viết:`` (possibly wrapped over
  two lines);
* Outlook: ``-----Original Message-----`` (and the Vietnamese ``Thư gốc``), or a header
  block ``From:``/``Từ:`` followed within a few lines by ``Sent:``/``Date:``/``Gửi:``/``Ngày:``,
  optionally under a ``____`` rule;
* ``>`` quoting: lines that start with ``>`` are quoted wherever they are.

The signature is what follows a ``-- `` line, or a closing line alone on its line
("Trân trọng,", "Best regards", …) near the end, or "Sent from my iPhone". Forward markers
("---------- Forwarded message ---------") are *not* quotes: a forward is what the customer
sends us.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATTRIBUTION = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Vào\b.{0,300}\bđã viết:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Le\b.{0,300}\ba écrit\s*:\s*$", re.IGNORECASE),
]
_SEPARATOR = re.compile(
    r"^\s*-{3,}\s*(Original Message|Thư gốc|Tin nhắn gốc|Thư ban đầu)\s*-{3,}\s*$",
    re.IGNORECASE)
_FORWARD = re.compile(
    r"^\s*-{2,}\s*(Forwarded message|Begin forwarded message|Thư được chuyển tiếp|"
    r"Tin nhắn đã chuyển tiếp|Chuyển tiếp thư)\s*:?\s*-*\s*$|^\s*Begin forwarded message:\s*$",
    re.IGNORECASE)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_FROM = re.compile(r"^\s*\*?(From|Từ|De)\s*:\*?\s*\S", re.IGNORECASE)
_SENT = re.compile(r"^\s*\*?(Sent|Date|Gửi|Ngày|Đã gửi|Envoyé)\s*:\*?\s*\S", re.IGNORECASE)
_SIG_DASHES = re.compile(r"^-- ?$")
_CLOSING = re.compile(
    r"^\s*(trân trọng( cảm ơn)?|tran trong|trân thành cảm ơn|thân ái|thân chào|"
    r"(best|kind|warm|warmest)( regards)?|regards|thanks( (and|&) (best )?regards)?|"
    r"many thanks|sincerely|yours sincerely|cheers|br)\s*[,.!]*\s*$",
    re.IGNORECASE)
_MOBILE = re.compile(r"^\s*(Sent from my \w+|Gửi từ (iPhone|iPad|điện thoại)\b.*|"
                     r"Được gửi từ .*)$", re.IGNORECASE)
_MAX_SIGNATURE_LINES = 12


@dataclass(frozen=True, slots=True)
class Reply:
    """A message body split in three; joined back, the parts hold every line of the input."""

    new_text: str
    quoted_text: str
    signature: str


def _quote_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _FORWARD.match(line):
            return None
        if any(p.match(line) for p in _ATTRIBUTION):
            return i
        if i + 1 < len(lines) and len(line) < 200:
            joined = f"{line.rstrip()} {lines[i + 1].strip()}"
            if any(p.match(joined) for p in _ATTRIBUTION) and not line.startswith(">"):
                return i
        if _SEPARATOR.match(line):
            return i
        if _FROM.match(line) and any(_SENT.match(nxt) for nxt in lines[i + 1:i + 5]):
            if i > 0 and _RULE.match(lines[i - 1]):
                return i - 1
            return i
    return None


def _signature_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _SIG_DASHES.match(line):
            return i
    last = len(lines) - 1
    while last >= 0 and not lines[last].strip():
        last -= 1
    for i in range(last, max(-1, last - _MAX_SIGNATURE_LINES), -1):
        if _CLOSING.match(lines[i]) or _MOBILE.match(lines[i]):
            return i
    return None


def _trim(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").rstrip()


def split_reply(text: str) -> Reply:
    """The new text, the quoted part and the signature of ``text`` (all possibly empty)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _quote_start(lines)
    head, quoted = (lines, []) if start is None else (lines[:start], lines[start:])
    forward_at = next((i for i, line in enumerate(head) if _FORWARD.match(line)), None)
    forwarded: list[str] = []
    if forward_at is not None:  # a forward is content: kept whole, after the customer's note
        head, forwarded = head[:forward_at], head[forward_at:]
    own = [line for line in head if not line.lstrip().startswith(">")]
    quoted = [line for line in head if line.lstrip().startswith(">")] + quoted
    sig_at = _signature_start(own)
    signature: list[str] = []
    if sig_at is not None:
        own, signature = own[:sig_at], own[sig_at:]
    if forwarded:
        own = [*_trim(own).split("\n"), "", *forwarded] if _trim(own) else forwarded
    return Reply(new_text=_trim(own), quoted_text=_trim(quoted), signature=_trim(signature))
