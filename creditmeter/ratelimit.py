"""The export's rate limit per key, and the per-process limiter that applies it.

The rule is a token bucket of ``limit`` tokens that refills at ``limit`` a
minute: a burst of ``limit`` requests, then one every ``60 / limit`` seconds.
It is kept as one instant per key, the moment the key's bucket is full again
(``full_at``): a request is admitted while that instant, pushed on by one
request's share of the minute, stays within a minute of now. The same rule in
SQL, shared by every server on one PostgreSQL, is in
``creditmeter.store.rate_limits`` (docs/decisions/0006-shared-rate-limit.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MINUTE_US = 60_000_000


@dataclass(frozen=True)
class ExportRate:
    """``limit`` requests a minute per key, in bursts of up to ``limit``; 0 is no limit."""

    limit: int

    @property
    def interval_us(self) -> int:
        """One request's share of the minute, rounded down so that a burst holds ``limit``."""
        return MINUTE_US // self.limit

    def next_full_at(self, full_at_us: int | None, now_us: int) -> int:
        """When the bucket is full again if one more request is counted now."""
        start = now_us if full_at_us is None else max(full_at_us, now_us)
        return start + self.interval_us

    def admits(self, next_full_at_us: int, now_us: int) -> bool:
        return next_full_at_us - now_us <= MINUTE_US

    def wait_seconds(self, next_full_at_us: int, now_us: int) -> int:
        """Whole seconds until a request refused now would be admitted (at least 1)."""
        return max(1, math.ceil((next_full_at_us - now_us - MINUTE_US) / 1_000_000))


def microseconds(clock: Callable[[], float]) -> Callable[[], int]:
    return lambda: int(clock() * 1_000_000)


class RateLimiter:
    """The rate limit counted in this process's memory: each server its own count.

    Right for SQLite, whose database one machine serves (see the decision).
    """

    def __init__(
        self, limit_per_minute: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = ExportRate(limit_per_minute)
        self._now_us = microseconds(clock)
        self._full_at: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> int | None:
        """Count one request of ``key``; None when allowed, else whole seconds to wait."""
        if self.rate.limit <= 0:
            return None
        now = self._now_us()
        with self._lock:
            full_at = self.rate.next_full_at(self._full_at.get(key), now)
            if not self.rate.admits(full_at, now):
                return self.rate.wait_seconds(full_at, now)
            if len(self._full_at) > 10_000:
                self._forget_full(now)
            self._full_at[key] = full_at
            return None

    def _forget_full(self, now_us: int) -> None:
        # A bucket full again is the same as no bucket: drop it.
        for key, full_at in list(self._full_at.items()):
            if full_at <= now_us:
                del self._full_at[key]
