"""Hotline channel, on-prem PBX: Asterisk's ``cdr_csv`` ``Master.csv``, tailed.

Asterisk appends one CSV line per call leg to ``Master.csv`` when the call ends
(https://docs.asterisk.org/Configuration/Reporting/Call-Detail-Records-CDR/CDR-Storage-Backends/CSV/).
With ``loguniqueid=yes`` and ``loguserfield=yes`` in ``cdr.conf`` ``[csv]`` the columns are::

    accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata,
    start, answer, end, duration, billsec, disposition, amaflags, uniqueid, userfield
    [, peeraccount, linkedid, sequence]   (newcdrcolumns=yes)

Quirks handled here:

* Times are local wall-clock (``usegmtime=no``, the default) unless ``gmt=True``.
* A call through a queue writes one line per agent it rang, all with the caller's
  ``uniqueid`` and all at hang-up: a call counts as answered if any line was bridged to
  someone (``ANSWERED`` with a ``dstchannel``). The ``Queue`` application answers the caller
  itself, so ``ANSWERED`` without a ``dstchannel`` means the caller gave up waiting.
* ``userfield`` carries the agent's note when the dialplan sets ``CDR(userfield)``.
* Without ``loguniqueid`` the key is a digest of the line (stable across re-reads).
* Only ``Master.csv`` is read: with ``accountlogs=yes`` the per-account files repeat it.

``CdrTailer.read`` is pure file reading and parsing — no asyncio, no bus: given the directory
and the last cursor it returns the new envelopes and the cursor after them. Rotation (the file
renamed away and a new one started) is noticed by the inode: the rest of the old file is read
first, under whatever name it now has, then the new file from its start; a rotated file is
never read again from its beginning.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.calls import VIETNAM, Call, Direction, call_envelope, cause_key
from connectors.envelope import InboundEnvelope
from connectors.payloads import (
    EARLIEST,
    LATEST,
    MAX_ID_CHARS,
    Count,
    e164,
    storable_problem,
)

MASTER = "Master.csv"
COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
           "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
           "disposition", "amaflags", "uniqueid", "userfield", "peeraccount", "linkedid",
           "sequence")
MIN_COLUMNS = 16
MAX_READ_BYTES = 1024 * 1024
_CLID = re.compile(r'^\s*"?(?P<name>[^"<]*?)"?\s*<(?P<number>[^>]*)>\s*$')
_PEER = re.compile(r"^[A-Za-z0-9]+/(?P<peer>[^-@/]+)")


@dataclass(frozen=True, slots=True)
class CdrCursor:
    """Where reading stopped: which file (device, inode) and the byte after the last line."""

    device: int
    inode: int
    offset: int

    def to_json(self) -> dict[str, int]:
        """The cursor as a JSON object, for the puller to persist."""
        return {"device": self.device, "inode": self.inode, "offset": self.offset}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CdrCursor:
        """The cursor ``to_json`` wrote; ``ValueError``/``KeyError`` if it is not one."""
        return cls(int(data["device"]), int(data["inode"]), int(data["offset"]))


@dataclass(frozen=True, slots=True)
class CdrBatch:
    """What one ``read`` found: envelopes to append, then the cursor to persist."""

    envelopes: tuple[InboundEnvelope, ...]
    cursor: CdrCursor | None
    lines: int = 0
    calls: int = 0
    skipped: tuple[str, ...] = ()
    rotated: bool = False


class CdrRecord(BaseModel):
    """One ``Master.csv`` line, validated."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    src: str = ""
    dst: str = ""
    clid: str = ""
    channel: str = ""
    dstchannel: str = ""
    lastapp: str = ""
    lastdata: str = ""
    start: datetime
    duration: Count
    billsec: Count
    disposition: str = Field(min_length=1)
    uniqueid: str = Field("", max_length=MAX_ID_CHARS)
    userfield: str = ""

    @field_validator("start", mode="before")
    @classmethod
    def _local_time(cls, value: object) -> object:
        if isinstance(value, str):
            return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
        return value

    @field_validator("start")
    @classmethod
    def _in_range(cls, value: datetime) -> datetime:
        # A wall-clock time, in whatever zone the PBX writes: a day's margin either side
        # keeps the provider times' range (``connectors.payloads.Instant``) under any zone.
        if not EARLIEST.year <= value.year < LATEST.year:
            raise ValueError(f"start must be between {EARLIEST.year} and {LATEST.year}")
        return value

    @property
    def bridged(self) -> bool:
        """Answered by someone (an agent, a forwarded mobile), not just by an application."""
        return self.disposition.upper() == "ANSWERED" and bool(self.dstchannel)


def _caller_name(record: CdrRecord) -> str | None:
    match = _CLID.match(record.clid)
    name = match.group("name").strip() if match else ""
    digits = re.sub(r"\D", "", name)
    return name if name and digits != re.sub(r"\D", "", record.src) else None


def _miss_cause(records: list[CdrRecord]) -> str:
    apps = {r.lastapp.lower() for r in records}
    if "voicemail" in apps:
        return "voicemail"
    if "queue" in apps:
        return "abandoned"
    last = cause_key(records[-1].disposition)
    return "abandoned" if last == "answered" else last


