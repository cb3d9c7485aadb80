"""Fetched mail → bus records: parse each message and build its envelope or its dead letter.

This is the CPU-heavy part of pulling a mailbox (MIME parsing, charset detection, HTML to
text, attachment files), so it runs away from the event loop: in a worker thread, or — with
``CSKH_IMAP_PARSE_WORKERS`` > 0 — in worker processes (``ParsePool``), which also leaves the
service's own process (its consumers, in the embedded mode) its whole core. ``MakeRecords`` is
a plain picklable value for that reason.

A message that crashes a worker process (a parser bug in native code, say) costs only itself:
the batch is parsed again one message per task, and the one that breaks the pool again becomes
a dead letter with its raw bytes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from connectors.email.envelope import email_envelope
from connectors.email.parse import parse_email
from ingest.bus.base import OutgoingRecord
from ingest.bus.topics import DLQ, INBOUND
from storage.log_events import LogEvent

log = structlog.get_logger(__name__)
DLQ_GROUP = "puller:email"
# The largest record a mail becomes on the bus: under Kafka's default message limit (1 MiB,
# ``message.max.bytes``), with room for the record's headers. A bigger one would be refused
# by the broker on every try and hold up every mail behind it; instead the mail is parked
# (it stays whole in the mailbox, its headers go to the dead-letter topic).
MAX_RECORD_BYTES = 900_000
Made = tuple[list[OutgoingRecord], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one pass fetched of a folder: UIDs in order, sizes, whole messages, headers only
    for the mail too large to fetch, and when the server received each (``INTERNALDATE``)."""

    uidvalidity: int
    uids: tuple[int, ...]
    sizes: dict[int, int]
    bodies: dict[int, bytes]
    heads: dict[int, bytes]
    arrived: dict[int, datetime] = field(default_factory=dict)

    def part(self, uids: Sequence[int]) -> Fetched:
        """The same fetch restricted to ``uids``."""
        keep = set(uids)
        return Fetched(self.uidvalidity, tuple(uids),
                       {u: s for u, s in self.sizes.items() if u in keep},
                       {u: b for u, b in self.bodies.items() if u in keep},
                       {u: h for u, h in self.heads.items() if u in keep},
                       {u: a for u, a in self.arrived.items() if u in keep})


