"""The per-dimension rollups: built by settling a day (decision 0016; before it, kept
by every ingest), backfilled by migration 0003, and read by the export only when
they give the full rollups' answer."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from creditmeter.export import ExportQuery
from creditmeter.settling import settle
from creditmeter.store import open_store
from creditmeter.store import usage as sql
from creditmeter.store.database import _alembic_config, normalise_url
from creditmeter.timestamps import day_of_us
from tests.fleet import (
    dimension_rollups_disagreeing,
    make_events,
    record_raw,
    set_up_org,
)

DAY0 = date(2026, 3, 1)


def _rollup_rows(count: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: dict[tuple[object, ...], dict[str, object]] = {}
    for _ in range(count):
        key = (
            rng.choice(["org_a", "org_b"]),
            DAY0 + timedelta(days=rng.randrange(20)),
            rng.choice(["parse", "extract", "split"]),
            rng.choice(["", "ocr", "tables"]),
            rng.choice(["", "key_1", "key_2"]),
            rng.choice(["", "pdf", "png"]),
        )
        rows[key] = dict(
            zip(("org_id", "day", *sql.GROUP_COLUMNS), key, strict=True),
            credits_micro=rng.randrange(0, 10**9),
            request_count=rng.randrange(0, 50),
        )
    return list(rows.values())


def test_migration_0003_backfills_the_dimension_rollups_of_an_older_database(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0002")
        # The table of revision 0002 (the schema module no longer has it).
        usage_rollups = sa.Table("usage_rollups", sa.MetaData(), autoload_with=connection)
        connection.execute(usage_rollups.insert(), _rollup_rows(400, seed=3))
    engine.dispose()
    # Up to 0005, the last revision with usage_rollups (0006 replaced them by the
    # quarter-hour rollups, which it fills from the events).
    engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0005")
        for dimension in sql.GROUP_COLUMNS:
            full = connection.exec_driver_sql(
                f"SELECT org_id, day, {dimension}, sum(credits_micro), sum(request_count) "
                f"FROM usage_rollups GROUP BY org_id, day, {dimension}"
            ).all()
            own = connection.exec_driver_sql(
                "SELECT org_id, day, value, credits_micro, request_count "
                f"FROM usage_dimension_rollups WHERE dimension = '{dimension}'"
            ).all()
            assert sorted(map(tuple, own)) == sorted(map(tuple, full)) and full
    engine.dispose()


def test_settling_makes_every_dimension_rollup_equal_to_the_full_rollups_summed(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    access = set_up_org(url)
    store = open_store(url)
    try:
        events = make_events(access.org_id, 1500, seed=11)
        for start in range(0, len(events), 250):
            record_raw(store, events[start : start + 250])
        # A resent batch changes nothing.
        record_raw(store, events[:250])
    finally:
        store.close()
    assert dimension_rollups_disagreeing(url) == []


def test_an_export_filtered_only_on_its_own_dimension_equals_the_full_rollups_answer(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    access = set_up_org(url)
    store = open_store(url)
    try:
        record_raw(store, make_events(access.org_id, 800, seed=2))
        settle(store)
        query = ExportQuery(
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            group_by=("file_type",),
            filters={"file_type": ("pdf", "png")},
        )
        with store.read() as connection:
            arguments = {"org_id": access.org_id, "start": query.start_date, "end": query.end_date}
            own = sql.usage_by_day(
                connection, group_by=("file_type",), filters=query.filters, **arguments
            )
            full = sql.usage_by_day(
                connection, group_by=("file_type",), filters=query.filters, full=True, **arguments
            )
    finally:
        store.close()
    assert sorted(own) == sorted(full) and full


def _summed_from_events(database_url: str) -> dict[str, set[tuple[Any, ...]]]:
    """Every rollup table as it should be: the raw events summed in Python by UTC day."""
    engine = sa.create_engine(normalise_url(database_url), poolclass=sa.NullPool)
    full: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    try:
        with engine.connect() as connection:
            events = connection.exec_driver_sql(
                "SELECT org_id, timestamp_us, product, feature, api_key, file_type, "
                "credits_micro, request_count FROM usage_events"
            ).all()
    finally:
        engine.dispose()
    for org_id, timestamp_us, *values, credits, requests in events:
        key = (org_id, str(day_of_us(timestamp_us)), *(value or "" for value in values))
        full[key][0] += credits
        full[key][1] += requests
    expected: dict[str, dict[tuple[Any, ...], list[int]]] = {
        "totals": defaultdict(lambda: [0, 0]),
        "dimensions": defaultdict(lambda: [0, 0]),
    }
    for (org_id, day, *values), (credits, requests) in full.items():
        sums = [expected["totals"][(org_id, day)]]
        sums += [
            expected["dimensions"][(org_id, dimension, day, value)]
            for dimension, value in zip(sql.GROUP_COLUMNS, values, strict=True)
        ]
        for amounts in sums:
            amounts[0] += credits
            amounts[1] += requests
    return {
        name: {(*key, c, r) for key, (c, r) in table.items()}
        for name, table in {"full": full, **expected}.items()
    }


def _stored_rollups(database_url: str) -> dict[str, set[tuple[Any, ...]]]:
    engine = sa.create_engine(normalise_url(database_url), poolclass=sa.NullPool)
    queries = {
        "totals": "SELECT org_id, day, credits_micro, request_count FROM usage_daily_totals",
        "dimensions": "SELECT org_id, dimension, day, value, credits_micro, request_count "
        "FROM usage_dimension_rollups",
    }
    try:
        with engine.connect() as connection:
            stored = {
                name: {
                    tuple(str(v) if isinstance(v, date) else v for v in row)
                    for row in connection.exec_driver_sql(query)
                }
                for name, query in queries.items()
            }
            quarters = connection.exec_driver_sql(
                "SELECT org_id, quarter, product, feature, api_key, file_type, credits_micro, "
                "request_count FROM usage_quarter_rollups"
            ).all()
    finally:
        engine.dispose()
    # The full rollups are quarter hours: summed here by UTC day (Python's // floors).
    full: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for org_id, quarter, *values, credits, requests in quarters:
        day = date(1970, 1, 1) + timedelta(days=int(quarter) // 96)
        full[(org_id, str(day), *values)][0] += int(credits)
        full[(org_id, str(day), *values)][1] += int(requests)
    stored["full"] = {(*key, c, r) for key, (c, r) in full.items()}
    return stored


def test_every_rollup_equals_the_stored_events_summed_by_utc_day_also_before_1970(
    new_database: Callable[[], str],
) -> None:
    """The store sums new events into three rollup tables itself (in SQL on SQLite):
    each must equal the raw events summed by UTC day, where days before 1970 round
    down, an offset moves an event across midnight and an absent dimension is ''."""
    url = new_database()
    access = set_up_org(url)
    instants = [
        "1969-12-31T23:59:59.999999Z",
        "1969-12-31T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:00:00-01:00",
        "1900-03-01T12:00:00Z",
        "0001-01-01T00:00:00Z",
        "2026-03-01T23:59:59.999999-01:00",
        "2026-03-01T00:30:00+01:00",
    ]
    rng = random.Random(5)
    events = make_events(access.org_id, 600, seed=21)
    for n, raw in enumerate(events):
        raw["timestamp"] = instants[n % len(instants)]
        if n % 3:
            raw["feature"] = rng.choice(["ocr", "tables"])
        if n % 5 == 0:
            raw["apiKey"] = f"key_{n % 4}"
        raw["requestCount"] = rng.randrange(0, 4)
    store = open_store(url)
    try:
        for start in range(0, len(events), 150):
            record_raw(store, events[start : start + 150])
        record_raw(store, events[100:300])  # resent: adds nothing
        settle(store)
    finally:
        store.close()
    expected = _summed_from_events(url)
    # 0001-01-01, 1900-03-01, 1969-12-31, 1970-01-01, 2026-02-28 and 2026-03-02 (UTC).
    assert len(expected["totals"]) == 6
    assert _stored_rollups(url) == expected
