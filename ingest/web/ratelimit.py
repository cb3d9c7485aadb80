"""A per-address rate limit for public endpoints (the web form), in this process's memory.

Each address may make ``limit`` requests in any ``window`` (a sliding log of the instants of
its last ``limit`` requests, read from the injected clock, so tests step time instead of
sleeping). The table is bounded: beyond ``max_addresses`` the address seen longest ago is
forgotten first. Several webhook processes each keep their own count (the limit is per
process, which the README says).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import ceil


@dataclass(slots=True)
class RateLimiter:
    """``hit(address)``: ``None`` when allowed (and counted), else the seconds to wait."""

    limit: int
    clock: Callable[[], datetime]
    window: timedelta = timedelta(minutes=1)
    max_addresses: int = 100_000
    _seen: OrderedDict[str, deque[datetime]] = field(default_factory=OrderedDict)

    def hit(self, address: str) -> int | None:
        """Count one request of ``address`` unless it is over the limit; a refused request is
        not counted (waiting the answered seconds is always enough)."""
        now = self.clock()
        times = self._seen.get(address)
        if times is None:
            times = self._seen[address] = deque(maxlen=self.limit)
            while len(self._seen) > self.max_addresses:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(address)
        if len(times) >= self.limit and now - times[0] < self.window:
            return max(1, ceil((times[0] + self.window - now).total_seconds()))
        times.append(now)
        return None
