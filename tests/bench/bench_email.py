"""Mailbox throughput: a Dovecot folder of N Vietnamese mails → assigned tickets, both pairs.

For each backend pair: N mails of ``tests.support.mail_corpus`` (new threads, replies,
out-of-office answers, scanned PDFs, the fixture corpus's charsets and broken MIME) are
APPENDed (MULTIAPPEND, 100 a command) to a staging folder; the service starts pointed at an
empty folder (its puller idles there), and the clock starts when all the staged mail is MOVEd
into it at once. Printed: emails per second from that moment to the last assignment; per
stage, when the last mail was fetched (the puller's ``received_at``), the last ticket written
and the last one assigned, with p50/p99 of fetched → ticket and ticket → assigned; and each service
process's peak RSS (VmHWM), sampled RSS at half-way, to show that the first sync streams.

    make bench BENCH_ARGS="email"
    python -m tests.bench email [--backend embedded|distributed|both] [--count 10000]

Then the peer on the same mails: django-helpdesk 2.6.1 (``tests/bench/peer.py``, in a venv
made on first use under ``~/.cache/cskh-bench``), its ``get_email`` on a local directory queue,
stock SQLite and WAL, with mails/s, peak memory, CPU per mail and our ratios to each
(``--no-peer`` skips it). Our memory is every process's peak added up (service and parse
workers), our CPU every process's.

Embedded: one ``cskh serve`` (every role). PostgreSQL + Kafka: ``--role pullers`` and
``--role normalizer --role router`` as two processes. Needs ``CSKH_TEST_IMAP`` (Dovecot, user
cskh/cskh) besides Kafka and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from imapclient import IMAPClient
from sqlalchemy import func, select

from storage.db import SessionFactory, create_engine, session_factory
from storage.models import Assignment, Message, Ticket
from tests.bench.bench_flow import CSKH, Server, fresh_backend, pct, prepare
from tests.bench.peer import VERSION, PeerRun, peer_python, run_peer
from tests.support.mail_corpus import Mail, corpus
from tests.support.service import children, free_port

APPEND_CHUNK = 100


def imap() -> IMAPClient:
    host, _, port = os.environ["CSKH_TEST_IMAP"].rpartition(":")
    client = IMAPClient(host, port=int(port), ssl=False, timeout=120)
    client.login("cskh", "cskh")
    return client


def fill(folder: str, mails: list[Mail]) -> float:
    """Create ``folder`` holding ``mails``; seconds it took."""
    began = time.perf_counter()
    client = imap()
    client.create_folder(folder)
    for start in range(0, len(mails), APPEND_CHUNK):
        client.multiappend(folder, [m.raw for m in mails[start:start + APPEND_CHUNK]])
    client.logout()
    return time.perf_counter() - began


def drop(*folders: str) -> None:
    client = imap()
    for folder in folders:
        if client.folder_exists(folder):
            client.delete_folder(folder)
    client.logout()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def tree(pids: list[int]) -> list[int]:
    """``pids`` and all their descendants (parse workers, their helpers)."""
    found, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children(pid))
    return found


@dataclass(frozen=True)
class Ours:
    """One pair's figures, to set against the peer's."""

    name: str
    rate: float  # mails/s, MOVE → last assignment
    peak_mib: float  # every process's peak RSS, added up
    cpu_per_mail: float  # seconds, every process


async def progress(sessions: SessionFactory) -> tuple[int, int, int]:
    """(messages stored, tickets, tickets assigned)."""
    async with sessions() as s:
        messages = await s.scalar(select(func.count()).select_from(Message))
        tickets = await s.scalar(select(func.count()).select_from(Ticket))
        assigned = await s.scalar(select(func.count(func.distinct(Assignment.ticket_id))))
        return int(messages or 0), int(tickets or 0), int(assigned or 0)


async def stage_times(sessions: SessionFactory) -> tuple[list[datetime], list[
        tuple[datetime, datetime, datetime]]]:
    """Every message's fetch time; (fetched, ticket created, first assigned) per ticket."""
    async with sessions() as s:
        fetched = list(await s.scalars(select(Message.received_at)))
        first_message = (select(Message.ticket_id, func.min(Message.received_at).label("at"))
                         .group_by(Message.ticket_id).subquery())
        first_assigned = (select(Assignment.ticket_id, func.min(Assignment.assigned_at)
                                 .label("at")).group_by(Assignment.ticket_id).subquery())
        rows = (await s.execute(
            select(first_message.c.at, Ticket.created_at, first_assigned.c.at)
            .join(first_message, first_message.c.ticket_id == Ticket.id)
            .join(first_assigned, first_assigned.c.ticket_id == Ticket.id))).all()
        return fetched, [(a, b, c) for a, b, c in rows]


def servers(base_env: dict[str, str], work: Path, split: bool) -> list[Server]:
    role_sets = [["pullers"], ["normalizer", "router"]] if split else [[]]
    made = []
    for roles in role_sets:
        port = free_port()
        argv = [CSKH, "serve", *(a for r in roles for a in ("--role", r))]
        made.append(Server(argv, {**base_env, "CSKH_HTTP_PORT": str(port)}, work, port))
    return made


