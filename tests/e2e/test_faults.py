"""The fault suite's short version (``python -m tests.faults`` is the long one): role
processes on Kafka + PostgreSQL, a normalizer killed with SIGKILL while signed webhooks,
forms, mail (IMAP, two pullers under one lease) and Asterisk call lines arrive and restarted,
PostgreSQL cut off for 3 s through Toxiproxy and restarted (a server of the suite's own, shut
down fast and started again), the suite's Dovecot restarted, while officers answer Messenger
tickets; every accepted message exactly once, on one ticket per thread, every ticket assigned
or queued, every acknowledged reply sent once, every poison mail in the dead-letter topic
byte for byte and no message. Then the same on a Kafka broker of the suite's own: cut off for
3 s, slowed, and restarted."""

from __future__ import annotations

import os

import pytest

from tests.faults.own_dovecot import binary
from tests.faults.report import Report
from tests.faults.suite import Config, run
from tests.support.gotools import go_tool

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def dovecot() -> str:
    """Debian's ``dovecot`` binary, for the Dovecot of the suite's own (``make services``
    installs it)."""
    found = binary()
    if found is None:
        problem = "no dovecot binary (dovecot-imapd) for the fault suite's own Dovecot"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{problem}; under CI every service is mandatory", pytrace=False)
        pytest.skip(problem)
    return found


def assert_mail_and_calls(report: Report) -> None:
    """Mail and call lines came through the pullers, threads whole, poison dead-lettered."""
    assert report.by_channel.get("email", 0) > 0 and report.by_channel.get("hotline", 0) > 0
    assert report.split_sent == 0 and report.unexpected == 0, report.lines()
    assert report.poison is not None and report.poison.appended == 3, report.lines()
    assert report.poison.whole == 3 and report.poison.missing == (), report.lines()
    assert report.poison.made_message == 0 and report.poison.others == 0, report.lines()


async def test_a_normalizer_killed_the_database_cut_and_restarted_lose_and_duplicate_nothing(
        kafka_bootstrap: str, postgres_dsn: str, dovecot: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_TEST_TOXIPROXY", str(go_tool("toxiproxy")))
    report = await run(Config(
        messages=120, roles={"webhooks": 2, "pullers": 2, "normalizer": 2, "router": 1,
                             "senders": 1},
        faults=["normalizer", "db-cut", "pg-restart", "dovecot-restart"], seed=7, redeliver=0.1,
        rate=6.0, replies=6))
    print("\n".join(report.lines()))
    # the messages and a probe after each fault (after the Dovecot restart: a mail)
    assert report.driven == report.accepted == 124, report.lines()
    assert_mail_and_calls(report)
    assert report.rejected == [] and report.abandoned == 0
    assert report.lost == [] and report.duplicated == 0 and report.split_threads == 0
    assert report.unsettled_tickets == 0 and report.assigned + report.queued == report.tickets
    assert report.queued > 0  # the officers' capacity is half the messages: some wait
    assert report.redelivered > 0  # some acknowledged messages came twice and made nothing new
    # the officers' replies reached the Messenger stand-in once each; how many Messenger tickets
    # were assigned to answer before the drive ended is a matter of timing (at most 6)
    assert report.replies_refused == () and report.replies_unknown == 0, report.lines()
    assert 0 < report.replies <= 6, report.lines()
    assert (report.replies_missing, report.replies_twice) == (0, 0), report.lines()
    recoveries = {what: (took, routed) for what, _, took, routed in report.recoveries}
    assert set(recoveries) == {"normalizer", "db-cut", "pg-restart", "dovecot-restart"}
    assert all(0 < took <= routed for took, routed in recoveries.values())


async def test_the_broker_cut_slowed_and_restarted_loses_and_duplicates_nothing(
        kafka_jars: object, postgres_dsn: str, dovecot: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_TEST_TOXIPROXY", str(go_tool("toxiproxy")))
    faults = ["kafka-cut", "kafka-latency", "kafka-restart"]
    report = await run(Config(
        messages=120, roles={"webhooks": 1, "pullers": 1, "normalizer": 1, "router": 1,
                             "senders": 1},
        faults=faults, seed=5, redeliver=0.1, rate=6.0, replies=4))
    print("\n".join(report.lines()))
    assert report.driven == report.accepted == 123, report.lines()
    assert_mail_and_calls(report)
    assert report.rejected == [] and report.abandoned == 0
    assert report.lost == [] and report.duplicated == 0 and report.split_threads == 0
    assert report.unsettled_tickets == 0 and report.assigned + report.queued == report.tickets
    assert report.replies_refused == () and report.replies_unknown == 0, report.lines()
    assert (report.replies_missing, report.replies_twice) == (0, 0), report.lines()
    recoveries = {what: (took, routed) for what, _, took, routed in report.recoveries}
    assert set(recoveries) == set(faults)
    assert all(0 < took <= routed for took, routed in recoveries.values())
