"""``python -m tests.faults [--messages N] [--roles R=N,…] [--faults R,…] [--seed S]``.

Needs the test services' environment (``CSKH_TEST_KAFKA``, ``CSKH_TEST_POSTGRES_DSN``: run
``. .services/env``) and, with a ``pullers`` role, Debian's ``dovecot`` binary (the suite
runs a Dovecot of its own). Drives web forms, signed Messenger, Zalo and Shopee webhooks and,
with ``pullers``, mail APPENDed over IMAP and Asterisk call lines (``Master.csv``), plus a
few unreadable poison mails. Prints the figures; exits 1 when a message was lost or
duplicated, a thread split, a message stored that was never sent, a ticket left neither
assigned nor queued, a post refused with a 4xx, a poison mail missing from ``cskh.dlq`` (or
not byte for byte, or made a message), or a staff reply the API acknowledged was sent to the
customer never or twice; then, on the embedded default, checks that a second ``cskh serve``
on the same files is refused cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tests.faults.embedded import second_serve
from tests.faults.suite import DB_FAULTS, KAFKA_FAULTS, RESTARTS, Config, run


def roles(value: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in value.split(","):
        role, _, count = part.partition("=")
        out[role.strip()] = int(count or 1)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000,
                        help="messages driven (web forms, Messenger, Zalo, Shopee and, with a "
                             "pullers role, mail and call lines in turn; default 10,000)")
    parser.add_argument("--roles", type=roles,
                        default="webhooks=2,pullers=2,normalizer=3,router=2,senders=2",
                        metavar="ROLE=N,…",
                        help="processes started per role (default %(default)s)")
    parser.add_argument("--faults", type=lambda v: v.split(","),
                        default="webhooks,pullers,normalizer,router,senders,db-cut,db-latency,"
                                "dovecot-restart",
                        metavar="ROLE,…",
                        help="one kill -9 and restart of a process of each role listed, at "
                             "random points of the drive (a role may be listed twice); "
                             "db-cut: PostgreSQL unreachable for 3 s, db-latency: 300 ms "
                             "more per packet for 5 s (through Toxiproxy); kafka-cut, "
                             "kafka-latency: the same between the processes and a broker of "
                             "the suite's own, kafka-restart: that broker stopped and started "
                             "again; pg-restart: a PostgreSQL server of the suite's own "
                             "restarted (fast shutdown); dovecot-restart: the suite's Dovecot "
                             "stopped (master and sessions) and started again (needs pullers); "
                             "default %(default)s")
    parser.add_argument("--replies", type=int, default=100,
                        help="Messenger tickets the officers answer through the staff API "
                             "while the faults happen, sent by the senders role to a Send API "
                             "stand-in (0: none; needs a senders process)")
    parser.add_argument("--rate", type=float, default=25.0,
                        help="messages offered per second at most, so that the faults fall "
                             "inside the drive (default 25)")
    parser.add_argument("--concurrency", type=int, default=16, help="posts in flight")
    parser.add_argument("--seed", type=int, default=0, help="where the faults fall")
    args = parser.parse_args(argv)
    if not (os.environ.get("CSKH_TEST_KAFKA") and os.environ.get("CSKH_TEST_POSTGRES_DSN")):
        print("needs Kafka and PostgreSQL: run `make services` and `. .services/env`",
              file=sys.stderr)
        return 2
    if not os.environ.get("CSKH_MODEL_PATH"):
        from normalizer.classifier import Classifier

        path = Path(tempfile.mkdtemp(prefix="cskh-faults-model-")) / "model.joblib"
        Classifier.load_or_train(path)
        os.environ["CSKH_MODEL_PATH"] = str(path)
    unknown = [f for f in args.faults
               if f not in args.roles and f not in DB_FAULTS + KAFKA_FAULTS + RESTARTS]
    if unknown:
        parser.error(f"--faults names roles not started: {', '.join(unknown)}")
    if set(args.faults) & set(KAFKA_FAULTS) and not os.environ.get("CSKH_TEST_KAFKA_JARS"):
        parser.error("the kafka-* faults need CSKH_TEST_KAFKA_JARS and CSKH_TEST_JAVA "
                     "(`. .services/env` after `make services`)")
    if "dovecot-restart" in args.faults and "pullers" not in args.roles:
        parser.error("dovecot-restart needs a pullers process (--roles …,pullers=1)")
    if args.replies and "senders" not in args.roles:
        parser.error("--replies needs a senders process (--roles …,senders=1)")
    config = Config(messages=args.messages, roles=args.roles, faults=args.faults,
                    concurrency=args.concurrency, seed=args.seed, replies=args.replies,
                    rate=args.rate)
    print(f"cskh-inbox fault suite, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} "
          f"cores; processes: {', '.join(f'{n} {r}' for r, n in args.roles.items())}; "
          f"faults: {', '.join(args.faults)}; {args.messages} messages")
    report = asyncio.run(run(config))
    for line in report.lines():
        print(line)
    second = asyncio.run(second_serve())
    refused = (second.exit_code == 1 and not second.listened and second.first_still_ready
               and second.tickets == second.forms)
    print(f"embedded default, a second `cskh serve` on the same files: exit {second.exit_code} "
          f"after {second.seconds:.1f}s, listened {second.listened}; the first still ready "
          f"{second.first_still_ready}, {second.tickets}/{second.forms} forms one ticket each: "
          f"{'refused cleanly' if refused else 'NOT refused cleanly'} ({second.message})")
    return 0 if report.ok and refused else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