def to_call(key: str, records: list[CdrRecord], tz: tzinfo) -> Call:
    """The call that the lines of one ``uniqueid`` describe."""
    first = records[0]
    caller, callee = e164(first.src), e164(first.dst)
    direction: Direction = ("inbound" if caller else "outbound" if callee else "internal")
    answered = [r for r in records if r.bridged]
    note = next((r.userfield for r in records if r.userfield), None)
    queue = next((r.lastdata.split(",", 1)[0] for r in records
                  if r.lastapp.lower() == "queue" and r.lastdata), None)
    agent = None
    if answered and (peer := _PEER.match(answered[0].dstchannel)):
        agent = peer.group("peer")
    return Call(
        call_id=key, direction=direction,
        customer=caller if direction == "inbound" else callee,
        started_at=first.start.replace(tzinfo=tz), missed=not answered,
        cause="answered" if answered else _miss_cause(records),
        customer_name=_caller_name(first) if direction == "inbound" else None, queue=queue,
        agent=agent, waited_seconds=None if answered else max(r.duration for r in records),
        talked_seconds=max((r.billsec for r in answered), default=0), note=note,
    )


def _read_lines(handle: BinaryIO, offset: int, limit: int, *, final: bool) -> bytes:
    """Whole lines from ``offset``: at most ``limit`` bytes unless one line is longer.

    An unterminated last line is left for later unless the file is ``final`` (rotated away,
    so nobody will finish it).
    """
    handle.seek(offset)
    data = handle.read(limit)
    if final and len(data) < limit:
        return data
    cut = data.rfind(b"\n")
    if cut < 0:
        if len(data) < limit:
            return b""  # a line still being written
        rest = handle.readline()  # one line longer than the limit
        return data + rest if rest.endswith(b"\n") or final else b""
    return data[: cut + 1]


class CdrTailer:
    """Reads what Asterisk appended to ``directory/Master.csv`` since a cursor."""

    def __init__(self, directory: Path, *, tz: tzinfo = VIETNAM, gmt: bool = False,
                 max_bytes: int = MAX_READ_BYTES) -> None:
        self.directory = directory
        self.tz = UTC if gmt else tz
        self.max_bytes = max_bytes

    def _rotated_file(self, cursor: CdrCursor) -> Path | None:
        for path in self.directory.glob(f"{MASTER}*"):
            if path.name == MASTER:
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) == (cursor.device, cursor.inode):
                return path
        return None

    def read(self, cursor: CdrCursor | None, *, received_at: datetime) -> CdrBatch:
        """New calls since ``cursor`` (``None``: from the start of ``Master.csv``).

        Returns the envelopes of the whole lines read and the cursor just after them;
        never raises for a bad line (it is counted in ``skipped``). ``OSError`` from the
        file system propagates.
        """
        master = self.directory / MASTER
        try:
            st: os.stat_result | None = master.stat()
        except FileNotFoundError:
            st = None
        rotated = False
        if cursor is not None and (st is None
                                   or (st.st_dev, st.st_ino) != (cursor.device, cursor.inode)):
            old = self._rotated_file(cursor)
            if old is not None and old.stat().st_size > cursor.offset:
                with old.open("rb") as handle:
                    data = _read_lines(handle, cursor.offset, self.max_bytes, final=True)
                return self._batch(data, CdrCursor(cursor.device, cursor.inode,
                                                   cursor.offset + len(data)),
                                   received_at, rotated=False)
            rotated = True
            cursor = None
        if st is None:
            return CdrBatch(envelopes=(), cursor=cursor, rotated=rotated)
        offset = 0 if cursor is None or st.st_size < cursor.offset else cursor.offset
        with master.open("rb") as handle:
            data = _read_lines(handle, offset, self.max_bytes, final=False)
        return self._batch(data, CdrCursor(st.st_dev, st.st_ino, offset + len(data)),
                           received_at, rotated=rotated)

    def _batch(self, data: bytes, cursor: CdrCursor, received_at: datetime, *,
               rotated: bool) -> CdrBatch:
        calls: dict[str, list[CdrRecord]] = {}
        raws: dict[str, list[dict[str, str]]] = {}
        skipped: list[str] = []
        lines = data.decode("utf-8", errors="replace").splitlines()
        for number, row in enumerate(csv.reader(lines), start=1):
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) < MIN_COLUMNS:
                skipped.append(f"line {number}: {len(row)} columns, expected {MIN_COLUMNS}+")
                continue
            fields = dict(zip(COLUMNS, row, strict=False))
            problem = storable_problem(fields)
            if problem:
                skipped.append(f"line {number}: {problem}")
                continue
            try:
                record = CdrRecord.model_validate(fields)
            except ValidationError as exc:
                names = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
                skipped.append(f"line {number}: invalid {names}")
                continue
            key = record.uniqueid or "cdr:" + hashlib.sha256(
                lines[number - 1].encode()).hexdigest()[:32]
            calls.setdefault(key, []).append(record)
            raws.setdefault(key, []).append(fields)
        envelopes = []
        for key, records in calls.items():
            raw = {"source": "asterisk-cdr", "file": MASTER, "rows": raws[key]}
            made = call_envelope(to_call(key, records, self.tz), received_at=received_at,
                                 raw=raw)
            if made is not None:
                envelopes.append(made)
        return CdrBatch(envelopes=tuple(envelopes), cursor=cursor, lines=len(lines),
                        calls=len(calls), skipped=tuple(skipped), rotated=rotated)
