"""Exponential backoff with full jitter, for loops that retry a failing server."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays that grow ``initial * factor**n`` up to ``cap`` after each failure; ``reset``
    after a success. Each delay is drawn uniformly from [delay/2, delay] so that many pullers
    failing together do not come back together."""

    initial: float = 1.0
    cap: float = 300.0
    factor: float = 2.0
    rand: Callable[[], float] = field(default=random.random, repr=False)
    failures: int = 0

    def next_delay(self) -> float:
        """The wait before the next attempt, counting one more failure."""
        ceiling = min(self.cap, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        return ceiling / 2 + ceiling / 2 * self.rand()

    def reset(self) -> None:
        """A success: the next failure waits ``initial`` again."""
        self.failures = 0
