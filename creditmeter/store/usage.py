"""SQL for usage: raw events, rollups and daily totals.

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

from sqlalchemy import Connection, Insert, Table, and_, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError

from creditmeter.store.schema import usage_daily_totals, usage_events, usage_rollups

#: (org_id, day, product, feature, api_key, file_type)
RollupKey = tuple[str, date, str, str, str, str]
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


def _insert(connection: Connection, table: Table) -> Any:
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


def insert_new_events(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> set[EventKey]:
    """Insert the events not stored yet; return the keys of those inserted.

    A row whose (org_id, event_id) is already stored, or is being stored by a
    concurrent transaction that then commits, is skipped.
    """
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda row: (row["org_id"], row["event_id"]))
    statement: Insert = (
        _insert(connection, usage_events)
        .on_conflict_do_nothing(index_elements=["org_id", "event_id"])
        .returning(usage_events.c.org_id, usage_events.c.event_id)
    )
    result = connection.execute(statement, ordered)
    return {(org_id, event_id) for org_id, event_id in result}


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


def add_to_rollups(connection: Connection, deltas: Mapping[RollupKey, Amounts]) -> None:
    """Add each delta to its rollup row, creating the row when it is new."""
    if not deltas:
        return
    params = [
        {
            "org_id": key[0],
            "day": key[1],
            "product": key[2],
            "feature": key[3],
            "api_key": key[4],
            "file_type": key[5],
            "credits_micro": credits,
            "request_count": requests,
        }
        for key, (credits, requests) in sorted(deltas.items())
    ]
    statement = _insert(connection, usage_rollups)
    statement = statement.on_conflict_do_update(
        index_elements=["org_id", "day", *GROUP_COLUMNS],
        set_={
            "credits_micro": usage_rollups.c.credits_micro + statement.excluded.credits_micro,
            "request_count": usage_rollups.c.request_count + statement.excluded.request_count,
        },
    )
    connection.execute(statement, params)


def add_to_daily_totals(connection: Connection, deltas: Mapping[DayKey, Amounts]) -> None:
    """Add to each organization-day total; raise TotalLimitExceeded past the limit."""
    if not deltas:
        return
    params = [
        {"org_id": org_id, "day": day, "credits_micro": credits, "request_count": requests}
        for (org_id, day), (credits, requests) in sorted(deltas.items())
    ]
    statement = _insert(connection, usage_daily_totals)
    statement = statement.on_conflict_do_update(
        index_elements=["org_id", "day"],
        set_={
            "credits_micro": usage_daily_totals.c.credits_micro + statement.excluded.credits_micro,
            "request_count": usage_daily_totals.c.request_count + statement.excluded.request_count,
        },
    )
    try:
        connection.execute(statement, params)
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
