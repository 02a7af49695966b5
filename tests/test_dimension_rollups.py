"""The per-dimension rollups: kept with every ingest, backfilled by migration 0003,
and read by the export only when they give the full rollups' answer."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import command

from creditmeter.export import ExportQuery
from creditmeter.ingest import record_batch
from creditmeter.store import open_store
from creditmeter.store import usage as sql
from creditmeter.store.database import _alembic_config, normalise_url
from creditmeter.store.schema import usage_rollups
from tests.fleet import dimension_rollups_disagreeing, make_events, set_up_org

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
        connection.execute(usage_rollups.insert(), _rollup_rows(400, seed=3))
    engine.dispose()
    store = open_store(url, ensure_schema=False)
    try:
        assert store.migrate()[0] == "0002"
        with store.read() as connection:
            for dimension in sql.GROUP_COLUMNS:
                arguments = {
                    "org_id": "org_a",
                    "start": DAY0,
                    "end": DAY0 + timedelta(days=30),
                }
                full = sql.usage_by_day(connection, group_by=dimension, filters={}, **arguments)
                own = sql.usage_by_day_of_dimension(
                    connection, dimension=dimension, values=None, **arguments
                )
                assert sorted(own) == sorted(full) and full
    finally:
        store.close()
    assert dimension_rollups_disagreeing(url) == []


def test_ingest_keeps_every_dimension_rollup_equal_to_the_full_rollups_summed(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    access = set_up_org(url)
    store = open_store(url)
    try:
        events = make_events(access.org_id, 1500, seed=11)
        for start in range(0, len(events), 250):
            items = list(enumerate(events[start : start + 250]))
            record_batch(store, items, max_events=10_000)
        # A resent batch changes nothing.
        record_batch(store, list(enumerate(events[:250])), max_events=10_000)
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
        record_batch(
            store, list(enumerate(make_events(access.org_id, 800, seed=2))), max_events=10_000
        )
        query = ExportQuery(
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            group_by="file_type",
            filters={"file_type": ("pdf", "png")},
        )
        with store.read() as connection:
            arguments = {"org_id": access.org_id, "start": query.start_date, "end": query.end_date}
            own = sql.usage_by_day_of_dimension(
                connection, dimension="file_type", values=("pdf", "png"), **arguments
            )
            full = sql.usage_by_day(
                connection, group_by="file_type", filters=query.filters, **arguments
            )
    finally:
        store.close()
    assert sorted(own) == sorted(full) and full
