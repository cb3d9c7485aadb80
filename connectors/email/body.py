"""The MIME tree of a mail → its text, its HTML, its files, its forwards and bounce details.

* ``multipart/alternative``: the plain part is the text when it has any, else the HTML's
  text; the first HTML part is kept as ``html`` either way (up to ``MAX_HTML_CHARS``).
* ``message/rfc822``: a forwarded mail; its headers and text are added to the text under a
  forward marker, its files to the files.
* ``multipart/report`` (RFC 3462): the human-readable part is the text; the
  ``message/delivery-status`` fields (RFC 3464) and the returned mail's Message-ID go to
  ``bounce_report``; the returned mail itself is not read as text.
* Anything else that is not inline text is a file (inline images included, named after
  their Content-ID when they have no file name).
* A multipart whose boundary never occurs is read as text, MIME lines left out.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from pathlib import Path

from connectors.email import headers as h
from connectors.email.attachments import describe
from connectors.email.charsets import decode_text
from connectors.email.html_text import html_to_text
from connectors.envelope import Attachment

MAX_DEPTH = 20
MAX_HTML_CHARS = 256 * 1024
FORWARD_MARKER = "---------- Forwarded message ---------"
_MIME_LINE = re.compile(r"^(--\S+|Content-[\w-]+:.*|MIME-Version:.*)$", re.IGNORECASE)
_STATUS_FIELDS = ("Action", "Status", "Final-Recipient", "Original-Recipient",
                  "Diagnostic-Code", "Reporting-MTA", "Remote-MTA")


@dataclass(slots=True)
class Body:
    """What ``read_body`` found; ``text`` joins every inline text part in order."""

    text: str = ""
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    oversize: tuple[str, ...] = ()
    inline_images: tuple[str, ...] = ()
    forwarded: tuple[dict[str, str | None], ...] = ()
    bounce_report: dict[str, str] = field(default_factory=dict)
    charsets: tuple[str, ...] = ()
    defects: list[str] = field(default_factory=list)


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 ``format=flowed``: soft line breaks (a trailing space) are joined."""
    out: list[str] = []
    pending = ""
    for line in text.split("\n"):
        if line.endswith(" ") and line != "-- ":
            pending += line[:-1] if delsp else line
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return "\n".join(out)