@dataclass(frozen=True, slots=True)
class MakeRecords:
    """Turns a ``Fetched`` of one folder into (records, parked mail)."""

    mailbox: str
    folder: str
    queue: str | None
    attachment_dir: Path | None
    max_message: int
    max_attachment: int
    authserv_id: str | None = field(default=None, kw_only=True)

    def source(self, uidvalidity: int, uid: int) -> str:
        """Where a mail came from, as the dead-letter header ``dlq.source`` names it."""
        return f"imap://{self.mailbox}/{self.folder};UIDVALIDITY={uidvalidity}/;UID={uid}"

    def dead_letter(self, value: bytes, error: str, uidvalidity: int, uid: int,
                    extra: Sequence[tuple[str, bytes]] = ()) -> OutgoingRecord:
        """A raw mail for ``cskh.dlq``, keyed by where it came from."""
        source = self.source(uidvalidity, uid)
        headers = (("dlq.error", error[:2000].encode()), ("dlq.group", DLQ_GROUP.encode()),
                   ("dlq.source", source.encode()), *extra)
        return OutgoingRecord(topic=DLQ, value=value, key=source.encode(), headers=headers)

    def __call__(self, fetched: Fetched, received_at: datetime) -> Made:
        records: list[OutgoingRecord] = []
        parked: list[dict[str, Any]] = []
        uidvalidity = fetched.uidvalidity
        for uid in fetched.uids:
            if uid in fetched.heads:
                size = fetched.sizes.get(uid, 0)
                head = fetched.heads[uid]
                header = parse_email(head, mailbox=self.mailbox, received_at=received_at,
                                     max_attachment_bytes=0)
                parked.append({"uid": uid, "size": size,
                               "message_id": header.message_id if header else None})
                records.append(self.dead_letter(
                    head, f"oversize: {size} bytes > {self.max_message}; headers only",
                    uidvalidity, uid, (("dlq.parked", b"oversize"),
                                       ("imap.size", str(size).encode()))))
                continue
            raw = fetched.bodies.get(uid)
            if raw is None:
                continue  # expunged between SEARCH and FETCH
            try:
                record = self._record(fetched, uid, raw, received_at)
            except Exception as exc:  # a parser bug costs this one mail only
                # Kept whole in the dead-letter topic: never lost, never a stalled mailbox.
                log.error(LogEvent.PULLER_PARSER_CRASHED, mailbox=self.mailbox,
                          folder=self.folder, uid=uid, error=type(exc).__name__)
                record = self.dead_letter(
                    raw, f"parser error: {type(exc).__name__}: {exc}", uidvalidity, uid)
            if len(record.value) > MAX_RECORD_BYTES:
                record = self._too_big(record, raw, uidvalidity, uid, parked)
            records.append(record)
        return records, parked

    def _too_big(self, record: OutgoingRecord, raw: bytes, uidvalidity: int, uid: int,
                 parked: list[dict[str, Any]]) -> OutgoingRecord:
        """A mail whose record would be over ``MAX_RECORD_BYTES``: parked like an oversize
        one (it stays whole in the mailbox, the cursor remembers it), its header block in
        the dead-letter topic with why."""
        end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0),
                  default=-1)
        head = raw[: end if 0 <= end < MAX_RECORD_BYTES else MAX_RECORD_BYTES // 2]
        what = "its dead letter" if record.topic == DLQ else "its envelope"
        log.warning(LogEvent.PULLER_PARKED, mailbox=self.mailbox, folder=self.folder,
                    uid=uid, size=len(raw), record_bytes=len(record.value))
        parked.append({"uid": uid, "size": len(raw), "message_id": None})
        error = dict(record.headers).get("dlq.error", b"").decode(errors="replace")
        reason = (f"{what} would be {len(record.value)} bytes > {MAX_RECORD_BYTES} "
                  "(the bus's record limit); headers only, the mail stays in the mailbox"
                  + (f"; {error}" if error else ""))
        return self.dead_letter(head, reason, uidvalidity, uid,
                                (("dlq.parked", b"record-too-big"),
                                 ("imap.size", str(len(raw)).encode())))

    def _record(self, fetched: Fetched, uid: int, raw: bytes,
                received_at: datetime) -> OutgoingRecord:
        """The envelope of one mail, or its dead letter when nothing in it is readable."""
        uidvalidity = fetched.uidvalidity
        parsed = parse_email(raw, mailbox=self.mailbox, received_at=received_at,
                             arrived_at=fetched.arrived.get(uid), authserv_id=self.authserv_id,
                             attachment_dir=self.attachment_dir,
                             max_attachment_bytes=self.max_attachment)
        if parsed is None:
            return self.dead_letter(raw, "unparseable: nothing readable as mail", uidvalidity,
                                    uid)
        envelope = email_envelope(
            parsed, mailbox=self.mailbox, queue_hint=self.queue,
            source={"mailbox": self.mailbox, "folder": self.folder,
                    "uidvalidity": uidvalidity, "uid": uid})
        return OutgoingRecord(topic=INBOUND, key=envelope.thread_key.encode(),
                              value=envelope.to_json_bytes())


def _exit_with(parent: int) -> None:
    """In a worker: exit as soon as the service that started it is gone (a ``kill -9`` leaves
    no orphan parsing on; a worker blocked on its task queue would never see EOF)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class ParsePool:
    """Worker processes for ``MakeRecords``: ``spawn``ed (no fork of a threaded service), each
    the service's own child, gone when it is. A worker imports what unpickling its task needs
    (this module: the parsing code), not the CLI: ``ingest.cli.main`` names the ``cskh``
    script's main module ``ingest.__main__``, which ``spawn`` does not run again.

    ``warm`` starts them before the first mail (a puller calls it before its first pass, so
    the first batch is not the one that pays for starting them). ``make`` splits a fetch into
    one task per worker and keeps the mail order.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_exit_with, initargs=(os.getpid(),))

    async def warm(self) -> list[int]:
        """Start every worker now (one task each: the executor forks a worker per task it
        cannot hand to an idle one); their process ids."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, os.getpid)
                               for _ in range(self.workers)))
        return sorted(self._executor._processes)

    def _renew(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new()

    async def _run(self, maker: MakeRecords, parts: Sequence[Fetched],
                   received_at: datetime) -> list[Made]:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(
            loop.run_in_executor(self._executor, maker, part, received_at) for part in parts)))

    async def make(self, maker: MakeRecords, fetched: Fetched, received_at: datetime) -> Made:
        """``maker(fetched)`` in the workers; see the module docstring for a crashing mail."""
        uids = fetched.uids
        step = -(-len(uids) // self.workers) if uids else 1
        parts = [fetched.part(uids[i:i + step]) for i in range(0, len(uids), step)]
        try:
            made = await self._run(maker, parts, received_at)
        except BrokenProcessPool:
            self._renew()
            made = []
            for uid in uids:  # one mail per task: the one that breaks the pool again is it
                try:
                    made += await self._run(maker, [fetched.part([uid])], received_at)
                except BrokenProcessPool:
                    self._renew()
                    raw = fetched.bodies.get(uid) or fetched.heads.get(uid) or b""
                    log.error(LogEvent.PULLER_PARSER_CRASHED, mailbox=maker.mailbox,
                              folder=maker.folder, uid=uid)
                    made.append(([maker.dead_letter(
                        raw, "parser crashed: the worker process died on this mail",
                        fetched.uidvalidity, uid)], []))
        records = [r for rs, _ in made for r in rs]
        parked = [p for _, ps in made for p in ps]
        return records, parked

    def close(self) -> None:
        """Stop the workers (they finish nothing more)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
