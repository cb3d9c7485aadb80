"""Web form throughput and latency, end to end, on each backend pair, against a bare ceiling.

Prints, for each backend pair: forms accepted per second (POST → 202 after the durable
append) at 32 and at 128 requests in flight, tickets assigned per second, and p50/p99
latency from POST to assignment at a steady offered load; plus the same accept measurement
against two ceilings in the same run, and each figure's ratio to them: a bare aiohttp
handler that writes nothing (``bare.py``), and a durable one that makes the same durable
write as ours and nothing else (``durable.py``: an fsync'd, group-committed SQLite insert;
an aiokafka send with acks=all) before its 202; the server's
own CPU per request, ours and the bare handler's (steadier than the ratio when the load
generator's share of the cores varies). Peak RSS of the service process too, and the disk's
fsync latency before each pair (the embedded log's accept figure moves with it). At the end,
each floor set for the flow beside this run's figure (printed, never asserted).

    make bench                      # both pairs when Kafka and PostgreSQL are up
    make bench BENCH_ARGS="--backend embedded --forms 3000 --rate 200 --seconds 10"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select

from storage.db import create_engine, session_factory
from storage.models import Assignment, Message, Ticket
from tests.support.service import free_port

CSKH = str(Path(sys.executable).with_name("cskh"))
# The floors set for the flow on two cores shared with the broker and the database.
FLOOR_END_TO_END = 500.0  # tickets assigned per second
FLOOR_P99_MS = 500.0  # POST → assignment, at a steady 200 forms/s
FLOOR_ACCEPT = 0.5  # of the bare handler's requests per second
FLOOR_ACCEPT_DURABLE = 0.7  # of the durable bare handler's (same durable write, nothing else)
QUEUES = ("cskh", "sales", "accounting", "warehouse", "technical")
MESSAGES = (
    "Hóa đơn VAT số {i} ghi sai mã số thuế, đề nghị xuất lại hóa đơn điện tử.",
    "Đơn hàng {i} giao chậm 3 ngày, chua nhan duoc hang, kiểm tra vận chuyển giúp.",
    "Cho em xin báo giá mới nhất cho đơn {i}, số lượng 200 thùng ạ.",
    "Máy mua tháng trước bị lỗi, còn bảo hành không? Mã {i} 😡",
    "Đề nghị đối chiếu công nợ quý 3, mã khách {i}.",
)


def form(run: str, i: int) -> dict[str, str]:
    return {"name": f"Khách {i}", "company": f"Công ty {i % 50}",
            "email": f"kh{i % 400}@cty{i % 50}.vn", "subject": "Phản hồi",
            "message": MESSAGES[i % len(MESSAGES)].format(i=i),
            "submission_id": f"{run}-{i}"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@dataclass
class Floors:
    """Each floor beside this run's figure, printed together after the last pair."""

    lines: list[str] = field(default_factory=list)

    def check(self, what: str, figure: str, met: bool) -> None:
        self.lines.append(f"  {'met' if met else 'NOT met':7}  {what}: {figure}")

    def print(self) -> None:
        print("floors (set for two cores shared by the load generator, the service, broker and "
              "database):")
        for line in self.lines:
            print(line)


@dataclass
class Server:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: aiohttp.ClientSession) -> None:
        log = (self.cwd / "server.log").open("ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log,
                                     stderr=log)
        for _ in range(1200):
            if self.proc.poll() is not None:
                raise RuntimeError((self.cwd / "server.log").read_text()[-3000:])
            try:
                async with http.get(f"{self.url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def stop(self) -> float:
        assert self.proc is not None
        rss = peak_rss_mib(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        return rss


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, str]) -> int:
    async with http.post(f"{url}/webhooks/webform", json=body) as resp:
        await resp.read()
        return resp.status


async def burst(http: aiohttp.ClientSession, url: str, run: str, n: int,
                concurrency: int) -> tuple[float, int]:
    """Offer ``n`` forms with ``concurrency`` in flight; returns (accepted/s, accepted)."""
    counter = iter(range(n))
    accepted = 0

    async def worker() -> None:
        nonlocal accepted
        for i in counter:
            if await post(http, url, form(run, i)) == 202:
                accepted += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted / (time.perf_counter() - began), accepted


