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

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, select, tuple_
from sqlalchemy.exc import DBAPIError

from creditmeter.dimensions import GROUP_BY
from creditmeter.store.dialects import EventKey, NewEvents, dialect_of
from creditmeter.store.driver import read_rows
from creditmeter.store.schema import usage_daily_totals, usage_events

#: (org_id, day)
DayKey = tuple[str, date]
#: (credits_micro, request_count)
Amounts = tuple[int, int]

#: The rollups' dimension columns, in key order: the one list of dimensions.
GROUP_COLUMNS = GROUP_BY
_KEY_CHUNK = 500
#: An event row's (org_id, event_id).
_EVENT_KEY = itemgetter(0, 1)


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
#: The same, and the units an event was sent with: for a batch holding such events
#: (a batch of events sent with credits writes the column as NULL by default).
EVENT_COLUMNS_WITH_UNITS = (*EVENT_COLUMNS, "units_micro")

# -- the rollup rule ----------------------------------------------------------------
#
# What a batch of new events adds, in plain SQL that both stores run as written:
# the batch is summed once by (org, UTC quarter hour, dimensions) into a temporary
# table, and each target adds its own sums of that table (a product's quarter or a
# day's total is the full rollup summed over the other columns). The per-dimension
# day rollups are not written here: settling builds them (store/pairs.py,
# decision 0016), as it builds the pair rollups.

_QUARTER_KEY = ("org_id", "quarter", *GROUP_COLUMNS)
_AMOUNTS = ("credits_micro", "request_count", "event_count")
#: Microseconds in a quarter hour, and quarter hours in a day.
QUARTER_US = 900_000_000
QUARTERS_PER_DAY = 96
#: date.toordinal() of 1970-01-01.
_EPOCH_ORDINAL = 719_163


def _floor_division(column: str, divisor: int) -> str:
    """SQL of floor(column / divisor), also below zero: both stores' integer
    division rounds toward zero."""
    return (
        f"CASE WHEN {column} >= 0 THEN {column} / {divisor} ELSE ({column} + 1) / {divisor} - 1 END"
    )


_QUARTER_NUMBER = _floor_division("timestamp_us", QUARTER_US)
# The UTC day number (days since 1970-01-01) of a quarter.
_DAY_NUMBER = _floor_division("quarter", QUARTERS_PER_DAY)

# The columns of the temporary table of a batch's sums, keyed by _QUARTER_KEY: each
# quarter with its day.
_BATCH_ROLLUPS = ", ".join(
    [
        "org_id TEXT",
        "quarter BIGINT",
        "day DATE",
        *(f"{column} TEXT" for column in GROUP_COLUMNS),
        "credits_micro BIGINT",
        "request_count BIGINT",
        "event_count BIGINT",
    ]
)


def _batch_sums(day: str, new_events: str) -> str:
    """The new events summed by (org, quarter, dimensions), each row with its day
    (``day``: the SQL of the stored day of ``_DAY_NUMBER``); an absent dimension is ''.

    A sum past 64 bits fails here (SQLite: "integer overflow"; PostgreSQL: the
    bigint column refuses it): the batch alone passes the limit.
    """
    values = ", ".join(f"coalesce({column}, '')" for column in GROUP_COLUMNS)
    named = ", ".join(f"coalesce({column}, '') AS {column}" for column in GROUP_COLUMNS)
    sums = (
        f"SELECT org_id, {_QUARTER_NUMBER} AS quarter, {named}, sum(credits_micro) "
        "AS credits_micro, sum(request_count) AS request_count, count(*) AS event_count "
        f"FROM {new_events} AS new GROUP BY org_id, {_QUARTER_NUMBER}, {values}"
    )
    return (
        f"INSERT INTO batch_rollups SELECT org_id, quarter, {day}, "
        f"{', '.join(GROUP_COLUMNS)}, credits_micro, request_count, event_count "
        f"FROM ({sums}) AS sums"
    )


def _adding(
    table: str,
    key: Sequence[str],
    sums: str,
    amounts: Sequence[str] = _AMOUNTS,
    replaced: Sequence[str] = (),
) -> str:
    """Add ``sums`` (rows of ``key``, then ``amounts``, then ``replaced``) to ``table``,
    in key order: amounts are added to a stored row's, ``replaced`` columns overwrite.

    "WHERE true": SQLite's rule for an upsert fed by a SELECT (a parsing ambiguity).
    """
    columns = ", ".join([*key, *amounts, *replaced])
    positions = ", ".join(str(n) for n in range(1, len(key) + 1))
    added = ", ".join(
        [f"{amount} = {table}.{amount} + excluded.{amount}" for amount in amounts]
        + [f"{column} = excluded.{column}" for column in replaced]
    )
    return (
        f"INSERT INTO {table} ({columns}) SELECT * FROM ({sums}) AS sums WHERE true "
        f"ORDER BY {positions} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {added}"
    )


