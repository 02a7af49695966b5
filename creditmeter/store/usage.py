"""SQL for usage: raw events, rollups (full and per dimension) and daily totals.

Rows cross this boundary as plain dicts and tuples; the rules about what an
event is live in :mod:`creditmeter.events` and :mod:`creditmeter.ingest`.
Rollup and total keys use ``''`` for an absent dimension (see the schema).

Every statement here is written once for both stores; what SQLite and
PostgreSQL spell differently comes from their :mod:`~creditmeter.store.dialects`
object. Writes are ordered by key, so concurrent PostgreSQL transactions take
row locks in the same order and cannot deadlock one another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, select, tuple_
from sqlalchemy.exc import DBAPIError

from creditmeter.dimensions import GROUP_BY
from creditmeter.store.dialects import EventKey, dialect_of
from creditmeter.store.schema import usage_daily_totals, usage_events, usage_rollups

#: (org_id, day)
DayKey = tuple[str, date]
#: (credits_micro, request_count)
Amounts = tuple[int, int]

#: The rollups' dimension columns, in key order: the one list of dimensions.
GROUP_COLUMNS = GROUP_BY
_KEY_CHUNK = 500


class TotalLimitExceeded(Exception):
    """A write would take an organization's day past the largest stored total."""


#: The column order of the event rows :func:`insert_events` takes.
EVENT_COLUMNS = (
    "org_id",
    "event_id",
    "timestamp_us",
    "product",
    "feature",
    "api_key",
    "file_type",
    "credits_micro",
    "request_count",
    "received_at_us",
)

# -- the rollup rule ----------------------------------------------------------------
#
# What a batch of new events adds, in three steps of plain SQL that both stores
# run as written: the batch is summed once by the full rollup key into a
# temporary table, and each target adds its own sums of that table (a total and a
# per-dimension rollup are the full rollup summed over the other columns).

_ROLLUP_KEY = ("org_id", "day", *GROUP_COLUMNS)

# The UTC day number (days since 1970-01-01) of timestamp_us, rounded down also
# before 1970: both stores' integer division rounds toward zero.
_DAY_NUMBER = (
    "CASE WHEN timestamp_us >= 0 THEN timestamp_us / 86400000000 "
    "ELSE (timestamp_us + 1) / 86400000000 - 1 END"
)

# The columns of the temporary table of a batch's sums, keyed by _ROLLUP_KEY.
_BATCH_ROLLUPS = ", ".join(
    [
        "org_id TEXT",
        "day DATE",
        *(f"{column} TEXT" for column in GROUP_COLUMNS),
        "credits_micro BIGINT",
        "request_count BIGINT",
    ]
)


def _batch_sums(day: str, new_events: str) -> str:
    """The new events summed by the full rollup key: ``day`` is the SQL of the
    stored day of ``_DAY_NUMBER``, and an absent dimension is ''.

    A sum past 64 bits fails here (SQLite: "integer overflow"; PostgreSQL: the
    bigint column refuses it): the batch alone passes the limit.
    """
    values = ", ".join(f"coalesce({column}, '')" for column in GROUP_COLUMNS)
    return (
        f"INSERT INTO batch_rollups SELECT org_id, {day}, {values}, sum(credits_micro), "
        f"sum(request_count) FROM {new_events} AS new GROUP BY org_id, {_DAY_NUMBER}, {values}"
    )


def _adding(table: str, key: Sequence[str], sums: str) -> str:
    """Add ``sums`` (rows of ``key``, credits, requests) to ``table``, in key order.

    "WHERE true": SQLite's rule for an upsert fed by a SELECT (a parsing ambiguity).
    """
    columns = ", ".join([*key, "credits_micro", "request_count"])
    positions = ", ".join(str(n) for n in range(1, len(key) + 1))
    return (
        f"INSERT INTO {table} ({columns}) SELECT * FROM ({sums}) AS sums WHERE true "
        f"ORDER BY {positions} ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        f"credits_micro = {table}.credits_micro + excluded.credits_micro, "
        f"request_count = {table}.request_count + excluded.request_count"
    )


# The totals first: their CHECK is the limit, and a rollup is part of its day's
# total, so once the totals fit every rollup sum fits too.
_ADD_TO_TOTALS = _adding(
    "usage_daily_totals",
    ("org_id", "day"),
    "SELECT org_id, day, sum(credits_micro), sum(request_count) FROM batch_rollups "
    "GROUP BY org_id, day",
)
_ADD_TO_ROLLUPS = _adding(
    "usage_rollups",
    _ROLLUP_KEY,
    f"SELECT {', '.join(_ROLLUP_KEY)}, credits_micro, request_count FROM batch_rollups",
)
_ADD_TO_DIMENSION_ROLLUPS = _adding(
    "usage_dimension_rollups",
    ("org_id", "dimension", "day", "value"),
    " UNION ALL ".join(
        f"SELECT org_id, '{dimension}', day, {dimension}, sum(credits_micro), "
        f"sum(request_count) FROM batch_rollups GROUP BY org_id, day, {dimension}"
        for dimension in GROUP_COLUMNS
    ),
)


