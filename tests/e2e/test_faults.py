"""The fault suite's short version (``python -m tests.faults`` is the long one): role
processes on Kafka + PostgreSQL, a normalizer killed with SIGKILL while signed webhooks and
forms arrive and restarted, PostgreSQL cut off for 3 s through Toxiproxy and restarted (a
server of the suite's own, shut down fast and started again), while officers
answer Messenger tickets; every accepted message exactly once, on one ticket per thread,
every ticket assigned or queued, every acknowledged reply sent once. Then the same on a Kafka
broker of the suite's own: cut off for 3 s, slowed, and restarted."""

from __future__ import annotations

import pytest

from tests.faults.suite import Config, run
from tests.support.gotools import go_tool

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


async def test_a_normalizer_killed_the_database_cut_and_restarted_lose_and_duplicate_nothing(
        kafka_bootstrap: str, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_TEST_TOXIPROXY", str(go_tool("toxiproxy")))
    report = await run(Config(
        messages=120, roles={"webhooks": 2, "normalizer": 2, "router": 1, "senders": 1},
        faults=["normalizer", "db-cut", "pg-restart"], seed=7, redeliver=0.1, rate=6.0, replies=6))
    print("\n".join(report.lines()))
    assert report.driven == report.accepted == 123  # the messages and a probe after each fault
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
    assert set(recoveries) == {"normalizer", "db-cut", "pg-restart"}
    assert all(0 < took <= routed for took, routed in recoveries.values())


async def test_the_broker_cut_slowed_and_restarted_loses_and_duplicates_nothing(
        kafka_jars: object, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_TEST_TOXIPROXY", str(go_tool("toxiproxy")))
    faults = ["kafka-cut", "kafka-latency", "kafka-restart"]
    report = await run(Config(
        messages=120, roles={"webhooks": 1, "normalizer": 1, "router": 1, "senders": 1},
        faults=faults, seed=5, redeliver=0.1, rate=6.0, replies=4))
    print("\n".join(report.lines()))
    assert report.driven == report.accepted == 123, report.lines()
    assert report.rejected == [] and report.abandoned == 0
    assert report.lost == [] and report.duplicated == 0 and report.split_threads == 0
    assert report.unsettled_tickets == 0 and report.assigned + report.queued == report.tickets
    assert report.replies_refused == () and report.replies_unknown == 0, report.lines()
    assert (report.replies_missing, report.replies_twice) == (0, 0), report.lines()
    recoveries = {what: (took, routed) for what, _, took, routed in report.recoveries}
    assert set(recoveries) == set(faults)
    assert all(0 < took <= routed for took, routed in recoveries.values())
