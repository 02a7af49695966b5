"""When to try a request again, and after how long.

Only idempotent calls come here (``export``, and ``record`` whose events carry
their ids). 429, 5xx, connection errors and timeouts are retried up to
``max_retries`` times: after ``Retry-After`` when the server sent one, else
with exponential backoff from ``backoff`` seconds (doubled each retry, at most
:data:`MAX_BACKOFF`, with ±25 % jitter so that many clients do not return in
step). A ``Retry-After`` over :data:`MAX_RETRY_AFTER` seconds is not waited for.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from creditmeter.client._exceptions import (
    APIConnectionError,
    CreditmeterError,
    RateLimitError,
    ServerError,
)

#: Longest ``Retry-After`` the client sleeps through; a longer one raises at once.
MAX_RETRY_AFTER = 60
#: Longest backoff between two tries when the server did not say.
MAX_BACKOFF = 8.0


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff: float = 0.5

    def delay(self, retries_done: int, error: CreditmeterError) -> float | None:
        """Seconds to wait before trying again after ``error``; None: raise it now."""
        if not isinstance(error, RateLimitError | ServerError | APIConnectionError):
            return None
        if retries_done >= self.max_retries:
            return None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(retry_after) if retry_after <= MAX_RETRY_AFTER else None
        return min(MAX_BACKOFF, self.backoff * 2**retries_done) * random.uniform(0.75, 1.25)
