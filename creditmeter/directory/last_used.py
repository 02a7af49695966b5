"""Last used: how often a credential's ``lastUsedAt`` is written.

The contract: ``lastUsedAt`` (keys and tokens) is updated on successful
authentication, at most once a minute per credential, so that reading usage
does not become a write per request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: ``lastUsedAt`` is updated at most once in this long per credential.
UPDATED_AT_MOST_EVERY = timedelta(minutes=1)


def needs_update(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether an authentication at ``now`` writes ``now`` as the new ``lastUsedAt``."""
    return last_used_at is None or now - last_used_at >= UPDATED_AT_MOST_EVERY
