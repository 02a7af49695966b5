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
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from creditmeter.credits import MAX_TOTAL_MICRO
from creditmeter.store.schema import usage_daily_totals, usage_events, usage_rollups
from creditmeter.timestamps import day_of_us

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
    ordered = sorted(rows, key=lambda row: (row[0], row[1]))
    if connection.dialect.name == "sqlite":
        return _insert_events_sqlite(connection, ordered)
    return _insert_events_postgresql(connection, ordered)


_COLUMN_LIST = ", ".join(EVENT_COLUMNS)
# The UTC day number (days since 1970-01-01) of timestamp_us, rounded down also
# before 1970 (SQLite's integer division rounds toward zero).
_SQLITE_DAY = (
    "CASE WHEN timestamp_us >= 0 THEN timestamp_us / 86400000000 "
    "ELSE (timestamp_us + 1) / 86400000000 - 1 END"
)
# Day numbers back to the yyyy-mm-dd text SQLAlchemy's Date keeps on SQLite.
_SQLITE_DATE = "date(day_number * 86400, 'unixepoch')"


def _upsert_adding(table: str, keys: str) -> str:
    return (
        f"ON CONFLICT ({keys}) DO UPDATE SET "
        f"credits_micro = {table}.credits_micro + excluded.credits_micro, "
        f"request_count = {table}.request_count + excluded.request_count"
    )


def _insert_events_sqlite(
    connection: Connection, ordered: Sequence[tuple[Any, ...]]
) -> set[EventKey]:
    """SQLite: insert, then sum the new rows into the rollups in SQL.

    The write transaction (BEGIN IMMEDIATE) holds the database's only write
    lock, so the rows above the largest rowid seen before the insert are
    exactly this batch's new events: they are read back to learn which keys
    were new, and summed by SQLite, once into a per-batch temporary table and
    from there into each rollup, rather than row by row in Python.
    """
    (before,) = connection.exec_driver_sql("SELECT coalesce(max(rowid), 0) FROM usage_events").one()
    marks = ", ".join("?" * len(EVENT_COLUMNS))
    written = connection.exec_driver_sql(
        f"INSERT INTO usage_events ({_COLUMN_LIST}) VALUES ({marks}) "
        "ON CONFLICT (org_id, event_id) DO NOTHING",
        list(ordered),
    ).rowcount
    if written == len(ordered):  # the common case: every event is new
        inserted = {(row[0], row[1]) for row in ordered}
    else:
        inserted = {
            (org_id, event_id)
            for org_id, event_id in connection.exec_driver_sql(
                "SELECT org_id, event_id FROM usage_events WHERE rowid > ?", (before,)
            )
        }
    if not inserted:
        return inserted
    run = connection.exec_driver_sql
    try:
        run(
            "CREATE TEMP TABLE IF NOT EXISTS batch_rollups (org_id TEXT, day_number INTEGER, "
            "product TEXT, feature TEXT, api_key TEXT, file_type TEXT, "
            "credits_micro INTEGER, request_count INTEGER)"
        )
        run("DELETE FROM temp.batch_rollups")
        # SUM raises "integer overflow" rather than wrap: a batch past 64 bits.
        run(
            f"INSERT INTO temp.batch_rollups SELECT org_id, {_SQLITE_DAY}, product, "
            "coalesce(feature, ''), coalesce(api_key, ''), coalesce(file_type, ''), "
            "sum(credits_micro), sum(request_count) "
            "FROM usage_events WHERE rowid > ? GROUP BY 1, 2, 3, 4, 5, 6",
            (before,),
        )
        # The totals first: their CHECK is the limit, and a rollup is part of its
        # day's total, so once the totals fit every rollup sum fits too.
        run(
            "INSERT INTO usage_daily_totals (org_id, day, credits_micro, request_count) "
            f"SELECT org_id, {_SQLITE_DATE}, sum(credits_micro), sum(request_count) "
            "FROM temp.batch_rollups GROUP BY org_id, day_number ORDER BY 1, 2 "
            + _upsert_adding("usage_daily_totals", "org_id, day")
        )
    except (IntegrityError, OperationalError) as exc:
        if "overflow" in str(exc.orig) or isinstance(exc, IntegrityError):
            raise TotalLimitExceeded(str(exc.orig)) from exc
        raise
    # "WHERE true": SQLite's rule for an upsert fed by a SELECT (parsing ambiguity).
    # No ORDER BY: the temporary table was filled in key order by its GROUP BY,
    # and with one writer at a time SQLite needs no lock order anyway.
    run(
        f"INSERT INTO usage_rollups (org_id, day, {', '.join(GROUP_COLUMNS)}, "
        f"credits_micro, request_count) SELECT org_id, {_SQLITE_DATE}, "
        f"{', '.join(GROUP_COLUMNS)}, credits_micro, request_count "
        "FROM temp.batch_rollups WHERE true "
        + _upsert_adding("usage_rollups", f"org_id, day, {', '.join(GROUP_COLUMNS)}")
    )
    for dimension in GROUP_COLUMNS:
        run(
            "INSERT INTO usage_dimension_rollups "
            "(org_id, dimension, day, value, credits_micro, request_count) "
            f"SELECT org_id, ?, {_SQLITE_DATE}, value, credits, requests FROM ("
            f"SELECT org_id, day_number, {dimension} AS value, "
            "sum(credits_micro) AS credits, sum(request_count) AS requests "
            "FROM temp.batch_rollups GROUP BY 1, 2, 3) WHERE true ORDER BY 1, 3, 4 "
            + _upsert_adding("usage_dimension_rollups", "org_id, dimension, day, value"),
            (dimension,),
        )
    return inserted


