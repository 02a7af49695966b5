"""Per-key request rate limiting for the export (a token bucket per key, in memory).

Each server process keeps its own buckets: behind a load balancer of N
processes a key may make up to N times the limit. That bounds abuse without a
shared store on every request; the decision is in docs/decisions.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``limit`` requests a minute per key, with bursts up to ``limit``; 0 disables it."""

    def __init__(
        self, limit_per_minute: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit_per_minute
        self.rate = limit_per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> int | None:
        """Count one request; None when allowed, else whole seconds to wait."""
        if self.limit <= 0:
            return None
        now = self.clock()
        with self._lock:
            tokens, seen = self._buckets.get(key, (float(self.limit), now))
            tokens = min(float(self.limit), tokens + (now - seen) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 10_000:
                self._forget_full(now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _forget_full(self, now: float) -> None:
        # A bucket refilled to the brim is the same as no bucket: drop it.
        full_after = self.limit / self.rate
        for key, (_, seen) in list(self._buckets.items()):
            if now - seen >= full_after:
                del self._buckets[key]