async def keep_busy(http: aiohttp.ClientSession, url: str, seconds: float,
                    concurrency: int) -> int:
    """Offer forms for ``seconds`` with ``concurrency`` in flight; returns how many."""
    began = time.perf_counter()
    offered = 0
    while time.perf_counter() - began < seconds:
        await burst(http, url, f"warm{offered}", 1000, concurrency)
        offered += 1000
    return offered


async def steady(http: aiohttp.ClientSession, url: str, run: str, rate: float,
                 seconds: float) -> dict[str, float]:
    """Offer ``rate`` forms per second for ``seconds``; returns {submission id: POST time}."""
    sent: dict[str, float] = {}
    tasks: list[asyncio.Task[int]] = []
    began = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        body = form(run, i)
        sent[body["submission_id"]] = time.time()
        tasks.append(asyncio.create_task(post(http, url, body)))
    statuses = await asyncio.gather(*tasks)
    if any(s != 202 for s in statuses):
        print(f"  warning: {sum(s != 202 for s in statuses)} steady posts not accepted")
    return sent


async def assigned_count(database_url: str, prefix: str) -> int:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            count = await s.scalar(
                select(func.count()).select_from(Assignment)
                .join(Message, Message.ticket_id == Assignment.ticket_id)
                .where(Message.external_id.like(f"{prefix}-%")))
            return int(count or 0)
    finally:
        await engine.dispose()


async def assignment_times(database_url: str, prefix: str) -> dict[str, datetime]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            rows = await s.execute(
                select(Message.external_id, Assignment.assigned_at)
                .join(Ticket, Ticket.id == Message.ticket_id)
                .join(Assignment, Assignment.ticket_id == Ticket.id)
                .where(Message.external_id.like(f"{prefix}-%")))
            return {ext: at for ext, at in rows.all()}
    finally:
        await engine.dispose()


async def wait_assigned(database_url: str, prefix: str, want: int, limit: float) -> float:
    """Seconds until ``want`` forms of run ``prefix`` are assigned (or ``limit`` passes)."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit:
        if await assigned_count(database_url, prefix) >= want:
            break
        await asyncio.sleep(0.05)
    return time.perf_counter() - began


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fsync_latency(count: int = 200) -> tuple[float, float]:
    """p50 and p90, in µs, of a 4 KiB write and ``fdatasync`` where the embedded log lives
    (the temporary directory): what each of its group commits waits on with
    ``CSKH_BUS_FSYNC=full``. On a shared VM it varies from run to run, and the accept figure
    of the embedded log with it."""
    fd, path = tempfile.mkstemp(prefix="cskh-bench-fsync-")
    try:
        block = os.urandom(4096)
        took: list[float] = []
        for i in range(count):
            began = time.perf_counter()
            os.pwrite(fd, block, (i % 64) * 4096)
            os.fdatasync(fd)
            took.append((time.perf_counter() - began) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    return pct(took, 0.5), pct(took, 0.9)


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete a run's topics: a bench run leaves hundreds of MB in them otherwise."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if topics:
            await admin.delete_topics(topics)
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def fresh_backend(kind: str) -> AsyncIterator[tuple[dict[str, str], str]]:
    """A new, empty backend pair: (CSKH_* environment, database URL); removed afterwards."""
    if kind == "embedded":
        tmp = Path(tempfile.mkdtemp(prefix="cskh-bench-db-"))
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        try:
            yield {"CSKH_DATABASE_URL": url, "CSKH_BUS": "sqlite"}, url
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    kafka, dsn = os.environ["CSKH_TEST_KAFKA"], os.environ["CSKH_TEST_POSTGRES_DSN"]
    db = f"cskh_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.close()
    netloc = dsn.split("://", 1)[1].split("/", 1)[0]
    url = f"postgresql+asyncpg://{netloc}/{db}"
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    try:
        yield {"CSKH_DATABASE_URL": url, "CSKH_BUS": f"kafka://{kafka}",
               "CSKH_KAFKA_TOPIC_PREFIX": prefix}, url
    finally:
        try:
            await delete_topics(kafka, prefix)
        finally:
            admin = await asyncpg.connect(dsn)
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await admin.close()


def prepare(env: dict[str, str], work: Path) -> dict[str, str]:
    # one client address posts every form: the public per-address limit would refuse the load
    base_env = {**os.environ, **env, "CSKH_LOG_FORMAT": "json", "CSKH_LOG_LEVEL": "WARNING",
                "CSKH_FORM_RATE_PER_MINUTE": "0"}
    subprocess.run([CSKH, "migrate"], env=base_env, cwd=work, check=True, capture_output=True)
    for q in QUEUES:
        for k in range(4):
            subprocess.run([CSKH, "staff", "add", "--name", f"{q}-{k}", "--queue", q,
                            "--capacity", "1000000"], env=base_env, cwd=work, check=True,
                           capture_output=True)
    return base_env


def ceilings(env: dict[str, str], extra_env: dict[str, str], work: Path) -> list[Server]:
    """The two ceilings: the bare handler, and the durable one on the pair's own store."""
    bare_port, durable_port = free_port(), free_port()
    here = Path(__file__)
    if env["CSKH_BUS"].startswith("kafka://"):
        store = ["kafka", env["CSKH_BUS"].removeprefix("kafka://"),
                 f"{env['CSKH_KAFKA_TOPIC_PREFIX']}durable",
                 os.environ.get("CSKH_BUS_PARTITIONS", "4")]
    else:
        store = ["sqlite", str(work / "durable.db"),
                 extra_env.get("CSKH_BUS_FSYNC", "full").upper()]
    return [Server([sys.executable, str(here.with_name("bare.py")), str(bare_port)],
                   dict(os.environ), work, bare_port),
            Server([sys.executable, str(here.with_name("durable.py")), str(durable_port),
                    *store], dict(os.environ), work, durable_port)]