def _summed(key: Sequence[str], amounts: Sequence[str] = _AMOUNTS) -> str:
    """The batch's sums by ``key`` (columns of batch_rollups)."""
    listed = ", ".join(key)
    totals = ", ".join(f"sum({amount})" for amount in amounts)
    return f"SELECT {listed}, {totals} FROM batch_rollups GROUP BY {listed}"


# The totals first: their CHECK is the limit, and a rollup is part of its day's
# total, so once the totals fit every rollup sum fits too. Each write also counts
# itself in its days' ``changes`` and dates them (the one parameter): a day whose
# count moved past its pairs' is read from the quarters until it is settled again
# (store/pairs.py). Negating a void's sums leaves the count's 1 as it is.
_ADD_TO_TOTALS = _adding(
    "usage_daily_totals",
    ("org_id", "day"),
    "SELECT org_id, day, sum(credits_micro), sum(request_count), 1, {changed_at} "
    "FROM batch_rollups GROUP BY org_id, day",
    (*_AMOUNTS[:2], "changes"),
    ("changed_at_us",),
)
_ADD_TO_QUARTERS = _adding(
    "usage_quarter_rollups",
    _QUARTER_KEY,
    f"SELECT {', '.join(_QUARTER_KEY)}, {', '.join(_AMOUNTS)} FROM batch_rollups",
)
# Grouped by a prefix of the batch table's key, in one SELECT (a subquery would
# lose its order): SQLite reads the batch in key order, with no sort.
_PRODUCT_QUARTER_KEY = _QUARTER_KEY[:3]
_ADD_TO_PRODUCT_QUARTERS = (
    f"INSERT INTO usage_product_quarter_rollups ({', '.join([*_PRODUCT_QUARTER_KEY, *_AMOUNTS])}) "
    f"SELECT {', '.join(_PRODUCT_QUARTER_KEY)}, "
    f"{', '.join(f'sum({amount})' for amount in _AMOUNTS)} FROM batch_rollups WHERE true "
    f"GROUP BY {', '.join(_PRODUCT_QUARTER_KEY)} ORDER BY 1, 2, 3 "
    "ON CONFLICT (org_id, quarter, product) DO UPDATE SET "
    + ", ".join(
        f"{amount} = usage_product_quarter_rollups.{amount} + excluded.{amount}"
        for amount in _AMOUNTS
    )
)
# Taking events out (a void): their sums negated, then the rows left with no
# event deleted. Only rows of the batch's keys are looked at; a daily total
# has no event count, so it goes when its day has no product quarter left
# (every event has a product, so the day's product quarters hold all its events).
_NEGATE_BATCH = "UPDATE batch_rollups SET " + ", ".join(
    f"{amount} = -{amount}" for amount in _AMOUNTS
)
_DELETE_EMPTY_QUARTERS = (
    f"DELETE FROM usage_quarter_rollups WHERE event_count = 0 AND ({', '.join(_QUARTER_KEY)}) "
    f"IN (SELECT {', '.join(_QUARTER_KEY)} FROM batch_rollups)"
)
_DELETE_EMPTY_PRODUCT_QUARTERS = (
    "DELETE FROM usage_product_quarter_rollups WHERE event_count = 0 AND "
    f"({', '.join(_PRODUCT_QUARTER_KEY)}) IN (SELECT {', '.join(_PRODUCT_QUARTER_KEY)} "
    "FROM batch_rollups)"
)
#: The first quarter of the day of a batch row being taken out.
_GONE_DAY_START = f"({_floor_division('gone.quarter', QUARTERS_PER_DAY)}) * {QUARTERS_PER_DAY}"
_DELETE_EMPTY_TOTALS = (
    "DELETE FROM usage_daily_totals WHERE (org_id, day) IN (SELECT org_id, day FROM "
    "batch_rollups AS gone WHERE NOT EXISTS (SELECT 1 FROM usage_product_quarter_rollups "
    f"AS kept WHERE kept.org_id = gone.org_id AND kept.quarter >= {_GONE_DAY_START} AND "
    f"kept.quarter < {_GONE_DAY_START} + {QUARTERS_PER_DAY}))"
)
# The days whose total went: what settling built for them is never read again (it
# is read only while the day's total says it is current), so removed with it.
_EMPTIED_DAYS = (
    "SELECT DISTINCT day, org_id FROM batch_rollups AS gone WHERE NOT EXISTS (SELECT 1 "
    "FROM usage_daily_totals AS kept WHERE kept.org_id = gone.org_id AND kept.day = gone.day)"
)


