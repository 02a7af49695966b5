"""SQL of voids: marking stored events voided, and reading the audit trail.

A row of ``usage_voids`` is both the mark and the audit entry
(docs/decisions/0010-voids.md). It is inserted with ``ON CONFLICT DO
NOTHING RETURNING``, so of several transactions voiding one event exactly one
gets it back, on either store; only that one takes the event out of the
rollups, through the rollup rule of :mod:`creditmeter.store.usage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from creditmeter.store.dialects import NewEvents, dialect_of
from creditmeter.store.usage import DayKey, subtract_events


@dataclass(frozen=True)
class Author:
    """Who voids: ``source`` "api" with the service token, or "cli" with neither."""

    source: str
    token_id: str | None = None
    token_name: str | None = None


@dataclass(frozen=True)
class Voided:
    """What one void did, within one organization."""

    #: Ids this transaction voided.
    new: frozenset[str]
    #: Ids of stored events voided before.
    already: frozenset[str]
    #: The (org_id, UTC day) whose usage went down, in key order.
    days: list[DayKey]


#: The columns of the audit trail, as :func:`void_entries` returns them.
ENTRY_COLUMNS = (
    "event_id",
    "org_id",
    "timestamp_us",
    "product",
    "feature",
    "api_key",
    "file_type",
    "credits_micro",
    "request_count",
    "reason",
    "voided_at_us",
    "source",
    "token_id",
    "token_name",
)


def void_events(
    connection: Connection,
    org_id: str,
    event_ids: Sequence[str],
    *,
    reason: str,
    voided_at_us: int,
    author: Author,
) -> Voided:
    """Void the stored events of ``org_id`` with these ids (distinct) not voided yet.

    Run in a write transaction: the marks, their audit entries and the rollups'
    change commit together.
    """
    dialect = dialect_of(connection)
    mark = dialect.mark
    run = connection.exec_driver_sql
    dialect.temporary_table(connection, "void_requests", "event_id TEXT", ("event_id",))
    if event_ids:
        dialect.fill_temporary(
            connection, "void_requests", ("event_id",), [(i,) for i in event_ids]
        )
    # In byte order of the ids, as every writer takes its locks (PostgreSQL).
    inserted = run(
        "INSERT INTO usage_voids (org_id, event_id, reason, voided_at_us, source, token_id, "
        f"token_name) SELECT e.org_id, e.event_id, {', '.join([mark] * 5)} "
        "FROM usage_events AS e JOIN void_requests AS r ON r.event_id = e.event_id "
        f'WHERE e.org_id = {mark} ORDER BY e.event_id COLLATE "{dialect.bytewise}" '
        "ON CONFLICT (org_id, event_id) DO NOTHING RETURNING event_id",
        (reason, voided_at_us, author.source, author.token_id, author.token_name, org_id),
    )
    new = frozenset(event_id for (event_id,) in inserted)
    voided = run(
        "SELECT v.event_id FROM usage_voids AS v JOIN void_requests AS r "
        f"ON r.event_id = v.event_id WHERE v.org_id = {mark}",
        (org_id,),
    )
    already = frozenset(event_id for (event_id,) in voided) - new
    if not new:
        return Voided(new, already, [])
    dialect.temporary_table(connection, "voided_events", "event_id TEXT", ("event_id",))
    dialect.fill_temporary(connection, "voided_events", ("event_id",), [(i,) for i in sorted(new)])
    days = subtract_events(
        connection,
        NewEvents(
            "(SELECT e.* FROM usage_events AS e JOIN voided_events AS v "
            f"ON v.event_id = e.event_id WHERE e.org_id = {mark})",
            (org_id,),
        ),
    )
    return Voided(new, already, days)


def void_entries(connection: Connection, org_id: str) -> list[dict[str, Any]]:
    """The audit trail of ``org_id``: each void with its event, by voided_at_us then
    event_id in byte order; dicts keyed by ENTRY_COLUMNS."""
    dialect = dialect_of(connection)
    columns = ", ".join(
        f"v.{column}" if column in ("org_id", "event_id") else column for column in ENTRY_COLUMNS
    )
    rows = connection.exec_driver_sql(
        f"SELECT {columns} FROM usage_voids AS v JOIN usage_events AS e "
        "ON e.org_id = v.org_id AND e.event_id = v.event_id "
        f"WHERE v.org_id = {dialect.mark} "
        f'ORDER BY v.voided_at_us, v.event_id COLLATE "{dialect.bytewise}"',
        (org_id,),
    )
    return [dict(zip(ENTRY_COLUMNS, row, strict=True)) for row in rows]