def _insert_events_postgresql(
    connection: Connection, ordered: Sequence[tuple[Any, ...]]
) -> set[EventKey]:
    """PostgreSQL: the batch copied to a temporary table, inserted from it in one
    statement (ON CONFLICT settles races with concurrent transactions, see
    docs/postgresql.md), then the new rows' sums, made here, added to the totals
    and rollups in key order."""
    staged = _copy_to_temporary(connection, "usage_events", EVENT_COLUMNS, ordered)
    result = connection.exec_driver_sql(
        f"INSERT INTO usage_events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {staged} "
        "ORDER BY org_id, event_id "
        "ON CONFLICT (org_id, event_id) DO NOTHING RETURNING org_id, event_id"
    )
    inserted = {(org_id, event_id) for org_id, event_id in result}
    rollups, dimensions, totals = _deltas(row for row in ordered if (row[0], row[1]) in inserted)
    # The batch's own sum may not even fit a bigint parameter: check it here.
    if any(credits > MAX_TOTAL_MICRO for credits, _ in totals.values()):
        raise TotalLimitExceeded("a day's total of the batch alone passes the limit")
    add_to_daily_totals(connection, totals)
    # After the totals: a rollup is part of its day's total, so it fits too.
    add_to_rollups(connection, rollups)
    add_to_dimension_rollups(connection, dimensions)
    return inserted


def _deltas(
    rows: Iterable[tuple[Any, ...]],
) -> tuple[dict[RollupKey, Amounts], dict[DimensionKey, Amounts], dict[DayKey, Amounts]]:
    """What event rows add to the full rollups, the per-dimension rollups and the totals."""
    rollups: dict[RollupKey, list[int]] = defaultdict(lambda: [0, 0])
    for org_id, _, timestamp_us, product, feature, api_key, file_type, credits, requests, _ in rows:
        day = day_of_us(timestamp_us)
        amounts = rollups[(org_id, day, product, feature or "", api_key or "", file_type or "")]
        amounts[0] += credits
        amounts[1] += requests
    # Each per-dimension rollup and each total is the full rollup summed over the rest.
    dimensions: dict[DimensionKey, list[int]] = defaultdict(lambda: [0, 0])
    totals: dict[DayKey, list[int]] = defaultdict(lambda: [0, 0])
    for (org_id, day, *values), (credits, requests) in rollups.items():
        for dimension, value in zip(GROUP_COLUMNS, values, strict=True):
            amounts = dimensions[(org_id, dimension, day, value)]
            amounts[0] += credits
            amounts[1] += requests
        total = totals[(org_id, day)]
        total[0] += credits
        total[1] += requests
    return (
        {key: (c, r) for key, (c, r) in rollups.items()},
        {key: (c, r) for key, (c, r) in dimensions.items()},
        {key: (c, r) for key, (c, r) in totals.items()},
    )


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
    staged = _copy_to_temporary(connection, table, [*keys, "credits_micro", "request_count"], rows)
    connection.exec_driver_sql(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staged} "
        f"ORDER BY {conflict} ON CONFLICT ({conflict}) {add}"
    )


def _copy_to_temporary(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> str:
    """PostgreSQL: COPY ``rows`` into a temporary table shaped like ``table``; its name.

    COPY is PostgreSQL's bulk path, and psycopg formats its rows in C, where
    binding them as arrays (``unnest``) had spent a quarter of a bulk import
    converting lists in Python. The table lives as long as the connection; its
    rows go at every commit, and with a rollback, so each write transaction,
    which copies into it once, starts from nothing.
    """
    import psycopg  # only PostgreSQL stores get here

    staged = f"batch_{table}"
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} "
        f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    driver = connection.connection.driver_connection
    assert driver is not None
    statement = f"COPY {staged} ({', '.join(columns)}) FROM STDIN"
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        # Raised by the driver itself, outside SQLAlchemy: give callers the type
        # every other statement raises (so a lost server is a 503, not a 500).
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
    return staged


def add_to_rollups(connection: Connection, deltas: Mapping[RollupKey, Amounts]) -> None:
    """Add each delta to its rollup row, creating the row when it is new."""
    _add(
        connection,
        "usage_rollups",
        ("org_id", "day", *GROUP_COLUMNS),
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
        deltas,
    )


def add_to_daily_totals(connection: Connection, deltas: Mapping[DayKey, Amounts]) -> None:
    """Add to each organization-day total; raise TotalLimitExceeded past the limit."""
    try:
        _add(connection, "usage_daily_totals", ("org_id", "day"), deltas)
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


def _export_order(connection: Connection) -> str:
    """The collation that orders text by its UTF-8 bytes, as the export is ordered.

    SQLite's default (BINARY) already does; PostgreSQL's "C" collation does.
    """
    return "" if connection.dialect.name == "sqlite" else ' COLLATE "C"'


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
    group = columns[group_by]
    conditions = [columns.org_id == org_id, columns.day >= start, columns.day <= end]
    for column_name, values in filters.items():
        conditions.append(columns[column_name].in_(list(values)))
    order = group if connection.dialect.name == "sqlite" else group.collate("C")
    query = (
        select(
            columns.day,
            group,
            func.sum(columns.credits_micro),
            func.sum(columns.request_count),
        )
        .where(and_(*conditions))
        .group_by(columns.day, group)
        .order_by(columns.day, order)
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
    statement += f" ORDER BY day, value{_export_order(connection)}"
    rows = connection.exec_driver_sql(statement, tuple(params)).all()
    if sqlite:
        days: dict[str, date] = {}
        return [
            (days.get(day) or days.setdefault(day, date.fromisoformat(day)), *rest)
            for day, *rest in rows
        ]
    return [tuple(row) for row in rows]  # type: ignore[misc]