def insert_events(
    connection: Connection,
    rows: Sequence[tuple[Any, ...]],
    columns: Sequence[str] = EVENT_COLUMNS,
) -> set[EventKey]:
    """Insert the events not stored yet and add them to the rollups and daily totals.

    ``rows`` are tuples in ``columns`` order (EVENT_COLUMNS, or
    EVENT_COLUMNS_WITH_UNITS), one per (org_id, event_id). A
    row whose key is already stored, or is being stored by a concurrent
    transaction that then commits, is skipped. Returns the keys inserted.
    Raises TotalLimitExceeded, with nothing written by this call committed once
    the caller's transaction rolls back, when a day's total would pass the limit.
    """
    if not rows:
        return set()
    dialect = dialect_of(connection)
    ordered = sorted(rows, key=_EVENT_KEY)
    inserted, new_events = dialect.insert_new_events(connection, ordered, columns)
    if not inserted:
        return inserted
    _apply_rule(connection, new_events)
    return inserted


def _apply_rule(connection: Connection, events: NewEvents, *, subtract: bool = False) -> None:
    """The rollup rule: add ``events`` to the totals and rollups, or take them out.

    Taking out is adding the negated sums, through the same statements.
    """
    dialect = dialect_of(connection)
    run = connection.exec_driver_sql
    dialect.temporary_table(connection, "batch_rollups", _BATCH_ROLLUPS, _QUARTER_KEY)
    try:
        run(_batch_sums(dialect.day_of_number(_DAY_NUMBER), events.relation), events.parameters)
        if subtract:
            run(_NEGATE_BATCH)
        run(_ADD_TO_TOTALS.format(changed_at=dialect.mark), (time.time_ns() // 1000,))
    except DBAPIError as exc:
        if dialect.passes_limit(exc):
            raise TotalLimitExceeded(str(exc.orig)) from exc
        raise
    run(_ADD_TO_QUARTERS)
    run(_ADD_TO_PRODUCT_QUARTERS)


def subtract_events(connection: Connection, events: NewEvents) -> list[DayKey]:
    """Take stored events (``events``: a relation of usage_events rows, each counted
    once in the rollups) out of the rollups and daily totals, by the rollup rule.

    A rollup row left with no events is deleted, as is a daily total whose day has
    none left; a row of zero-credit events that remain stays. Returns the
    (org_id, day) whose totals went down, in key order.
    """
    _apply_rule(connection, events, subtract=True)
    run = connection.exec_driver_sql
    run(_DELETE_EMPTY_QUARTERS)
    run(_DELETE_EMPTY_PRODUCT_QUARTERS)
    run(_DELETE_EMPTY_TOTALS)
    for day, org_id in dialect_of(connection).read_days(run(_EMPTIED_DAYS).all()):
        delete_settled(connection, day, org_id)
    days = run("SELECT DISTINCT day, org_id FROM batch_rollups").all()
    return sorted((org_id, day) for day, org_id in dialect_of(connection).read_days(days))


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


def _bytewise(column: str, bytewise: str) -> str:
    return f'{column} COLLATE "{bytewise}"'


def _filtered(
    filters: Mapping[str, Sequence[str]], mark: str, params: list[Any], alias: str = ""
) -> str:
    """`` AND column IN (…)`` for each filtered column, its values added to ``params``."""
    sql = ""
    for column, values in filters.items():
        if column not in GROUP_COLUMNS:
            raise ValueError(f"not a rollup column: {column}")
        sql += f" AND {alias}{column} IN ({', '.join([mark] * len(values))})"
        params.extend(values)
    return sql


def one_dimension(group_by: Sequence[str], filters: Mapping[str, Sequence[str]]) -> bool:
    """Whether the per-dimension rollup answers: one dimension grouped, no other filtered."""
    return len(group_by) == 1 and set(filters) <= set(group_by)


#: The dimensions the pair rollups pair with the product (store/pairs.py).
PAIRED = GROUP_COLUMNS[1:]
assert GROUP_COLUMNS[0] == "product"
#: The pair rollups' key begins (org_id, dimension, day): a day's rows are found by
#: naming every dimension, else both stores read all of the organization's rows.
_EVERY_PAIRED = ", ".join(f"'{dimension}'" for dimension in PAIRED)
#: The same for the per-dimension rollups, keyed (org_id, dimension, day, value).
_EVERY_DIMENSION = ", ".join(f"'{dimension}'" for dimension in GROUP_COLUMNS)


def delete_settled(connection: Connection, day: date, org_id: str) -> None:
    """Delete what settling built for one organization-day: its per-dimension and pair
    rollups and its products' running totals."""
    dialect = dialect_of(connection)
    mark = dialect.mark
    stored = dialect.bind_day(day)
    connection.exec_driver_sql(
        f"DELETE FROM usage_pair_rollups WHERE org_id = {mark} AND dimension IN "
        f"({_EVERY_PAIRED}) AND day = {mark}",
        (org_id, stored),
    )
    connection.exec_driver_sql(
        f"DELETE FROM usage_dimension_rollups WHERE org_id = {mark} AND dimension IN "
        f"({_EVERY_DIMENSION}) AND day = {mark}",
        (org_id, stored),
    )
    connection.exec_driver_sql(
        f"DELETE FROM usage_product_running_totals WHERE org_id = {mark} AND day = {mark}",
        (org_id, stored),
    )


def paired_with_product(
    group_by: Sequence[str], filters: Mapping[str, Sequence[str]]
) -> str | None:
    """The dimension whose pair rollup with the product answers (None: none does, or
    none is needed): nothing grouped or filtered but the product and that one."""
    others = (set(group_by) | set(filters)) - {"product"}
    return others.pop() if len(others) == 1 else None


def product_only(group_by: Sequence[str], filters: Mapping[str, Sequence[str]]) -> bool:
    """Whether the product's own quarter-hour rollup answers: nothing but the product
    grouped or filtered."""
    return set(group_by) | set(filters) <= {"product"}


def usage_by_day(
    connection: Connection,
    *,
    org_id: str,
    start: date,
    end: date,
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    full: bool = False,
    pairs: bool = True,
) -> list[tuple[date, tuple[str, ...], int, int, int]]:
    """(day, grouped values, credits_micro, request_count, event_count) per UTC day and
    combination of ``group_by``'s values, days ``start`` … ``end``.

    ``group_by`` and the keys of ``filters`` are rollup columns (``GROUP_COLUMNS``);
    a value of ``''`` means the dimension had no value. Rows come in the export's
    order: by day, then by each value's UTF-8 bytes in ``group_by`` order (so ``''``
    first). For the settled days (store/pairs.py), one dimension with no other
    filtered is read from its own rollup (one stored row per day and value, nothing
    summed), unless ``full``; the product and one other dimension from their pair
    rollup (``pairs`` False: never). Anything else, and every day not settled, from
    the quarter rollups (the product's own when only the product is asked for and
    not ``full``).
    """
    _check_columns(group_by)
    if not full and one_dimension(group_by, filters):
        return _where_settled(
            connection, org_id, start, end, group_by, filters, _DimensionRollup(group_by[0])
        )
    paired = paired_with_product(group_by, filters) if pairs else None
    if paired is not None:
        return _where_settled(
            connection, org_id, start, end, group_by, filters, _PairRollup(paired, group_by)
        )
    return _by_quarter_rollups(connection, org_id, [(start, end)], group_by, filters, full=full)


def _by_quarter_rollups(
    connection: Connection,
    org_id: str,
    days: Sequence[tuple[date, date]],
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    *,
    full: bool = False,
) -> list[tuple[date, tuple[str, ...], int, int, int]]:
    """:func:`usage_by_day` from the quarter rollups, for the days of each of ``days``
    (first, last): their quarters summed by day, grouped and ordered by the values'
    UTF-8 bytes, as the export is ordered. The product's own quarter rollup when it
    answers, unless ``full``."""
    dialect = dialect_of(connection)
    mark = dialect.mark
    table = "usage_quarter_rollups"
    if not full and product_only(group_by, filters):
        table = "usage_product_quarter_rollups"
    grouped = [_bytewise(column, dialect.bytewise) for column in group_by]
    keys = ", ".join(["day_number", *grouped])
    params: list[Any] = [org_id]
    where = f"FROM {table} WHERE org_id = {mark}" + _filtered(filters, mark, params)
    sums = ("sum(credits_micro)", "sum(request_count)", "sum(event_count)")
    select = ", ".join([f"{_DAY_NUMBER} AS day_number", *grouped, *sums])
    ranges = [
        (
            (first.toordinal() - _EPOCH_ORDINAL) * QUARTERS_PER_DAY,
            (last.toordinal() + 1 - _EPOCH_ORDINAL) * QUARTERS_PER_DAY,
        )
        for first, last in days
    ]
    if len(ranges) == 1:  # one range (the usual case): the store sorts
        ((low, high),) = ranges
        found: Iterable[Sequence[Any]] = (
            (0, *row)
            for row in connection.exec_driver_sql(
                f"SELECT {select} {where} AND quarter >= {mark} AND quarter < {mark} "
                f"GROUP BY {keys} ORDER BY {keys}",
                (*params, low, high),
            )
        )
    else:
        grouping = f" GROUP BY {keys}"
        found = _per_range(connection, select, (where, params), "quarter", ranges, grouping)
    width = len(group_by)
    rows = [
        (
            date.fromordinal(int(row[1]) + _EPOCH_ORDINAL),
            tuple(row[2 : 2 + width]),
            int(row[2 + width]),
            int(row[3 + width]),
            int(row[4 + width]),
        )
        for row in found
    ]
    if len(ranges) > 1:
        # Python orders str by code point, which is UTF-8's byte order.
        rows.sort(key=itemgetter(0, 1))
    return rows


class _DimensionRollup:
    """The read of one dimension's own day rollup (settled days only)."""

    def __init__(self, dimension: str) -> None:
        self.dimension = dimension

    def statement(
        self, mark: str, bytewise: str, filters: Mapping[str, Sequence[str]]
    ) -> tuple[str, list[Any]]:
        """The SELECT after ``org_id``, ``day >=`` and ``day <=`` marks, and its
        further parameters."""
        statement = (
            "SELECT day, value, credits_micro, request_count, event_count "
            f"FROM usage_dimension_rollups WHERE org_id = {mark} AND dimension = "
            f"'{self.dimension}' AND day >= {mark} AND day <= {mark}"
        )
        params: list[Any] = []
        if self.dimension in filters:
            values = filters[self.dimension]
            statement += f" AND value IN ({', '.join([mark] * len(values))})"
            params.extend(values)
        return f"{statement} ORDER BY day, {_bytewise('value', bytewise)}", params


class _PairRollup:
    """The read of the pair rollup of the product and ``paired`` (settled days only)."""

    def __init__(self, paired: str, group_by: Sequence[str]) -> None:
        self.paired = paired
        self.group_by = group_by

    def statement(
        self, mark: str, bytewise: str, filters: Mapping[str, Sequence[str]]
    ) -> tuple[str, list[Any]]:
        """As :meth:`_DimensionRollup.statement`."""
        stored = {"product": "product", self.paired: "value"}
        grouped = [_bytewise(stored[column], bytewise) for column in self.group_by]
        keys = ", ".join(["day", *grouped])
        # Both of a row's values grouped: each stored row is a row of the answer
        # (summing them as well would double the read's time).
        whole = len(self.group_by) == 2
        amounts = "credits_micro, request_count, event_count"
        if not whole:
            # Cast: PostgreSQL sums bigints as numeric, and the rows are used as the
            # driver gives them (an int on both stores).
            amounts = ", ".join(
                f"CAST(sum({column}) AS BIGINT)"
                for column in ("credits_micro", "request_count", "event_count")
            )
        statement = (
            f"SELECT {keys}, {amounts} FROM usage_pair_rollups WHERE org_id = {mark} "
            f"AND dimension = '{self.paired}' AND day >= {mark} AND day <= {mark}"
        )
        params: list[Any] = []
        for column, values in filters.items():
            statement += f" AND {stored[column]} IN ({', '.join([mark] * len(values))})"
            params.extend(values)
        return f"{statement}{'' if whole else f' GROUP BY {keys}'} ORDER BY {keys}", params


def _where_settled(
    connection: Connection,
    org_id: str,
    start: date,
    end: date,
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    rollup: _DimensionRollup | _PairRollup,
) -> list[tuple[date, tuple[str, ...], int, int, int]]:
    """:func:`usage_by_day` from a rollup that settling builds (``rollup``) for the
    days it is current for (settled), from the quarter rollups for the others."""
    dialect = dialect_of(connection)
    mark = dialect.mark
    days = dialect.stored_days()
    # The driver's own rows here and below (this is the seed's request).
    found = [
        (days[day], current)
        for day, current in read_rows(
            connection,
            "SELECT day, changes = pairs_changes FROM usage_daily_totals "
            f"WHERE org_id = {mark} AND day >= {mark} AND day <= {mark} ORDER BY day",
            (org_id, dialect.bind_day(start), dialect.bind_day(end)),
        )
    ]
    settled = {day for day, current in found if current}
    if not settled:
        return _by_quarter_rollups(connection, org_id, [(start, end)], group_by, filters)
    unsettled: list[tuple[date, date]] = []  # runs of consecutive stored days
    for day, current in found:
        if current:
            continue
        if unsettled and unsettled[-1][1].toordinal() + 1 == day.toordinal():
            unsettled[-1] = (unsettled[-1][0], day)
        else:
            unsettled.append((day, day))
    statement, more = rollup.statement(mark, dialect.bytewise, filters)
    params = (org_id, dialect.bind_day(start), dialect.bind_day(end), *more)
    found_rows = read_rows(connection, statement, params)
    # Each row is (day, the grouped values…, credits, requests, events), the amounts
    # ints as stored (or cast by the statement): one pass.
    amounts = 1 + len(group_by)
    rows = [
        (day, row[1:amounts], row[amounts], row[amounts + 1], row[amounts + 2])
        for row in found_rows
        # A day changed since it was settled keeps its old rows: not read.
        if (day := days[row[0]]) in settled
    ]
    if unsettled:
        rows += _by_quarter_rollups(connection, org_id, unsettled, group_by, filters)
        rows.sort(key=itemgetter(0, 1))
    return rows


#: Ranges read by one statement (SQLite allows 500 parts in a compound SELECT).
_RANGES_PER_STATEMENT = 200


def _per_range(
    connection: Connection,
    select: str,
    where: tuple[str, Sequence[Any]],
    column: str,
    ranges: Sequence[tuple[int, int]],
    group_by: str = "",
) -> Iterator[Sequence[Any]]:
    """``SELECT <range's index>, {select} {where} AND column in the range {group_by}``
    for each range, as the parts of a UNION ALL: each part is its own index range
    scan (ORed ranges in one condition would scan the whole index on SQLite) and
    sums its own range, so a range comes back as one row per group."""
    mark = dialect_of(connection).mark
    where_sql, where_params = where
    for start in range(0, len(ranges), _RANGES_PER_STATEMENT):
        chosen = ranges[start : start + _RANGES_PER_STATEMENT]
        parts = []
        params: list[Any] = []
        for index, (low, high) in enumerate(chosen, start=start):
            parts.append(
                f"SELECT {index}, {select} {where_sql} AND {column} >= {mark} "
                f"AND {column} < {mark}{group_by}"
            )
            params += [*where_params, low, high]
        yield from connection.exec_driver_sql(" UNION ALL ".join(parts), tuple(params))


def _check_columns(columns: Iterable[str]) -> None:
    for column in columns:
        if column not in GROUP_COLUMNS:
            raise ValueError(f"not a rollup column: {column}")


def _range_rows(
    found: Iterable[Sequence[Any]], width: int
) -> list[tuple[int, tuple[str, ...], int, int, int]]:
    return [
        (
            int(row[0]),
            tuple(row[1 : 1 + width]),
            int(row[1 + width]),
            int(row[2 + width]),
            int(row[3 + width]),
        )
        for row in found
    ]


def usage_by_quarter(
    connection: Connection,
    *,
    org_id: str,
    ranges: Sequence[tuple[int, int]],
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
) -> list[tuple[int, tuple[str, ...], int, int, int]]:
    """(range index, grouped values, credits_micro, request_count, event_count): the
    quarter hours in each of ``ranges`` ([from, to) quarter numbers) summed per
    combination of values (as in :func:`usage_by_day`): by product alone
    (:func:`product_only`) as :func:`usage_by_running_totals` reads them (the running
    totals of settled days, the product's own quarter rollup for the rest); else from
    the full quarter rollup."""
    _check_columns(group_by)
    mark = dialect_of(connection).mark
    params: list[Any] = [org_id]
    found_ends: list[tuple[int, tuple[str, ...], int, int, int]] = []
    left = list(range(len(ranges)))  # the indexes of the ranges still to read
    if product_only(group_by, filters):
        table = "usage_product_quarter_rollups"
        ends, unread = usage_by_running_totals(
            connection,
            org_id=org_id,
            parts=[(index, low, high) for index, (low, high) in enumerate(ranges)],
            grouped=bool(group_by),
            filters=filters,
        )
        found_ends = _range_rows(ends, len(group_by))
        if not unread:
            return found_ends
        left = sorted(unread)
    else:
        table = "usage_quarter_rollups"
    where = f"FROM {table} WHERE org_id = {mark}" + _filtered(filters, mark, params)
    grouped = ", ".join(group_by)
    found = _per_range(
        connection,
        f"{grouped}, sum(credits_micro), sum(request_count), sum(event_count)",
        (where, params),
        "quarter",
        [ranges[index] for index in left],
        f" GROUP BY {grouped}",
    )
    rows = _range_rows(found, len(group_by))
    if len(left) < len(ranges):
        rows = [(left[index], *rest) for index, *rest in rows]  # type: ignore[misc]
    return found_ends + rows


def usage_by_running_totals(
    connection: Connection,
    *,
    org_id: str,
    parts: Sequence[tuple[int, int, int]],
    filters: Mapping[str, Sequence[str]],
    grouped: bool = True,
) -> tuple[list[Sequence[Any]], set[int]]:
    """Rows (number, product, credits_micro, request_count, event_count), the driver's
    own, of each number's parts (number, from, to: [from, to) quarter numbers) summed
    per product; and the numbers left to the caller: those covering a whole settled
    day that has no running totals (a sparse day, whose day rollup answers).

    A settled day with running totals gives each part the running total through
    the part's end in that day less the one before its start (a local day is three
    lookups per product wherever its ends fall); any other day its product quarter
    rollups in the part. All of it is summed by one statement (per few hundred
    points and ranges, a number never split), whose rows come by number, then by the
    product's UTF-8 bytes (the export's order); a number and product with no events
    has no row. ``grouped`` False: summed over the products (rows without the
    product). ``filters``: the product's.
    """
    if set(filters) - {"product"}:
        raise ValueError("the running totals are the product's only")
    dialect = dialect_of(connection)
    mark = dialect.mark
    # Days that can be stored (quarters of years 0 and 10000 are read as quarters).
    first_day, last_day = 1 - _EPOCH_ORDINAL, date.max.toordinal() - _EPOCH_ORDINAL
    lowest, highest = last_day, first_day
    for _, low, high in parts:
        if low < high and high - low <= _LONGEST_PART:
            lowest = min(lowest, low // QUARTERS_PER_DAY)
            highest = max(highest, (high - 1) // QUARTERS_PER_DAY)
    lowest, highest = max(lowest, first_day), min(highest, last_day)
    # The settled days: those with running totals (their number → stored value), and
    # the sparse ones without.
    ready: dict[int, Any] = {}
    sparse: set[int] = set()
    if lowest <= highest:
        found = connection.exec_driver_sql(
            "SELECT day, CASE WHEN EXISTS (SELECT 1 FROM usage_product_running_totals AS r "
            "WHERE r.org_id = t.org_id AND r.day = t.day) THEN 1 ELSE 0 END "
            f"FROM usage_daily_totals AS t WHERE org_id = {mark} AND day >= {mark} "
            f"AND day <= {mark} AND changes = pairs_changes",
            (
                org_id,
                dialect.bind_day(date.fromordinal(lowest + _EPOCH_ORDINAL)),
                dialect.bind_day(date.fromordinal(highest + _EPOCH_ORDINAL)),
            ),
        ).all()
        for day, running in dialect.read_days(found):
            number = day.toordinal() - _EPOCH_ORDINAL
            if running:
                ready[number] = dialect.bind_day(day)
            else:
                sparse.add(number)
    # Per number the parameters of its points (number, day, quarters of the day through
    # which the running total is read, sign) and its ranges of quarters.
    points: dict[int, list[Any]] = {}
    ranges: dict[int, list[list[int]]] = {}
    unread: set[int] = set()
    for number, low, high in parts:
        at = points.get(number)
        if at is None:
            at = points[number] = []
            ranges[number] = []
        if low >= high or number in unread:
            continue
        spans = ranges[number]
        if high - low > _LONGEST_PART:  # not a bucket's: its quarters, as they are
            spans.append([low, high])
            continue
        day, last = low // QUARTERS_PER_DAY, (high - 1) // QUARTERS_PER_DAY
        while day <= last:
            start = day * QUARTERS_PER_DAY
            stored = ready.get(day)
            if stored is not None:
                at += (number, stored, min(high - start, QUARTERS_PER_DAY), 1)
                if low > start:
                    at += (number, stored, low - start, -1)
            else:
                begin, end = max(low, start), min(high, start + QUARTERS_PER_DAY)
                if day in sparse and end - begin == QUARTERS_PER_DAY:
                    unread.add(number)
                    break
                if spans and spans[-1][1] == begin:
                    spans[-1][1] = end
                else:
                    spans.append([begin, end])
            day += 1
    # Whole numbers to a statement.
    products = tuple(filters.get("product", ()))
    rows: list[Sequence[Any]] = []
    chosen: list[Any] = []
    chosen_ranges: list[Any] = []
    read = [number for number in sorted(points) if number not in unread]
    read = [number for number in read if points[number] or ranges[number]]
    for position, number in enumerate(read):
        chosen += points[number]
        for low, high in ranges[number]:
            chosen_ranges.append((number, low, high))
        if (
            position + 1 < len(read)
            and len(chosen) < 4 * _RANGES_PER_STATEMENT
            and len(chosen_ranges) < _RANGES_PER_STATEMENT
        ):
            continue
        statement = _running_totals_statement(
            mark, dialect.bytewise, len(chosen) // 4, len(chosen_ranges), grouped, len(products)
        )
        params: list[Any] = [*chosen]
        if chosen:
            params += (org_id, *products)
        for number, low, high in chosen_ranges:
            params += (number, org_id, low, high, *products)
        rows += connection.exec_driver_sql(statement, tuple(params)).cursor.fetchall()
        chosen, chosen_ranges = [], []
    return rows, unread


#: The longest part read day by day (quarters): a month's bucket is at most 32 UTC days.
_LONGEST_PART = 64 * QUARTERS_PER_DAY


@lru_cache(maxsize=256)
def _running_totals_statement(
    mark: str, bytewise: str, count: int, ranges: int, grouped: bool, products: int
) -> str:
    """The running totals at ``count`` points summed with their signs, and the product
    quarter rollups of ``ranges`` ranges, per number and product (``grouped`` False:
    summed over the products), in the export's order, the sums of no events left out.
    Parameters: each point's (number, day, quarter, sign), then (if any points) the
    organization and ``products`` products, then each range's (number, organization,
    from, to, ``products`` products).

    The points as a VALUES list joined to the table: a key lookup each; each range
    a part of a UNION ALL, its own index range scan; one GROUP BY."""
    amounts = ("credits_micro", "request_count", "event_count")
    listed = ", ".join([mark] * products)
    wanted = looked_up = ""
    if count:
        points = ", ".join([f"({mark}, {mark}, {mark}, {mark})"] * count)
        wanted = f"WITH wanted (n, day, quarter, sign) AS (VALUES {points}) "
        looked_up = (
            "FROM wanted AS w JOIN usage_product_running_totals AS r ON r.org_id = "
            f"{mark} AND r.day = w.day AND r.quarter = w.quarter"
        )
        if products:
            looked_up += f" AND r.product IN ({listed})"
    if not ranges:  # the points alone: grouped as they are joined
        keys = f"w.n, {_bytewise('r.product', bytewise)}" if grouped else "w.n"
        signed = ", ".join(f"CAST(sum(r.{amount} * w.sign) AS BIGINT)" for amount in amounts)
        return (
            f"{wanted}SELECT {keys}, {signed} {looked_up} GROUP BY {keys} "
            f"HAVING sum(r.event_count * w.sign) <> 0 ORDER BY {keys}"
        )
    selects = []
    if count:
        signed = ", ".join(f"r.{amount} * w.sign AS {amount}" for amount in amounts)
        selects.append(f"SELECT w.n AS n, r.product AS product, {signed} {looked_up}")
    quarters = (
        f"SELECT CAST({mark} AS INTEGER) AS n, product, {', '.join(amounts)} FROM "
        f"usage_product_quarter_rollups WHERE org_id = {mark} AND quarter >= {mark} "
        f"AND quarter < {mark}"
    )
    if products:
        quarters += f" AND product IN ({listed})"
    selects += [quarters] * ranges
    keys = f"n, {_bytewise('product', bytewise)}" if grouped else "n"
    sums = ", ".join(f"CAST(sum({amount}) AS BIGINT)" for amount in amounts)
    return (
        f"{wanted}SELECT {keys}, {sums} FROM ({' UNION ALL '.join(selects)}) AS parts "
        f"GROUP BY {keys} HAVING sum(event_count) <> 0 ORDER BY {keys}"
    )


#: The condition on a usage_events row that it counts: it was not voided.
_NOT_VOIDED = (
    "NOT EXISTS (SELECT 1 FROM usage_voids WHERE usage_voids.org_id = usage_events.org_id "
    "AND usage_voids.event_id = usage_events.event_id)"
)


def usage_by_instant(
    connection: Connection,
    *,
    org_id: str,
    ranges: Sequence[tuple[int, int]],
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
) -> list[tuple[int, tuple[str, ...], int, int, int]]:
    """(range index, grouped values, credits_micro, request_count, event_count): the
    stored events whose instant is in each of ``ranges`` ([from, to) microseconds)
    summed per combination of values.

    For the rare bucket that does not begin and end on a quarter hour (offsets
    before 1980): the events are read, as no rollup is that fine; voided ones
    are left out, as the rollups leave them out.
    """
    _check_columns(group_by)
    mark = dialect_of(connection).mark
    params: list[Any] = [org_id]
    where = f"FROM usage_events WHERE org_id = {mark} AND {_NOT_VOIDED}" + _filtered(
        filters, mark, params
    )
    values = ", ".join(f"coalesce({column}, '')" for column in group_by)
    found = _per_range(
        connection,
        f"{values}, sum(credits_micro), sum(request_count), count(*)",
        (where, params),
        "timestamp_us",
        ranges,
        f" GROUP BY {values}",
    )
    return _range_rows(found, len(group_by))
