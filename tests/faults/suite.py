"""The distributed fault suite: role processes on Kafka + PostgreSQL, killed while messages
arrive, then every accepted message checked.

It starts ``cskh serve --role R`` processes (``--roles``, e.g. ``webhooks=2,normalizer=2,
router=1``) on a fresh PostgreSQL database and fresh Kafka topics, drives ``--messages``
signed webhooks and web forms through the webhooks processes (retrying resets, timeouts and
503s as providers do, and delivering a few acknowledged ones twice), and meanwhile, at random
points of the drive, ``kill -9``s a process of each role in ``--faults`` and starts it again;
``db-cut`` in ``--faults`` cuts the processes off PostgreSQL for a few seconds (every
connection reset, new ones refused) and ``db-latency`` slows it, through a Toxiproxy of the
suite's own between them and the database. A process that exits by itself is started again,
as systemd's ``Restart=on-failure`` or Kubernetes would, and counted. After each fault a probe
form is posted; the time from the fault to the probe's ticket being routed is its recovery
time. Then it waits for the flow to settle and checks, in the
database: every accepted message is exactly one stored message, on exactly one ticket (the
messages of one thread on one ticket), and every ticket is assigned or queued.

``kafka-cut``, ``kafka-latency`` and ``kafka-restart`` in ``--faults`` run the processes on a
Kafka broker of the suite's own (``tests/faults/broker.py``: the same jars, its own data) whose
advertised listener is a Toxiproxy port, so every client connection goes through the proxy:
the cut closes them all and refuses new ones for a few seconds, the latency slows them, the
restart stops the broker (SIGTERM, a controlled shutdown) and starts it again on its data.

With a ``pullers`` role, mail and calls come too (``tests/faults/pulled.py``): the driver
APPENDs mails (threads of three) to the INBOX of a Dovecot of the suite's own
(``tests/faults/own_dovecot.py``) and missed-call lines to an Asterisk ``Master.csv`` in a
folder given as ``CSKH_HOTLINE_CDR_DIR``; the pullers read both (the mailbox under a
PostgreSQL advisory lock: one fetches at a time, a kill hands over). A few poison mails, in
which nothing can be read, go in among them: each must be in ``cskh.dlq`` with its bytes
whole and have made no message. ``dovecot-restart`` in ``--faults`` stops that Dovecot (the
master and its sessions) and starts it again; its probe is a mail.

Only the processes and the servers it starts are stopped: the shared Kafka, PostgreSQL and
Dovecot are never restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from storage.db import create_engine, session_factory
from storage.models import Assignment, Message, Ticket
from tests.bench.bench_flow import fresh_backend
from tests.faults.broker import OwnBroker
from tests.faults.own_dovecot import OwnDovecot
from tests.faults.own_postgres import OwnPostgres
from tests.faults.pulled import (
    PER_THREAD,
    CdrFile,
    MailDrop,
    build_call,
    build_mail,
    check_poison,
    poison,
    probe_mail,
)
from tests.faults.replies import Replies, reply_loop
from tests.faults.report import Report
from tests.faults.toxiproxy import Toxiproxy, executable
from tests.faults.traffic import CHANNELS, Poster, Sink, build
from tests.faults.traffic import Message as Sent
from tests.support.providers import MESSENGER_PAGE_TOKEN, StandIn, messenger_app, serve
from tests.support.service import free_port
from tests.support.signers import SECRETS

CSKH = str(Path(sys.executable).with_name("cskh"))
QUEUES = ("cskh", "sales", "accounting", "warehouse", "technical")
SETTLED = ("assigned", "open", "queued")  # open: assigned and answered by its officer
DB_FAULTS = ("db-cut", "db-latency")
KAFKA_FAULTS = ("kafka-cut", "kafka-latency", "kafka-restart")
RESTARTS = ("pg-restart", "dovecot-restart")
PULLED = tuple(PER_THREAD)  # email, hotline: with a pullers role
KAFKA_CUT_SECONDS = 3.0
KAFKA_LATENCY_SECONDS, KAFKA_LATENCY_MS = 5.0, 300
DB_CUT_SECONDS = 3.0
DB_LATENCY_SECONDS, DB_LATENCY_MS = 5.0, 300


@dataclass
class Config:
    messages: int = 10_000
    roles: dict[str, int] = field(default_factory=lambda: {
        "webhooks": 2, "pullers": 2, "normalizer": 3, "router": 2, "senders": 2})
    faults: list[str] = field(default_factory=lambda: [
        "webhooks", "pullers", "normalizer", "router", "senders"])
    concurrency: int = 16
    seed: int = 0
    rate: float = 25.0  # messages offered per second at most
    redeliver: float = 0.03  # the share of acknowledged messages the provider sends again
    replies: int = 0  # Messenger tickets the officers answer (needs a senders process)
    settle_timeout: float = 600.0
    # officers' capacity in total: beyond it, tickets are queued
    capacity: int = 0
    poison: int = 3  # unreadable mails among the mail (with a pullers role; at most 3)


class Proc:
    """One ``cskh serve --role ROLE`` process, restartable on the same port."""

    def __init__(self, role: str, index: int, env: dict[str, str], work: Path) -> None:
        self.role = role
        self.name = f"{role}-{index}"
        self.port = free_port()
        self.env = {**env, "CSKH_HTTP_PORT": str(self.port)}
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False
        self.busy = False  # being killed or started: the supervisor leaves it alone

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    async def start(self, http: aiohttp.ClientSession, timeout: float = 180.0) -> None:
        log = (self.work / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen([CSKH, "serve", "--role", self.role], env=self.env,
                                     cwd=self.work, stdout=log, stderr=log)
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                tail = (self.work / f"{self.name}.log").read_text()[-3000:]
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {tail}")
            try:
                async with http.get(f"{self.url}/readyz") as resp:
                    if resp.status == 200:
                        self.ready = True
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.ready = False
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)
        self.proc = None


def cli(env: dict[str, str], work: Path, *args: str) -> str:
    done = subprocess.run([CSKH, *args], env=env, cwd=work, capture_output=True, timeout=300,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"cskh {' '.join(args)}: {done.stderr.decode()[-2000:]}")
    return done.stdout.decode()


def service_env(backend_env: dict[str, str]) -> dict[str, str]:
    """The processes' environment: the backend, every channel's secret, quiet JSON logs."""
    env = {**os.environ, **backend_env, "CSKH_LOG_FORMAT": "json", "CSKH_LOG_LEVEL": "WARNING"}
    env.update({f"CSKH_{name.upper()}": str(value) for name, value in SECRETS.items()})
    return env


async def routed(database_url: str, channel: str, external_id: str) -> bool:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            status = await s.scalar(
                select(Ticket.status).join(Message, Message.ticket_id == Ticket.id)
                .where(Message.channel == channel, Message.external_id == external_id))
            return status in SETTLED
    finally:
        await engine.dispose()


Snapshot = tuple[Counter[tuple[str, str]], dict[str, set[int]], Counter[str], Counter[int],
                 dict[tuple[str, str], set[int]]]


async def snapshot(database_url: str) -> Snapshot:
    """(stored inbound messages per key, tickets per thread, tickets per status,
    assignments per ticket, tickets per key)."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            rows = (await s.execute(
                select(Message.channel, Message.external_id, Message.ticket_id,
                       Ticket.thread_key).join(Ticket, Ticket.id == Message.ticket_id)
                .where(Message.direction == "inbound"))).all()
            statuses: Counter[str] = Counter()
            for status, n in await s.execute(
                    select(Ticket.status, func.count()).group_by(Ticket.status)):
                statuses[status] = n
            per_ticket: Counter[int] = Counter()
            for ticket_id, n in await s.execute(
                    select(Assignment.ticket_id, func.count()).group_by(Assignment.ticket_id)):
                per_ticket[ticket_id] = n
    finally:
        await engine.dispose()
    stored: Counter[tuple[str, str]] = Counter()
    threads: dict[str, set[int]] = {}
    on: dict[tuple[str, str], set[int]] = {}
    for channel, ext, ticket_id, thread in rows:
        stored[channel, ext] += 1
        threads.setdefault(thread, set()).add(ticket_id)
        on.setdefault((channel, ext), set()).add(ticket_id)
    return stored, threads, statuses, per_ticket, on


