"""SQL for usage: raw events, rollups (full and per dimension) and daily totals.

Rows cross this boundary as plain dicts and tuples; the rules about what an
event is live in :mod:`creditmeter.events` and :mod:`creditmeter.ingest`.
Rollup and total keys use ``''`` for an absent dimension (see the schema).

Writes are ordered by key, so concurrent PostgreSQL transactions take row locks
in the same order and cannot deadlock one another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, select, tuple_
from sqlalchemy.exc import DataError, IntegrityError

from creditmeter.store.schema import usage_daily_totals, usage_events, usage_rollups

#: (org_id, day, product, feature, api_key, file_type)
RollupKey = tuple[str, date, str, str, str, str]
#: (org_id, dimension, day, value): dimension is one of GROUP_COLUMNS
DimensionKey = tuple[str, str, date, str]
#: (org_id, day)
DayKey = tuple[str, date]
#: (org_id, event_id)
EventKey = tuple[str, str]
#: (credits_micro, request_count)
Amounts = tuple[int, int]

GROUP_COLUMNS = ("product", "feature", "api_key", "file_type")
_KEY_CHUNK = 500


class TotalLimitExceeded(Exception):
    """A write would take an organization's day past the largest stored total."""


#: The column order of the event rows :func:`insert_new_events` takes.
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
_EVENT_PG_TYPES = (
    "varchar", "varchar", "bigint", "varchar", "varchar",
    "varchar", "varchar", "bigint", "bigint", "bigint",
)  # fmt: skip


def _unnest(types: Sequence[str]) -> str:
    """``unnest(%s::t1[], …)``: one parameter per column, a PostgreSQL array each."""
    return "unnest(" + ", ".join(f"%s::{t}[]" for t in types) + ")"


def insert_new_events(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> set[EventKey]:
    """Insert the events not stored yet; return the keys of those inserted.

    ``rows`` are tuples in EVENT_COLUMNS order. A row whose (org_id, event_id)
    is already stored, or is being stored by a concurrent transaction that then
    commits, is skipped.
    """
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda row: (row[0], row[1]))
    columns = ", ".join(EVENT_COLUMNS)
    if connection.dialect.name == "sqlite":
        # A SQLite write transaction holds the database's only write lock (BEGIN
        # IMMEDIATE), so no other writer can insert between this look and the insert.
        existing = set(stored_keys(connection, [(row[0], row[1]) for row in ordered]))
        new = [row for row in ordered if (row[0], row[1]) not in existing]
        marks = ", ".join("?" * len(EVENT_COLUMNS))
        if new:
            connection.exec_driver_sql(
                f"INSERT INTO usage_events ({columns}) VALUES ({marks})", new
            )
        return {(row[0], row[1]) for row in new}
    # PostgreSQL: one statement for the whole batch; ON CONFLICT settles races with
    # concurrent transactions (see docs/postgresql.md).
    result = connection.exec_driver_sql(
        f"INSERT INTO usage_events ({columns}) SELECT * FROM {_unnest(_EVENT_PG_TYPES)} "
        "ON CONFLICT (org_id, event_id) DO NOTHING RETURNING org_id, event_id",
        tuple(list(column) for column in zip(*ordered, strict=True)),
    )
    return {(org_id, event_id) for org_id, event_id in result}


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


def _add(
    connection: Connection,
    table: str,
    key_columns: Sequence[str],
    key_types: Sequence[str],
    deltas: Mapping[Any, Amounts],
) -> None:
    """Add (credits, requests) deltas to the rows of ``table``, creating missing rows.

    One ``INSERT … ON CONFLICT DO UPDATE`` adding to the stored amounts, in key
    order; each key appears once, as one statement may not touch a row twice.
    """
    if not deltas:
        return
    keys = list(key_columns)
    columns = ", ".join([*keys, "credits_micro", "request_count"])
    conflict = ", ".join(keys)
    add = (
        f"DO UPDATE SET credits_micro = {table}.credits_micro + excluded.credits_micro, "
        f"request_count = {table}.request_count + excluded.request_count"
    )
    ordered = sorted(deltas.items())
    if connection.dialect.name == "sqlite":
        # SQLAlchemy's Date stores yyyy-mm-dd text on SQLite: bind days the same way.
        rows = [
            (*(k.isoformat() if isinstance(k, date) else k for k in key), credits, requests)
            for key, (credits, requests) in ordered
        ]
        marks = ", ".join("?" * (len(keys) + 2))
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT ({conflict}) {add}",
            rows,
        )
        return
    rows = [(*key, credits, requests) for key, (credits, requests) in ordered]
    arrays = _unnest([*key_types, "bigint", "bigint"])
    connection.exec_driver_sql(
        f"INSERT INTO {table} ({columns}) SELECT * FROM {arrays} ON CONFLICT ({conflict}) {add}",
        tuple(list(column) for column in zip(*rows, strict=True)),
    )


def add_to_rollups(connection: Connection, deltas: Mapping[RollupKey, Amounts]) -> None:
    """Add each delta to its rollup row, creating the row when it is new."""
    _add(
        connection,
        "usage_rollups",
        ("org_id", "day", *GROUP_COLUMNS),
        ("varchar", "date", "varchar", "varchar", "varchar", "varchar"),
        deltas,
    )


def add_to_dimension_rollups(
    connection: Connection, deltas: Mapping[DimensionKey, Amounts]
) -> None:
    """Add each delta to its per-dimension rollup row, creating the row when it is new."""
    _add(
        connection,
        "usage_dimension_rollups",
        ("org_id", "dimension", "day", "value"),
        ("varchar", "varchar", "date", "varchar"),
        deltas,
    )


def add_to_daily_totals(connection: Connection, deltas: Mapping[DayKey, Amounts]) -> None:
    """Add to each organization-day total; raise TotalLimitExceeded past the limit."""
    try:
        _add(connection, "usage_daily_totals", ("org_id", "day"), ("varchar", "date"), deltas)
    except (IntegrityError, DataError) as exc:
        # SQLite: the CHECK (an overflowing sum turns into a float, which it also
        # refuses). PostgreSQL: the CHECK, or "bigint out of range" for such a sum.
        raise TotalLimitExceeded(str(exc.orig)) from exc


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
    """(day, group value, credits_micro, request_count) per day and group, unordered.

    ``group_by`` and the keys of ``filters`` are rollup columns (``GROUP_COLUMNS``);
    a group value of ``''`` means the dimension had no value.
    """
    if group_by not in GROUP_COLUMNS:
        raise ValueError(f"not a rollup column: {group_by}")
    columns = usage_rollups.c
    group = columns[group_by]
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
    sqlite = connection.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    statement = (
        "SELECT day, value, credits_micro, request_count FROM usage_dimension_rollups "
        f"WHERE org_id = {mark} AND dimension = {mark} AND day >= {mark} AND day <= {mark}"
    )
    # SQLAlchemy's Date stores yyyy-mm-dd text on SQLite: bind and read days the same way.
    params: list[Any] = [
        org_id,
        dimension,
        start.isoformat() if sqlite else start,
        end.isoformat() if sqlite else end,
    ]
    if values is not None:
        statement += f" AND value IN ({', '.join([mark] * len(values))})"
        params.extend(values)
    rows = connection.exec_driver_sql(statement, tuple(params)).all()
    if sqlite:
        return [(date.fromisoformat(day), *rest) for day, *rest in rows]
    return [tuple(row) for row in rows]  # type: ignore[misc]