def servers(base_env: dict[str, str], work: Path, split: bool) -> list[Server]:
    """One ``cskh serve`` with every role, or webhooks and consumers as two processes."""
    role_sets = [["webhooks"], ["normalizer", "router"]] if split else [[]]
    made = []
    for roles in role_sets:
        port = free_port()
        argv = [CSKH, "serve", *(a for r in roles for a in ("--role", r))]
        made.append(Server(argv, {**base_env, "CSKH_HTTP_PORT": str(port)}, work, port))
    return made


async def bench_accept_only(name: str, kind: str, args: argparse.Namespace, floors: Floors,
                            extra_env: dict[str, str] | None = None) -> float:
    """The accept path alone (validation + durable append, ``--role webhooks``, no consumers)
    against the bare handler and the durable bare handler, in rotating rounds so that all
    three see the same machine, at each of ``args.accept_concurrency`` requests in flight.

    Each append waits for its group commit (an fsync, or Kafka's acknowledgement), so with few
    requests in flight ours can wait on the disk while the bare handler never does; with more,
    the commits gather more forms each. Both figures are printed.

    Returns the bare handler's median rate at ``args.concurrency`` in flight (or at the first
    level measured), the ceiling the end-to-end figures are compared with.
    """
    levels: list[int] = args.accept_concurrency
    rates: dict[tuple[str, int], list[float]] = {}
    cpu_us: dict[tuple[str, int], list[float]] = {}
    async with fresh_backend(kind) as (env, _url):
        work = Path(tempfile.mkdtemp(prefix=f"cskh-bench-{name}-accept-"))
        base_env = prepare({**env, **(extra_env or {})}, work)
        (ours,) = servers(base_env, work, split=False)
        ours.argv += ["--role", "webhooks"]
        bare, durable = ceilings(env, extra_env or {}, work)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await ours.start(http)
            await bare.start(http)
            await durable.start(http)
            for server in (bare, durable, ours):
                await burst(http, server.url, "warm", 300, 16)
            if kind == "distributed" and args.broker_warmup > 0:
                # A broker just started (``make services``) answers 2,300–3,300 forms/s for its
                # first 15 s of load here and settles at 5,000–6,000/s after about a minute:
                # measured cold, the Kafka pair's accept figure came out 25–36% instead of 46–52%.
                offered = await keep_busy(http, ours.url, args.broker_warmup, levels[0])
                print(f"[{name}] broker warm-up: {offered:,} forms over "
                      f"{args.broker_warmup:.0f}s before the rounds")
            trio = (("bare", bare), ("durable", durable), ("ours", ours))
            for level in levels:
                for rnd in range(args.rounds):
                    # The order rotates each round, so that none always runs in another's
                    # aftermath (writeback, the load generator's garbage): in alternating runs
                    # here, the second of a pair was the slower one more often than not.
                    k = rnd % len(trio)
                    for label, server in trio[k:] + trio[:k]:
                        assert server.proc is not None
                        before = cpu_seconds(server.proc.pid)
                        rate, answered = await burst(http, server.url, f"acc{level}-{rnd}",
                                                     args.forms, level)
                        rates.setdefault((label, level), []).append(rate)
                        cpu_us.setdefault((label, level), []).append(
                            (cpu_seconds(server.proc.pid) - before) / max(1, answered) * 1e6)
            ours.stop()
            bare.stop()
            durable.stop()
        shutil.rmtree(work, ignore_errors=True)
    for level in levels:
        ceiling = statistics.median(rates["bare", level])
        durable_ceiling = statistics.median(rates["durable", level])
        accept = statistics.median(rates["ours", level])
        print(f"[{name}] {level} in flight: bare aiohttp handler median {ceiling:,.0f} "
              f"requests/s over {args.rounds} rounds "
              f"({', '.join(f'{r:,.0f}' for r in rates['bare', level])})")
        print(f"[{name}] {level} in flight: accept path alone (--role webhooks) median "
              f"{accept:,.0f} forms/s ({', '.join(f'{r:,.0f}' for r in rates['ours', level])})"
              f" = {accept / ceiling:.0%} of the bare handler")
        print(f"[{name}] {level} in flight: durable bare handler ({durable.argv[3]}) median "
              f"{durable_ceiling:,.0f} requests/s "
              f"({', '.join(f'{r:,.0f}' for r in rates['durable', level])}): ours = "
              f"{accept / durable_ceiling:.0%} of it; it = {durable_ceiling / ceiling:.0%} of "
              f"the bare handler")
        # Steadier than the ratio when the load generator's share of the cores varies: the
        # CPU the server process itself spends per request (all threads, user + system).
        ours_cpu = statistics.median(cpu_us["ours", level])
        bare_cpu = statistics.median(cpu_us["bare", level])
        durable_cpu = statistics.median(cpu_us["durable", level])
        print(f"[{name}] {level} in flight: server CPU per request median {ours_cpu:,.0f} µs "
              f"accepting a form, {bare_cpu:,.0f} µs in the bare handler, {durable_cpu:,.0f} µs "
              f"in the durable one: their cost is {bare_cpu / ours_cpu:.0%} and "
              f"{durable_cpu / ours_cpu:.0%} of ours")
        # Each round's pair ran back to back: their ratios show how far one run can move.
        paired = [o / b for o, b in zip(rates["ours", level], rates["bare", level], strict=True)]
        floors.check(f"[{name}] accept path ≥ {FLOOR_ACCEPT:.0%} of the bare handler, {level} "
                     f"in flight", f"{accept / ceiling:.1%} (rounds {min(paired):.0%}–"
                     f"{max(paired):.0%})", accept / ceiling >= FLOOR_ACCEPT)
        paired = [o / d for o, d in zip(rates["ours", level], rates["durable", level],
                                        strict=True)]
        floors.check(f"[{name}] accept path ≥ {FLOOR_ACCEPT_DURABLE:.0%} of the durable bare "
                     f"handler, {level} in flight", f"{accept / durable_ceiling:.1%} (rounds "
                     f"{min(paired):.0%}–{max(paired):.0%})",
                     accept / durable_ceiling >= FLOOR_ACCEPT_DURABLE)
    reference = args.concurrency if args.concurrency in levels else levels[0]
    return statistics.median(rates["bare", reference])