async def run(config: Config) -> Report:
    """Run the suite once on fresh Kafka topics and a fresh PostgreSQL database."""
    rng = random.Random(config.seed)
    run_id = rng.randrange(100_000, 999_999)
    async with fresh_backend("distributed") as (backend_env, database_url), \
            contextlib.AsyncExitStack() as servers:
        work = Path(tempfile.mkdtemp(prefix="cskh-faults-"))
        env = service_env(backend_env)
        postgres: OwnPostgres | None = None
        if "pg-restart" in config.faults:  # a server of the suite's own, to restart
            postgres = OwnPostgres()
            servers.callback(postgres.remove)
            await asyncio.to_thread(postgres.init)
            await asyncio.to_thread(postgres.start)
            database_url = await postgres.create_database(f"cskh_faults_{run_id}")
            env["CSKH_DATABASE_URL"] = database_url
        dovecot: OwnDovecot | None = None
        cdr: CdrFile | None = None
        if "pullers" in config.roles:  # mail in a Dovecot of the suite's own, calls in a CSV
            dovecot = OwnDovecot()
            servers.callback(dovecot.remove)
            dovecot.write_config()
            await asyncio.to_thread(dovecot.start)
            cdr = CdrFile(work / "cdr")
            cdr.directory.mkdir()
            env.update({"CSKH_IMAP_HOST": dovecot.host, "CSKH_IMAP_PORT": str(dovecot.port),
                        "CSKH_IMAP_USER": dovecot.user, "CSKH_IMAP_PASSWORD": dovecot.password,
                        "CSKH_IMAP_TLS": "false", "CSKH_IMAP_POLL_SECONDS": "1",
                        "CSKH_HOTLINE_CDR_DIR": str(cdr.directory),
                        "CSKH_HOTLINE_CDR_POLL_SECONDS": "0.5"})
        cli(env, work, "migrate")
        capacity = config.capacity or max(1, config.messages // 2)
        tokens: dict[int, str] = {}
        for k in range(2):
            added = json.loads(cli(
                env, work, "staff", "add", "--name", f"Officer {k}", "--capacity",
                str(max(1, capacity // 2)), "--json",
                *(a for q in QUEUES for a in ("--queue", q))))
            tokens[int(added["id"])] = str(added["token"])
        timeout = aiohttp.ClientTimeout(total=15)
        proxy: Toxiproxy | None = None
        broker: OwnBroker | None = None
        async with aiohttp.ClientSession(timeout=timeout) as http, \
                contextlib.AsyncExitStack() as stack:
            procs: list[Proc] = []
            messenger: StandIn | None = None
            try:
                if any(f in DB_FAULTS + KAFKA_FAULTS for f in config.faults):
                    proxy = Toxiproxy(executable(), work)
                    await proxy.start(http)
                if any(f in KAFKA_FAULTS for f in config.faults):
                    assert proxy is not None
                    # the proxy's port is known before the broker starts: it is what the
                    # broker advertises
                    listen = free_port()
                    broker = OwnBroker(work, advertised=listen)
                    await proxy.proxy(http, "kafka", f"127.0.0.1:{broker.port}", listen=listen)
                    broker.format()
                    await broker.start()
                    env["CSKH_BUS"] = f"kafka://{broker.bootstrap}"
                if config.replies:
                    state = StandIn()
                    messenger = await stack.enter_async_context(
                        contextlib.asynccontextmanager(serve)(messenger_app(state), state))
                    env["CSKH_FACEBOOK_PAGE_TOKEN"] = MESSENGER_PAGE_TOKEN
                    env["CSKH_FACEBOOK_GRAPH_URL"] = f"{messenger.url}/v21.0"
                if any(f in DB_FAULTS for f in config.faults):
                    assert proxy is not None
                    netloc = database_url.split("://", 1)[1].split("/", 1)[0]
                    upstream = netloc.rpartition("@")[2]
                    port = await proxy.proxy(http, "postgres", upstream)
                    env["CSKH_DATABASE_URL"] = database_url.replace(
                        f"@{upstream}/", f"@127.0.0.1:{port}/", 1)
                procs = [Proc(role, i, env, work) for role, n in config.roles.items()
                         for i in range(n)]
                return await _drive(config, rng, run_id, procs, http, database_url, proxy,
                                    messenger, tokens, broker, postgres, dovecot, cdr,
                                    lambda: json.loads(cli(env, work, "dlq", "ls", "--json")))
            finally:
                for proc in procs:
                    proc.kill(signal.SIGTERM)
                if broker is not None:
                    broker.stop()
                if proxy is not None:
                    proxy.stop()
                print(f"process logs in {work}")


async def _fault(what: str, procs: list[Proc], proxy: Toxiproxy | None,
                 http: aiohttp.ClientSession, rng: random.Random,
                 broker: OwnBroker | None = None, postgres: OwnPostgres | None = None,
                 dovecot: OwnDovecot | None = None) -> float:
    """Inflict ``what``; returns how long it lasted (a process: until it is ready again)."""
    began = time.monotonic()
    if what == "dovecot-restart":
        assert dovecot is not None
        await asyncio.to_thread(dovecot.restart)
    elif what == "pg-restart":
        assert postgres is not None
        await postgres.restart()
    elif what == "kafka-cut":
        assert proxy is not None
        await proxy.enable(http, "kafka", False)
        await asyncio.sleep(KAFKA_CUT_SECONDS)
        await proxy.enable(http, "kafka", True)
    elif what == "kafka-latency":
        assert proxy is not None
        await proxy.add_toxic(http, "kafka", "slow", "latency",
                              {"latency": KAFKA_LATENCY_MS, "jitter": KAFKA_LATENCY_MS // 3})
        await asyncio.sleep(KAFKA_LATENCY_SECONDS)
        await proxy.remove_toxic(http, "kafka", "slow")
    elif what == "kafka-restart":
        assert broker is not None
        await broker.restart()
    elif what == "db-cut":
        assert proxy is not None
        await proxy.enable(http, "postgres", False)
        await asyncio.sleep(DB_CUT_SECONDS)
        await proxy.enable(http, "postgres", True)
    elif what == "db-latency":
        assert proxy is not None
        await proxy.add_toxic(http, "postgres", "slow", "latency",
                              {"latency": DB_LATENCY_MS, "jitter": DB_LATENCY_MS // 3})
        await asyncio.sleep(DB_LATENCY_SECONDS)
        await proxy.remove_toxic(http, "postgres", "slow")
    else:
        victim = rng.choice([p for p in procs if p.role == what])
        victim.busy = True
        try:
            victim.kill()
            await asyncio.sleep(rng.uniform(0.0, 2.0))
            await victim.start(http)
        finally:
            victim.busy = False
    return time.monotonic() - began


async def _supervise(procs: list[Proc], http: aiohttp.ClientSession,
                     exits: Counter[str]) -> None:
    """Start again every process that exited by itself (as systemd or Kubernetes would)."""
    while True:
        for proc in procs:
            if not proc.busy and proc.exited():
                exits[proc.name] += 1
                proc.busy = True
                try:
                    await asyncio.sleep(1.0)  # systemd's RestartSec, shortened
                    await proc.start(http)
                except RuntimeError:
                    pass  # exited again while starting: the next round tries again
                finally:
                    proc.busy = False
        await asyncio.sleep(0.5)


async def _drive(config: Config, rng: random.Random, run_id: int, procs: list[Proc],
                 http: aiohttp.ClientSession, database_url: str, proxy: Toxiproxy | None,
                 messenger: StandIn | None, tokens: dict[int, str],
                 broker: OwnBroker | None = None, postgres: OwnPostgres | None = None,
                 dovecot: OwnDovecot | None = None, cdr: CdrFile | None = None,
                 dead_letters: Callable[[], list[dict[str, Any]]] | None = None) -> Report:
    for proc in procs:
        await proc.start(http)
    exits: Counter[str] = Counter()
    supervisor = asyncio.create_task(_supervise(procs, http, exits))

    def urls() -> list[str]:
        return [p.url for p in procs if p.role == "webhooks" and p.ready]

    sinks: dict[str, Sink] = {}
    if dovecot is not None and cdr is not None:
        sinks = {"email": MailDrop(dovecot), "hotline": cdr}
    channels = CHANNELS + PULLED if sinks else CHANNELS

    def message(i: int) -> Sent:
        channel = channels[i % len(channels)]
        if channel == "email":
            return build_mail(run_id, i, len(channels))
        if channel == "hotline":
            return build_call(run_id, i, len(channels))
        return build(run_id, i, channels)

    poster = Poster(http, urls, rng, redeliver=config.redeliver, sinks=sinks)
    poisons = poison(run_id, rng)[:config.poison] if sinks else []
    poison_at = sorted(rng.randrange(config.messages) for _ in poisons)
    appended: list[tuple[str, bytes]] = []
    progress = 0
    recoveries: list[tuple[str, int, float, float]] = []
    points = sorted(rng.uniform(0.1, 0.8) for _ in config.faults)
    faults = [(int(p * config.messages), role) for p, role in zip(points, rng.sample(
        config.faults, len(config.faults)), strict=True)]

    async def inject() -> None:
        for k, (at, what) in enumerate(faults):
            while progress < at:
                await asyncio.sleep(0.05)
            killed = time.monotonic()
            at_message = progress
            took = await _fault(what, procs, proxy, http, rng, broker, postgres, dovecot)
            # a mail when the fault is the mail's (a puller killed, Dovecot restarted)
            probe = (probe_mail(run_id, k) if what in ("dovecot-restart", "pullers") else
                     Sent("webform", f"faults-{run_id}-probe-{k}", f"probe-{k}",
                          _probe_body(run_id, k)))
            await poster.send(probe)
            while not await routed(database_url, probe.channel, probe.external_id):
                if time.monotonic() - killed > config.settle_timeout:
                    break
                await asyncio.sleep(0.2)
            recoveries.append((what, at_message, took, time.monotonic() - killed))

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(config.messages):
        queue.put_nowait(i)

    began = time.monotonic()

    async def worker() -> None:
        nonlocal progress
        while not queue.empty():
            i = queue.get_nowait()
            # paced, so that the drive lasts long enough for every fault to fall inside it
            wait = began + i / config.rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await poster.send(message(i))
            progress += 1
            while poison_at and progress >= poison_at[0]:
                poison_at.pop(0)
                name, raw = poisons[len(appended)]
                appended.append((name, raw))  # before the await: no other worker takes it
                while not await sinks["email"](Sent("email", name, name, raw)):
                    await asyncio.sleep(0.5)  # Dovecot restarting

    replies = Replies()
    drained = asyncio.Event()
    replier = asyncio.create_task(reply_loop(http, database_url, urls, tokens, config.replies,
                                             rng, drained, replies))
    injector = asyncio.create_task(inject())
    await asyncio.gather(*(worker() for _ in range(config.concurrency)))
    await injector
    last_ack = time.monotonic()

    tally = poster.tally
    while True:
        stored, threads, statuses, per_ticket, on = await snapshot(database_url)
        present = all(key in stored for key in tally.accepted)
        if present and sum(statuses.values()) == sum(statuses[s] for s in SETTLED):
            break
        if time.monotonic() - last_ack > config.settle_timeout:
            break
        await asyncio.sleep(0.5)
    settled_after = time.monotonic() - last_ack
    drained.set()
    await replier
    acknowledged, missing, twice = 0, 0, 0
    if messenger is not None:
        began = time.monotonic()
        while True:
            acknowledged, missing, twice = replies.check(messenger)
            if not missing or time.monotonic() - began > config.settle_timeout:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # a late second send would show now
        acknowledged, missing, twice = replies.check(messenger)
    poisoned = (await check_poison(dead_letters, appended, stored, config.settle_timeout)
                if appended and dead_letters is not None else None)
    supervisor.cancel()
    tickets = sum(statuses.values())
    sent_threads: dict[str, set[int]] = {}
    for key, thread in tally.threads.items():
        sent_threads.setdefault(thread, set()).update(on.get(key, set()))
    expected = tally.accepted | set(tally.abandoned)
    return Report(
        driven=tally.driven, accepted=len(tally.accepted), retried=tally.retried,
        refused_503=tally.refused_503, failed_posts=tally.failed_posts,
        redelivered=tally.redelivered, rejected=tally.rejected, abandoned=len(tally.abandoned),
        lost=sorted(k for k in tally.accepted if k not in stored),
        duplicated=sum(n - 1 for n in stored.values()),
        split_threads=sum(1 for ids in threads.values() if len(ids) > 1),
        split_sent=sum(1 for ids in sent_threads.values() if len(ids) > 1),
        unexpected=sum(1 for key in stored if key not in expected),
        by_channel=dict(Counter(channel for channel, _ in tally.accepted)),
        poison=poisoned,
        unsettled_tickets=tickets - sum(statuses[s] for s in SETTLED), tickets=tickets,
        assigned=statuses["assigned"] + statuses["open"], queued=statuses["queued"],
        multi_assigned=sum(1 for n in per_ticket.values() if n > 1),
        recoveries=recoveries, settled_after=settled_after, exits=dict(exits),
        replies=acknowledged, replies_unknown=replies.unknown, replies_retried=replies.retried,
        replies_refused=tuple(replies.refused), replies_missing=missing, replies_twice=twice)


def _probe_body(run_id: int, k: int) -> bytes:
    return json.dumps({"name": "Khách thử", "email": f"probe{k}@cty.vn", "subject": "Thử",
                       "message": f"Tin nhắn thử sau sự cố {k}",
                       "submission_id": f"faults-{run_id}-probe-{k}"},
                      ensure_ascii=False).encode()