async def bench_backend(name: str, kind: str, mails: list[Mail], limit: float,
                        profile: Path | None) -> Ours:
    tag = uuid.uuid4().hex[:8]
    staging, folder = f"cskhbench{tag}staging", f"cskhbench{tag}"
    roots = len({m.thread_root for m in mails})
    async with fresh_backend(kind) as (env, database_url):
        work = Path(tempfile.mkdtemp(prefix=f"cskh-bench-email-{name}-"))
        engine = create_engine(database_url)
        try:
            appended = await asyncio.to_thread(fill, staging, mails)
            watched = imap()
            watched.create_folder(folder)  # empty: the puller waits on it, in IDLE, no errors
            watched.logout()
            print(f"[{name}] MULTIAPPEND of {len(mails):,} mails: {appended:.1f} s "
                  f"({len(mails) / appended:,.0f}/s)")
            host, _, port = os.environ["CSKH_TEST_IMAP"].rpartition(":")
            base_env = prepare({**env, "CSKH_IMAP_HOST": host, "CSKH_IMAP_PORT": port,
                                "CSKH_IMAP_USER": "cskh", "CSKH_IMAP_PASSWORD": "cskh",
                                "CSKH_IMAP_FOLDER": folder, "CSKH_IMAP_TLS": "false",
                                "CSKH_IMAP_POLL_SECONDS": "0.2",
                                "CSKH_IMAP_CURSOR_PATH": str(work / "imap-cursor.json"),
                                "CSKH_ATTACHMENT_DIR": str(work / "files")}, work)
            procs = servers(base_env, work, split=kind == "distributed")
            if profile is not None:  # the event loop's thread only (cProfile sees one thread)
                for i, proc in enumerate(procs):
                    out = profile / f"{name}-{i}.prof"
                    proc.argv = [sys.executable, "-m", "cProfile", "-o", str(out), *proc.argv]
            async with aiohttp.ClientSession() as http:
                for proc in procs:
                    await proc.start(http)
            sessions = session_factory(engine)
            client = imap()
            pids = [p.proc.pid for p in procs if p.proc is not None]
            cpu = [cpu_seconds(pid) for pid in pids]
            every = {pid: cpu_seconds(pid) for pid in tree(pids)}  # those up before the MOVE
            peaks: dict[int, float] = {}
            load = os.getloadavg()[0]
            await asyncio.sleep(2)  # the puller's first pass on the empty folder, then IDLE
            client.select_folder(staging)
            began = datetime.now(UTC)
            client.move(client.search(["ALL"]), folder)  # all of it lands at once
            client.logout()
            half: list[float] = []
            deadline = time.perf_counter() + limit
            while time.perf_counter() < deadline:
                await asyncio.sleep(0.5)
                for pid in tree(pids):
                    every.setdefault(pid, 0.0)  # started since: all its CPU is this run's
                    peaks[pid] = max(peaks.get(pid, 0.0), rss_mib(pid, "VmHWM"))
                messages, opened, assigned = await progress(sessions)
                if not half and messages >= len(mails) // 2:
                    half = [rss_mib(p.proc.pid) for p in procs if p.proc is not None]
                # Every mail stored and every ticket assigned: one ticket a generated thread
                # (a new conversation under an earlier one's sender and subject is its own).
                if messages >= len(mails) and assigned >= opened:
                    break
            else:
                print(f"[{name}] NOT DONE after {limit:.0f} s: {messages} messages, "
                      f"{assigned}/{opened} tickets assigned; see {work}/server.log")
            cpu = [cpu_seconds(pid) - used for pid, used in zip(pids, cpu, strict=True)]
            for pid in tree(pids):
                every.setdefault(pid, 0.0)
                peaks[pid] = max(peaks.get(pid, 0.0), rss_mib(pid, "VmHWM"))
            all_cpu = 0.0
            for pid, used in every.items():
                now = cpu_seconds(pid)
                if now == now:  # nan: gone before the end, its CPU uncounted
                    all_cpu += max(0.0, now - used)
            load = max(load, os.getloadavg()[0])
            peak = [p.stop() for p in procs]
            fetched, tickets = await stage_times(sessions)
        finally:
            await engine.dispose()
    await asyncio.to_thread(drop, staging, folder)

    def since(at: datetime) -> float:
        return (at - began).total_seconds()

    last_fetch = since(max(fetched))
    last_ticket = since(max(t for _, t, _ in tickets))
    last_assigned = since(max(a for _, _, a in tickets))
    to_ticket = [(t - f).total_seconds() * 1000 for f, t, _ in tickets]
    to_assign = [(a - t).total_seconds() * 1000 for _, t, a in tickets]
    layout = "pullers | normalizer+router processes" if kind == "distributed" else "one process"
    print(f"[{name}] {layout}: {len(fetched):,} mails → {len(tickets):,} tickets assigned "
          f"({roots:,} threads generated); "
          f"last fetched {last_fetch:.1f} s ({len(fetched) / last_fetch:,.0f} mails/s), "
          f"last ticket {last_ticket:.1f} s, last assigned {last_assigned:.1f} s")
    print(f"[{name}] END TO END: {len(mails) / last_assigned:,.0f} emails/s "
          f"(MOVE into the watched folder → last assignment)")
    print(f"[{name}] fetched → ticket p50 {pct(to_ticket, 0.5):,.0f} ms, "
          f"p99 {pct(to_ticket, 0.99):,.0f} ms; ticket → assigned p50 "
          f"{pct(to_assign, 0.5):,.0f} ms, p99 {pct(to_assign, 0.99):,.0f} ms")
    print(f"[{name}] service CPU per mail: " + ", ".join(
        f"{c * 1000 / len(mails):.2f} ms" for c in cpu) + f" (= {len(mails) / sum(cpu):,.0f} "
        f"emails per CPU-second; 1-min load average up to {load:.1f} on "
        f"{os.cpu_count()} cores)")
    print(f"[{name}] RSS at half-way " + ", ".join(f"{r:.0f} MiB" for r in half)
          + "; peak " + ", ".join(f"{r:.0f} MiB" for r in peak))
    total_peak = sum(r for r in peaks.values() if r == r)
    print(f"[{name}] every process ({len(peaks)}: service and its parse workers): peak "
          + " + ".join(f"{r:.0f}" for r in peaks.values() if r == r)
          + f" = {total_peak:.0f} MiB; CPU {all_cpu * 1000 / len(mails):.2f} ms per mail")
    shutil.rmtree(work, ignore_errors=True)
    return Ours(name, len(mails) / last_assigned, total_peak, all_cpu / len(mails))