class _Reader:
    def __init__(self, attachment_dir: Path | None, max_bytes: int) -> None:
        self.attachment_dir = attachment_dir
        self.max_bytes = max_bytes
        self.texts: list[str] = []
        self.html: str | None = None
        self.files: list[Attachment] = []
        self.oversize: list[str] = []
        self.inline: list[str] = []
        self.forwarded: list[dict[str, str | None]] = []
        self.report: dict[str, str] = {}
        self.charsets: list[str] = []
        self.defects: list[str] = []

    def payload_bytes(self, part: Message) -> bytes:
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            return data
        payload = part.get_payload()
        if isinstance(payload, str):
            return payload.encode("ascii", "surrogateescape")
        return b""

    def decoded(self, part: Message) -> str:
        for defect in part.defects:
            self.defects.append(type(defect).__name__)
        text, codec, note = decode_text(self.payload_bytes(part), part.get_content_charset())
        if codec not in self.charsets:
            self.charsets.append(codec)
        if note:
            self.defects.append(note)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if str(part.get_param("format", "")).lower() == "flowed":
            text = _unflow(text, str(part.get_param("delsp", "")).lower() == "yes")
        return text

    def keep_html(self, html: str) -> None:
        if self.html is not None:
            return
        if len(html) > MAX_HTML_CHARS:
            self.defects.append(f"html over {MAX_HTML_CHARS} characters not kept")
            self.html = ""
            return
        self.html = html

    def walk(self, part: Message, depth: int = 0, *, want_text: bool = True) -> None:
        if depth > MAX_DEPTH:
            self.defects.append("MIME nesting too deep")
            return
        ctype = part.get_content_type()
        if part.is_multipart():
            children = [p for p in part.get_payload() if isinstance(p, Message)]
            if ctype == "message/rfc822":
                self.forward(children, depth)
            elif ctype == "multipart/alternative":
                self.alternative(children, depth, want_text=want_text)
            elif ctype == "multipart/report":
                self.delivery_report(children, depth)
            else:
                for child in children:
                    self.walk(child, depth + 1, want_text=want_text)
            return
        disposition = part.get_content_disposition()
        named = part.get_filename() is not None
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not named:
            text = self.decoded(part)
            if ctype == "text/html":
                self.keep_html(text)
                text = html_to_text(text)
            if want_text and text.strip():
                self.texts.append(text.strip("\n"))
            return
        if part.get_content_maintype() == "multipart":  # boundary never found
            self.defects.append("multipart body read as text")
            lines = self.decoded(part).split("\n")
            kept = "\n".join(line for line in lines if not _MIME_LINE.match(line.strip()))
            if want_text and kept.strip():
                self.texts.append(kept.strip("\n"))
            return
        self.attachment(part, disposition)

    def alternative(self, children: list[Message], depth: int, *, want_text: bool) -> None:
        plain = next((c for c in children if c.get_content_type() == "text/plain"), None)
        plain_text = self.decoded(plain) if plain is not None else ""
        use_plain = bool(plain_text.strip())
        if use_plain and want_text:
            self.texts.append(plain_text.strip("\n"))
        for child in children:
            if child is not plain:
                self.walk(child, depth + 1, want_text=want_text and not use_plain)
                if child.get_content_type() in ("text/html", "multipart/related"):
                    break  # the richest alternative we read; later ones repeat it

    def forward(self, children: list[Message], depth: int) -> None:
        for inner in children:
            msg = inner if isinstance(inner, EmailMessage) else None
            if msg is None:
                continue
            summary: dict[str, str | None] = {
                "from": h.text_header(msg, "From"), "date": h.text_header(msg, "Date"),
                "subject": h.text_header(msg, "Subject"),
                "message_id": h.normalize_id(h.text_header(msg, "Message-ID")),
            }
            self.forwarded.append(summary)
            lines = [FORWARD_MARKER] + [f"{k.capitalize()}: {v}" for k, v in summary.items()
                                        if v and k != "message_id"]
            self.texts.append("\n".join(lines))
            self.walk(msg, depth + 1)

    def delivery_report(self, children: list[Message], depth: int) -> None:
        for child in children:
            ctype = child.get_content_type()
            if ctype == "message/delivery-status":
                self.status_fields(child)
            elif ctype in ("message/rfc822", "text/rfc822-headers"):
                self.returned(child)
            else:
                self.walk(child, depth + 1)

    def status_fields(self, part: Message) -> None:
        blocks = part.get_payload()
        text = ""
        if isinstance(blocks, list):
            text = "\n".join(str(b) for b in blocks)
        elif isinstance(blocks, str):
            text = self.decoded(part)
        for name in _STATUS_FIELDS:
            match = re.search(rf"^{name}:\s*(.+(?:\n[ \t].+)*)", text, re.IGNORECASE | re.MULTILINE)
            if match and name.lower() not in self.report:
                self.report[name.lower()] = h.one_line(match.group(1))[:500]

    def returned(self, part: Message) -> None:
        payload = part.get_payload()
        text = ""
        if isinstance(payload, list) and payload:
            text = str(payload[0])
        elif isinstance(payload, str):
            text = payload
        match = re.search(r"^Message-ID:\s*(.+)$", text, re.IGNORECASE | re.MULTILINE)
        ident = h.normalize_id(match.group(1)) if match else None
        if ident:
            self.report["original_message_id"] = ident

    def attachment(self, part: Message, disposition: str | None) -> None:
        ctype = part.get_content_type()
        name = part.get_filename()
        if name and any("\udc80" <= ch <= "\udcff" for ch in name):
            name = h.decode_words(name.encode("utf-8", "surrogateescape").decode("latin-1"))
        cid = h.normalize_id(str(part.get("Content-ID", "") or "")) or None
        if not name:
            ext = mimetypes.guess_extension(ctype) or ".bin"
            name = f"{cid or f'part-{len(self.files) + 1}'}{ext}"
        for defect in part.defects:
            self.defects.append(type(defect).__name__)
        record, oversize = describe(self.payload_bytes(part), name=name, content_type=ctype,
                                    directory=self.attachment_dir, max_bytes=self.max_bytes)
        self.files.append(record)
        if oversize:
            self.oversize.append(record.name)
        if part.get_content_maintype() == "image" and (cid or disposition == "inline"):
            self.inline.append(record.name)


def read_body(msg: Message, *, attachment_dir: Path | None, max_bytes: int) -> Body:
    """Read the MIME tree of ``msg`` (see the module docstring); never raises for bad MIME."""
    reader = _Reader(attachment_dir, max_bytes)
    reader.walk(msg)
    return Body(
        text="\n\n".join(reader.texts), html=reader.html or None,
        attachments=tuple(reader.files), oversize=tuple(reader.oversize),
        inline_images=tuple(reader.inline), forwarded=tuple(reader.forwarded),
        bounce_report=reader.report, charsets=tuple(reader.charsets), defects=reader.defects,
    )
