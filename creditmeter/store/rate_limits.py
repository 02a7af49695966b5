"""The export rate limit shared by every server on one PostgreSQL database.

One row per key that has exported: the instant its bucket is full again
(``creditmeter.ratelimit`` states the rule). A request is counted by one
statement that admits it and pushes the instant on in the same step, so two
servers can never both take the last request of a burst. Servers read the time
from their own clocks, which must agree (NTP) to within the slack the limit may
have: a fraction of one request's share of the minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import text

from creditmeter.ratelimit import MINUTE_US, ExportRate, microseconds
from creditmeter.store.database import Store

# The WHERE is ExportRate.admits over ExportRate.next_full_at; the row is locked
# while it is judged, so concurrent requests of one key take turns. The outer
# SELECT reads the row as it was before: a refusal's wait is counted from it.
_COUNT = text(
    """
    WITH admitted AS (
        INSERT INTO export_rate_limits AS bucket (key_id, full_at_us)
        VALUES (:key_id, :now_us + :interval_us)
        ON CONFLICT (key_id) DO UPDATE
        SET full_at_us = GREATEST(bucket.full_at_us, :now_us) + :interval_us
        WHERE GREATEST(bucket.full_at_us, :now_us) + :interval_us - :now_us <= :minute_us
        RETURNING full_at_us
    )
    SELECT
        EXISTS (SELECT FROM admitted) AS admitted,
        (SELECT full_at_us FROM export_rate_limits WHERE key_id = :key_id) AS full_at_us
    """
)


class SharedRateLimiter:
    """The rate limit counted in the database: all servers on it share one count per key.

    PostgreSQL only; the same ``acquire`` as :class:`creditmeter.ratelimit.RateLimiter`.
    """

    def __init__(
        self, store: Store, limit_per_minute: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.rate = ExportRate(limit_per_minute)
        self._now_us = microseconds(clock)

    def acquire(self, key: str) -> int | None:
        """Count one request of ``key``; None when allowed, else whole seconds to wait."""
        if self.rate.limit <= 0:
            return None
        now = self._now_us()
        with self.store.autocommit() as connection:
            admitted, full_at = connection.execute(
                _COUNT,
                {
                    "key_id": key,
                    "now_us": now,
                    "interval_us": self.rate.interval_us,
                    "minute_us": MINUTE_US,
                },
            ).one()
        if admitted:
            return None
        return self.rate.wait_seconds(self.rate.next_full_at(full_at, now), now)