def bench_peer(mails: list[Mail], ours: list[Ours]) -> None:
    """django-helpdesk on the same mails, both SQLite modes; the ratios to ``ours``."""
    python = peer_python()
    if isinstance(python, str):
        print(f"[django-helpdesk {VERSION}] not run: {python}")
        return
    runs: list[PeerRun] = []
    for mode in ("stock", "wal"):
        run = run_peer(python, mails, mode)
        runs.append(run)
        print(run.line(len(mails)))
    if runs[0].transcoded:
        print(f"[django-helpdesk {VERSION}] {runs[0].transcoded} mails that are not UTF-8 were "
              "handed to it re-encoded as UTF-8 with U+FFFD (its local queue opens files as "
              "UTF-8 text and stops at the first it cannot read)")
    for mine in ours:
        print(f"[{mine.name} vs django-helpdesk] " + "; ".join(
            f"{run.mode}: {mine.rate * run.seconds / len(mails):.1f}× the mails/s, "
            f"{mine.peak_mib / run.peak_mib:.1f}× the memory, "
            f"{mine.cpu_per_mail * len(mails) / run.cpu:.2f}× the CPU per mail" for run in runs))


async def run(args: argparse.Namespace) -> int:
    print(f"cskh-inbox mailbox benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} cores; Dovecot, broker and database share the machine")
    if not os.environ.get("CSKH_TEST_IMAP"):
        print("skipped: run `make services` (CSKH_TEST_IMAP)")
        return 1
    kinds = ["embedded", "distributed"] if args.backend == "both" else [args.backend]
    if "distributed" in kinds and not (os.environ.get("CSKH_TEST_KAFKA")
                                       and os.environ.get("CSKH_TEST_POSTGRES_DSN")):
        print("[postgres+kafka] skipped: run `make services` (CSKH_TEST_KAFKA, "
              "CSKH_TEST_POSTGRES_DSN)")
        kinds.remove("distributed")
    began = time.perf_counter()
    mails = corpus(args.count, run=f"b{uuid.uuid4().hex[:6]}")
    size = sum(len(m.raw) for m in mails)
    print(f"corpus: {len(mails):,} mails, {size / 2**20:,.0f} MiB, "
          f"{len({m.thread_root for m in mails}):,} threads, "
          f"{sum(m.machine for m in mails)} out-of-office answers "
          f"(generated in {time.perf_counter() - began:.1f} s)")
    ours = []
    for kind in kinds:
        name = "sqlite+embedded" if kind == "embedded" else "postgres+kafka"
        ours.append(await bench_backend(name, kind, mails, args.limit, args.profile))
    if args.peer:
        await asyncio.to_thread(bench_peer, mails, ours)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench email", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "distributed", "both"),
                        default="both")
    parser.add_argument("--count", type=int, default=5000, help="mails in the folder")
    parser.add_argument("--limit", type=float, default=1800.0,
                        help="give up waiting after this many seconds")
    parser.add_argument("--no-peer", dest="peer", action="store_false",
                        help=f"skip django-helpdesk {VERSION} (its venv is made on first use)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="run each service under cProfile, writing DIR/<pair>-<n>.prof")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