async def bench_backend(name: str, kind: str, args: argparse.Namespace, ceiling: float,
                        floors: Floors) -> None:
    split = kind == "distributed"
    async with fresh_backend(kind) as (env, database_url):
        work = Path(tempfile.mkdtemp(prefix=f"cskh-bench-{name}-"))
        procs = servers(prepare(env, work), work, split)
        front = procs[0]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            for proc in procs:
                await proc.start(http)
            await burst(http, front.url, "warm", 200, 16)
            await wait_assigned(database_url, "warm", 200, 60)

            run = f"b{uuid.uuid4().hex[:6]}"
            began = time.perf_counter()
            accept_rate, accepted = await burst(http, front.url, run, args.forms,
                                                args.concurrency)
            waited = await wait_assigned(database_url, run, accepted, 300)
            end_to_end = accepted / (time.perf_counter() - began)
            layout = "webhooks and consumers in two processes" if split else "one process"
            print(f"[{name}] {layout}: accepted {accepted}/{args.forms} forms at "
                  f"{accept_rate:,.0f}/s (concurrency {args.concurrency}) while processing = "
                  f"{accept_rate / ceiling:.0%} of the bare handler; all assigned "
                  f"{waited:.2f}s after the last 202")
            print(f"[{name}] end to end (first POST → last assignment): {end_to_end:,.0f} "
                  f"tickets assigned per second = {end_to_end / ceiling:.0%} of the bare handler")
            floors.check(f"[{name}] end to end ≥ {FLOOR_END_TO_END:,.0f} forms/s",
                         f"{end_to_end:,.0f}/s", end_to_end >= FLOOR_END_TO_END)

            srun = f"s{uuid.uuid4().hex[:6]}"
            sent = await steady(http, front.url, srun, args.rate, args.seconds)
            await wait_assigned(database_url, srun, len(sent), 120)
            times = await assignment_times(database_url, srun)
            lat = [(times[k].timestamp() - t) * 1000 for k, t in sent.items() if k in times]
            print(f"[{name}] steady {args.rate:.0f}/s for {args.seconds:.0f}s: "
                  f"{len(lat)}/{len(sent)} assigned; POST→assignment p50 {pct(lat, 0.5):.0f} ms, "
                  f"p99 {pct(lat, 0.99):.0f} ms, max {max(lat, default=float('nan')):.0f} ms")
            p99 = pct(lat, 0.99)
            other_load = "" if args.rate == 200 else " (the floor is set at 200/s)"
            floors.check(f"[{name}] POST→assignment p99 < {FLOOR_P99_MS:.0f} ms at "
                         f"{args.rate:.0f} forms/s{other_load}", f"{p99:.0f} ms",
                         p99 < FLOOR_P99_MS and len(lat) == len(sent))
            rss = [p.stop() for p in procs]
            print(f"[{name}] peak RSS " + ", ".join(f"{r:.0f} MiB" for r in rss))
        shutil.rmtree(work, ignore_errors=True)