def insert_events(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> set[EventKey]:
    """Insert the events not stored yet and add them to the rollups and daily totals.

    ``rows`` are tuples in EVENT_COLUMNS order, one per (org_id, event_id). A
    row whose key is already stored, or is being stored by a concurrent
    transaction that then commits, is skipped. Returns the keys inserted.
    Raises TotalLimitExceeded, with nothing written by this call committed once
    the caller's transaction rolls back, when a day's total would pass the limit.
    """
    if not rows:
        return set()
    dialect = dialect_of(connection)
    ordered = sorted(rows, key=lambda row: (row[0], row[1]))
    inserted, new_events = dialect.insert_new_events(connection, ordered, EVENT_COLUMNS)
    if not inserted:
        return inserted
    run = connection.exec_driver_sql
    dialect.temporary_table(connection, "batch_rollups", _BATCH_ROLLUPS, _ROLLUP_KEY)
    try:
        run(
            _batch_sums(dialect.day_of_number(_DAY_NUMBER), new_events.relation),
            new_events.parameters,
        )
        run(_ADD_TO_TOTALS)
    except DBAPIError as exc:
        if dialect.passes_limit(exc):
            raise TotalLimitExceeded(str(exc.orig)) from exc
        raise
    run(_ADD_TO_ROLLUPS)
    run(_ADD_TO_DIMENSION_ROLLUPS)
    return inserted


def stored_keys(connection: Connection, keys: Iterable[EventKey]) -> list[EventKey]:
    """Which of these event keys are stored."""
    by_org: dict[str, list[str]] = defaultdict(list)
    for org_id, event_id in keys:
        by_org[org_id].append(event_id)
    found: list[EventKey] = []
    columns = usage_events.c
    for org_id, event_ids in by_org.items():
        for start in range(0, len(event_ids), _KEY_CHUNK):
            query = select(columns.event_id).where(
                columns.org_id == org_id,
                columns.event_id.in_(event_ids[start : start + _KEY_CHUNK]),
            )
            found.extend((org_id, event_id) for (event_id,) in connection.execute(query))
    return found


def stored_events(
    connection: Connection, keys: Iterable[EventKey]
) -> dict[EventKey, dict[str, Any]]:
    """The stored events with these keys, as column dicts."""
    by_org: dict[str, list[str]] = defaultdict(list)
    for org_id, event_id in keys:
        by_org[org_id].append(event_id)
    found: dict[EventKey, dict[str, Any]] = {}
    columns = usage_events.c
    for org_id, event_ids in by_org.items():
        for start in range(0, len(event_ids), _KEY_CHUNK):
            chunk = event_ids[start : start + _KEY_CHUNK]
            query = select(usage_events).where(
                columns.org_id == org_id, columns.event_id.in_(chunk)
            )
            for row in connection.execute(query).mappings():
                found[(row["org_id"], row["event_id"])] = dict(row)
    return found


def daily_totals(connection: Connection, keys: Iterable[DayKey]) -> dict[DayKey, Amounts]:
    """The stored totals of these organization-days (absent ones are not returned)."""
    wanted = sorted(set(keys))
    found: dict[DayKey, Amounts] = {}
    columns = usage_daily_totals.c
    for start in range(0, len(wanted), _KEY_CHUNK):
        chunk = wanted[start : start + _KEY_CHUNK]
        query = select(
            columns.org_id, columns.day, columns.credits_micro, columns.request_count
        ).where(tuple_(columns.org_id, columns.day).in_(chunk))
        for org_id, day, credits, requests in connection.execute(query):
            found[(org_id, day)] = (credits, requests)
    return found


def usage_by_day(
    connection: Connection,
    *,
    org_id: str,
    start: date,
    end: date,
    group_by: str,
    filters: Mapping[str, Sequence[str]],
) -> list[tuple[date, str, int, int]]:
    """(day, group value, credits_micro, request_count) per day and group.

    ``group_by`` and the keys of ``filters`` are rollup columns (``GROUP_COLUMNS``);
    a group value of ``''`` means the dimension had no value. Rows come in the
    export's order: by day, then by the value's UTF-8 bytes (so ``''`` first).
    """
    if group_by not in GROUP_COLUMNS:
        raise ValueError(f"not a rollup column: {group_by}")
    columns = usage_rollups.c
    # Grouped and ordered by the values' UTF-8 bytes, as the export is ordered (on
    # SQLite that is the key's own order: GROUP BY and ORDER BY need no sort).
    group = columns[group_by].collate(dialect_of(connection).bytewise)
    conditions = [columns.org_id == org_id, columns.day >= start, columns.day <= end]
    for column_name, values in filters.items():
        conditions.append(columns[column_name].in_(list(values)))
    query = (
        select(
            columns.day,
            group,
            func.sum(columns.credits_micro),
            func.sum(columns.request_count),
        )
        .where(and_(*conditions))
        .group_by(columns.day, group)
        .order_by(columns.day, group)
    )
    return [
        (day, value, int(credits), int(requests))
        for day, value, credits, requests in connection.execute(query)
    ]


def usage_by_day_of_dimension(
    connection: Connection,
    *,
    org_id: str,
    start: date,
    end: date,
    dimension: str,
    values: Sequence[str] | None,
) -> list[tuple[date, str, int, int]]:
    """What :func:`usage_by_day` answers for ``group_by=dimension``, from that
    dimension's own rollup; ``values`` keeps only those group values (None: all).

    One row per (day, value) is stored, so nothing is summed. The export's hot
    path: plain SQL, as building and caching a Core statement costs more than
    reading these few rows.
    """
    if dimension not in GROUP_COLUMNS:
        raise ValueError(f"not a rollup column: {dimension}")
    dialect = dialect_of(connection)
    mark = dialect.mark
    statement = (
        "SELECT day, value, credits_micro, request_count FROM usage_dimension_rollups "
        f"WHERE org_id = {mark} AND dimension = {mark} AND day >= {mark} AND day <= {mark}"
    )
    params: list[Any] = [org_id, dimension, dialect.bind_day(start), dialect.bind_day(end)]
    if values is not None:
        statement += f" AND value IN ({', '.join([mark] * len(values))})"
        params.extend(values)
    statement += f' ORDER BY day, value COLLATE "{dialect.bytewise}"'
    return dialect.read_days(connection.exec_driver_sql(statement, tuple(params)).all())
