"""The per-address limit of the public form, stepped with an injected clock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.web.ratelimit import RateLimiter
from tests.support.clock import Clock

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_window_slides_and_a_refusal_is_not_counted() -> None:
    clock = Clock(at(0))
    limiter = RateLimiter(3, clock)
    assert limiter.hit("10.0.0.1") is None
    clock.now = at(20)
    assert [limiter.hit("10.0.0.1"), limiter.hit("10.0.0.1")] == [None, None]
    assert limiter.hit("10.0.0.1") == 40  # the post at 0 s leaves the window at 60 s
    assert limiter.hit("10.0.0.2") is None  # another address has its own count
    clock.now = at(59.5)
    assert limiter.hit("10.0.0.1") == 1  # never 0 while the window has not passed
    clock.now = at(60)
    assert limiter.hit("10.0.0.1") is None  # only the post at 0 s has left
    assert limiter.hit("10.0.0.1") == 20  # the two at 20 s are still in it
    clock.now = at(80)
    assert [limiter.hit("10.0.0.1"), limiter.hit("10.0.0.1")] == [None, None]


def test_the_table_forgets_the_address_seen_longest_ago() -> None:
    clock = Clock(at(0))
    limiter = RateLimiter(1, clock, max_addresses=2)
    assert limiter.hit("a") is None and limiter.hit("b") is None
    assert limiter.hit("a") == 60  # "a" seen again: now the most recent
    assert limiter.hit("c") is None  # "b" is forgotten, not "a"
    assert limiter.hit("a") == 60
    assert limiter.hit("b") is None