async def run(args: argparse.Namespace) -> int:
    print(f"cskh-inbox flow benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} cores; load generator, broker and database share the machine")
    kinds = ["embedded", "distributed"] if args.backend == "both" else [args.backend]
    floors = Floors()
    if "distributed" in kinds and not (os.environ.get("CSKH_TEST_KAFKA")
                                       and os.environ.get("CSKH_TEST_POSTGRES_DSN")):
        print("[postgres+kafka] skipped: run `make services` (CSKH_TEST_KAFKA, "
              "CSKH_TEST_POSTGRES_DSN)")
        kinds.remove("distributed")
    for kind in kinds:
        name = "sqlite+embedded" if kind == "embedded" else "postgres+kafka"
        p50, p90 = fsync_latency()
        print(f"[{name}] disk: a 4 KiB write + fdatasync takes {p50:.0f} µs p50, {p90:.0f} µs "
              f"p90 in {tempfile.gettempdir()} (the embedded log's fsync=full waits on it)")
        ceiling = await bench_accept_only(name, kind, args, floors)
        if kind == "embedded":
            await bench_accept_only(f"{name} CSKH_BUS_FSYNC=normal", kind, args, floors,
                                    {"CSKH_BUS_FSYNC": "normal"})
        await bench_backend(name, kind, args, ceiling, floors)
    floors.print()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "distributed", "both"),
                        default="both")
    parser.add_argument("--forms", type=int, default=3000, help="forms in the burst")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="requests in flight in the end-to-end burst")
    parser.add_argument("--accept-concurrency", type=lambda v: [int(x) for x in v.split(",")],
                        default=[32, 128], metavar="N[,N…]",
                        help="requests in flight for the accept-path rounds (default 32,128)")
    parser.add_argument("--broker-warmup", type=float, default=60.0, metavar="SECONDS",
                        help="forms offered to the Kafka pair before its accept rounds, so that "
                             "a broker just started is measured warm (default 60; 0: none)")
    parser.add_argument("--rate", type=float, default=200.0, help="steady forms per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="steady phase length")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rotating bare/durable/accept rounds (medians are reported)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
