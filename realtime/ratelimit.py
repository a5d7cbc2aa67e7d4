"""In-memory token buckets, one per command class on each connection (no Redis on the hot path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]

# command class -> (tokens per second, burst); the defaults of the READALONG_WS_*_RATE/_BURST
# settings (see `limits_from`)
COMMAND_LIMITS: dict[str, tuple[float, float]] = {
    "subscribe": (20.0, 40.0),   # subscribe + unsubscribe
    "publish": (10.0, 20.0),
    "presence": (10.0, 20.0),
    "other": (10.0, 30.0),       # ping, auth
}
# Strikes: every rejected frame (bad input, rate limited) takes one; an empty bucket closes 4008.
ABUSE_LIMIT: tuple[float, float] = (1.0, 20.0)


def limits_from(settings: Any) -> dict[str, tuple[float, float]]:
    """The command buckets for a node: Settings' ws_{publish,presence,subscribe}_{rate,burst}
    (a missing attribute keeps the default)."""
    limits = dict(COMMAND_LIMITS)
    for klass in ("publish", "presence", "subscribe"):
        rate, burst = limits[klass]
        limits[klass] = (float(getattr(settings, f"ws_{klass}_rate", rate)),
                         float(getattr(settings, f"ws_{klass}_burst", burst)))
    return limits


class TokenBucket:
    """`rate` tokens per second up to `burst`; `take()` returns 0.0 or the seconds to wait.
    `clock` (seconds, monotonic) is injectable so that tests need not race the real clock."""

    __slots__ = ("burst", "clock", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.clock = clock
        self.stamp = clock()

    def take(self, cost: float = 1.0) -> float:
        now = self.clock()
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= cost:
            self.tokens = tokens - cost
            return 0.0
        self.tokens = tokens
        return (cost - tokens) / self.rate


class Limits:
    """The buckets of one connection, created lazily (idle connections hold none). `table` is
    the node's shared {class: (rate, burst)} (one dict per node, not per connection)."""

    __slots__ = ("abuse", "buckets", "clock", "table")

    def __init__(self, table: dict[str, tuple[float, float]] = COMMAND_LIMITS,
                 clock: Clock = time.monotonic) -> None:
        self.table = table
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self.abuse: TokenBucket | None = None

    def check(self, klass: str) -> float:
        bucket = self.buckets.get(klass)
        if bucket is None:
            bucket = self.buckets[klass] = TokenBucket(*self.table[klass], self.clock)
        return bucket.take()

    def strike(self) -> bool:
        """Count one rejected frame; True when the connection has abused its allowance."""
        if self.abuse is None:
            self.abuse = TokenBucket(*ABUSE_LIMIT, self.clock)
        return self.abuse.take() > 0.0
