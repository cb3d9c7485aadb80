"""What the fault suite hands the ``pullers`` role: mail APPENDed to the suite's own Dovecot and
call lines appended to an Asterisk ``Master.csv``, and the poison mails that must end in the
dead-letter topic.

A mail is stored under its Message-ID without the angle brackets (``connectors.email``); three
mails make a thread (the second and third answer the one before, with ``In-Reply-To`` and
``References`` back to the first), so they share one ticket. A call line is a missed inbound
call (a callback ticket) stored under its ``uniqueid``; two calls of one caller share a ticket.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from tests.faults.own_dovecot import OwnDovecot
from tests.faults.report import Poisoned
from tests.faults.traffic import TEXTS, Message

VIETNAM = timezone(timedelta(hours=7))
SUBJECTS = ("Hóa đơn GTGT xuất sai", "Giao hàng chậm", "Xin báo giá", "Bảo hành máy nén khí",
            "Đối chiếu công nợ")
PER_THREAD = {"email": 3, "hotline": 2}


def _message_id(run: int, i: int) -> str:
    return f"faults-{run}-{i}@kh{i % 7}.congty.vn"


def build_mail(run: int, i: int, stride: int, *, probe: str | None = None) -> Message:
    """Mail ``i`` of run ``run``: ``stride`` is how many channels take turns, so that the mails
    of one thread are ``i``, ``i + stride`` and ``i + 2 * stride``."""
    j = i // stride
    first = i - (j % PER_THREAD["email"]) * stride
    thread = [_message_id(run, k) for k in range(first, i, stride)]
    ident = probe or _message_id(run, i)
    mail = EmailMessage(policy=SMTP)
    mail["From"] = f'"Nguyễn Thị Khách {first}" <kh{first}@thepviet.vn>'
    mail["To"] = "cskh@minhphat.vn"
    mail["Message-ID"] = f"<{ident}>"
    mail["Date"] = format_datetime(datetime.now(VIETNAM))
    subject = SUBJECTS[(first // stride) % len(SUBJECTS)]
    mail["Subject"] = f"Re: {subject}" if thread else subject
    if thread:
        mail["In-Reply-To"] = f"<{thread[-1]}>"
        mail["References"] = " ".join(f"<{m}>" for m in thread)
    text = TEXTS[j % len(TEXTS)].format(i=i)
    mail.set_content(f"Kính gửi phòng CSKH,\n\n{text}.\n\nTrân trọng,\nKhách {first}\n")
    root = thread[0] if thread else ident
    return Message("email", ident, f"email:{root}", mail.as_bytes())


def probe_mail(run: int, k: int) -> Message:
    """The mail appended after fault ``k`` (its own thread)."""
    return build_mail(run, 0, 1, probe=f"faults-{run}-probe-{k}@thu.congty.vn")


def build_call(run: int, i: int, stride: int) -> Message:
    """Call line ``i``: a missed call; the calls ``i`` and ``i + stride`` share a caller."""
    j = i // stride
    caller_index = j // PER_THREAD["hotline"]
    caller = f"091{run % 100:02d}{caller_index % 100_000:05d}"
    uniqueid = f"17{run}.{i}"
    start = datetime.now(VIETNAM).replace(tzinfo=None, microsecond=0) - timedelta(seconds=40)
    end = start + timedelta(seconds=30)
    row = ["", caller, "19006868", "from-pstn", f'"Khách {caller_index}" <{caller}>',
           f"SIP/viettel-{i:08x}", "SIP/104-00000001", "Dial", "SIP/104,30,tT",
           f"{start:%Y-%m-%d %H:%M:%S}", "", f"{end:%Y-%m-%d %H:%M:%S}", "30", "0",
           "NO ANSWER", "DOCUMENTATION", uniqueid, ""]
    line = io.StringIO()
    csv.writer(line, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(row)
    return Message("hotline", uniqueid, f"hotline:{caller}", line.getvalue().encode())


def poison(run: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """Mails in which nothing can be read (the parser gives up, so the puller dead-letters the
    raw bytes): binary garbage, a 900 kB header line of binary junk, and control characters
    only. No NUL, CR or LF in them, so the server stores them byte for byte.

    The long line stays under the bus's record limit (``ingest.mail_records.MAX_RECORD_BYTES``):
    a mail over it is parked (headers only in the dead-letter topic), not kept whole there,
    so it could not be compared byte for byte."""
    def noise(n: int) -> bytes:  # no NUL (Dovecot stores it as 0x80), no CR or LF
        return bytes(b for b in rng.randbytes(n) if b not in (0, 10, 13))

    controls = bytes(rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 27])
                     for _ in range(4000))
    tag = str(run).encode()
    return [
        ("binary garbage", b"\x01\x02" + noise(8192) + tag),
        ("a 900 kB header line", b"X-Rac-" + tag + b": " + noise(900_000) + b"\r\n\r\n"
         + b"noi dung\r\n"),
        ("control characters only", controls + tag),
    ]


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def dead_letter_bytes(row: dict[str, Any]) -> bytes:
    """The value of one ``cskh dlq ls --json`` record."""
    if row.get("value") is not None:
        return str(row["value"]).encode()
    return base64.b64decode(str(row.get("value_base64") or ""))


async def check_poison(dead_letters: Callable[[], list[dict[str, Any]]],
                       appended: list[tuple[str, bytes]], stored: Counter[tuple[str, str]],
                       timeout: float) -> Poisoned:
    """Wait (up to ``timeout`` s) until every appended poison mail is in the dead-letter topic
    byte for byte (``dead_letters``: ``cskh dlq ls --json``); whether any made a message (a
    mail without a Message-ID would be stored under the digest of its bytes)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while True:
        rows = [r for r in await asyncio.to_thread(dead_letters)
                if str(r.get("source") or "").startswith("imap://")]
        found = Counter(digest(dead_letter_bytes(r)) for r in rows)
        missing = [name for name, raw in appended if not found[digest(raw)]]
        if not missing or loop.time() - began > timeout:
            break
        await asyncio.sleep(2.0)
    wanted = {digest(raw) for _, raw in appended}
    return Poisoned(
        appended=len(appended), whole=len(appended) - len(missing), missing=tuple(missing),
        copies=sum(n for d, n in found.items() if d in wanted),
        others=sum(n for d, n in found.items() if d not in wanted),
        made_message=sum(1 for _, raw in appended if ("email", f"sha256:{digest(raw)}") in stored))


class MailDrop:
    """APPENDs mail into the suite's Dovecot: ``True`` once the server took it."""

    def __init__(self, dovecot: OwnDovecot) -> None:
        self.dovecot = dovecot

    async def __call__(self, message: Message) -> bool:
        try:
            await asyncio.to_thread(self.dovecot.append, message.body)
        except Exception:  # down or restarting: the caller retries
            return False
        return True


class CdrFile:
    """Appends call lines to ``directory/Master.csv``, one whole line per write (as Asterisk's
    ``cdr_csv`` does); never fails."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "Master.csv"
        self._lock = threading.Lock()

    def _write(self, line: bytes) -> None:
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    async def __call__(self, message: Message) -> bool:
        await asyncio.to_thread(self._write, message.body)
        return True
