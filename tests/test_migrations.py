"""The Alembic migrations and the schema module describe the same database."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from creditmeter.credits import MAX_TOTAL_MICRO
from creditmeter.events import read_json_body
from creditmeter.ingest import now_us, record_batch
from creditmeter.store import UnknownSchema, open_store
from creditmeter.store.database import _alembic_config, head_revision, normalise_url
from creditmeter.store.schema import metadata
from creditmeter.voids import Author, VoidRequest, void
from tests.fleet import exact_json, make_events, raw_and_rolled_disagreeing, set_up_org


def test_migrations_create_exactly_the_schema_module(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, metadata)
    finally:
        store.close()
    assert differences == []


def test_a_fresh_database_is_at_the_head_revision(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        assert store.schema_revision() == head_revision()
    finally:
        store.close()


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    open_store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(UnknownSchema, match="newer creditmeter"):
        open_store(url)


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    """Ingest edge case 11: durable means fsync."""
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with store.read() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        store.close()


def test_a_store_opening_while_another_process_switches_a_new_file_to_wal_waits_its_turn(
    tmp_path: Path,
) -> None:
    """Issue 12, item 8: a server starting beside another on a new SQLite file exited 1.

    Switching a new file to WAL takes the write lock; a second switch that meets
    it got "database is locked" at once, without waiting. Holding that lock here
    is the state the other process is in for the moment its switch lasts.
    """
    path = tmp_path / "new.db"
    switching = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    switching.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: switching.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    try:
        store = open_store(f"sqlite:///{path}")
    finally:
        release.join()
        switching.close()
    try:
        assert time.monotonic() - started >= 0.5
        assert store.schema_revision() == head_revision()
        with store.read() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        store.close()


def _open_at(url: str, instant: float, failures: multiprocessing.Queue[str]) -> None:
    while time.time() < instant:
        pass
    try:
        open_store(url).close()
    except Exception as exc:
        failures.put(f"{type(exc).__name__}: {getattr(exc, 'detail', '') or exc}")


def test_six_processes_opening_one_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    """As the PostgreSQL test of servers starting together, on new SQLite files."""
    fork = multiprocessing.get_context("fork")
    for attempt in range(10):
        url = f"sqlite:///{tmp_path / f'new-{attempt}.db'}"
        failures: multiprocessing.Queue[str] = fork.Queue()
        instant = time.time() + 0.3
        openers = [fork.Process(target=_open_at, args=(url, instant, failures)) for _ in range(6)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(timeout=60)
        assert [opener.exitcode for opener in openers] == [0] * 6
        assert failures.empty(), failures.get()
        store = open_store(url)
        try:
            assert store.schema_revision() == head_revision()
        finally:
            store.close()


ROLLUP_TABLES = ("usage_rollups", "usage_dimension_rollups", "usage_daily_totals")


def _clustered(connection: sa.Connection) -> dict[str, bool]:
    return {
        name: create.endswith("WITHOUT ROWID")
        for name, create in connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
        )
        if name in ROLLUP_TABLES
    }


def test_migration_0004_clusters_the_sqlite_rollups_by_key_keeping_every_row(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    rows = {
        "usage_rollups": [
            ("org_a", f"2026-03-0{d}", p, f, "", "pdf", d * 1_000_000 + n, n)
            for d in range(1, 4)
            for n, (p, f) in enumerate([("parse", ""), ("parse", "ocr"), ("split", "")])
        ],
        "usage_dimension_rollups": [
            ("org_a", "product", f"2026-03-0{d}", p, d * 7, 1)
            for d in range(1, 4)
            for p in ("parse", "split")
        ],
        "usage_daily_totals": [("org_a", f"2026-03-0{d}", d * 5, d) for d in range(1, 4)],
    }
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0003")
        assert _clustered(connection) == dict.fromkeys(ROLLUP_TABLES, False)
        for table, table_rows in rows.items():
            marks = ", ".join("?" * len(table_rows[0]))
            connection.exec_driver_sql(f"INSERT INTO {table} VALUES ({marks})", table_rows)
    engine.dispose()

    # Up to 0005, the last revision with usage_rollups (0006 replaced them).
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "0005")
            assert _clustered(connection) == dict.fromkeys(ROLLUP_TABLES, True)
            for table, table_rows in rows.items():
                stored = connection.exec_driver_sql(f"SELECT * FROM {table}").all()
                assert sorted(map(tuple, stored)) == sorted(table_rows), table
        # The daily totals keep their CHECK: the guard of every export sum.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE usage_daily_totals SET credits_micro = ? WHERE day = '2026-03-01'",
                (MAX_TOTAL_MICRO + 1,),
            )
    finally:
        engine.dispose()


_USAGE_TABLES = (
    "usage_events",
    "usage_daily_totals",
    "usage_dimension_rollups",
    "usage_quarter_rollups",
    "usage_product_quarter_rollups",
)

#: The sums of the daily totals: their settling bookkeeping (migration 0013) starts
#: afresh when a migration brings it back, every day unsettled.
_COLUMNS = {"usage_daily_totals": "org_id, day, credits_micro, request_count"}


def _usage_tables(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return {
                table: sorted(
                    tuple(str(value) for value in row)
                    for row in connection.exec_driver_sql(
                        f"SELECT {_COLUMNS.get(table, '*')} FROM {table}"
                    )
                )
                for table in _USAGE_TABLES
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("back_to", ["0005", "0006"])
def test_migrations_0006_and_0007_fill_the_rollups_as_ingest_would(
    new_database: Callable[[], str], back_to: str
) -> None:
    """Events recorded at the head, the database taken back to 0005 (no quarter
    rollups, no event counts) or 0006 (no product quarter rollups) and brought
    forward again: the migrations' own sums equal those ingest kept, on either
    store, before 1970 and across midnight too."""
    url = new_database()
    access = set_up_org(url)
    events = make_events(access.org_id, 600, seed=6)
    events += [
        {"id": f"old-{n}", "orgId": access.org_id, "timestamp": moment, "product": "parse",
         "credits": Decimal("0.5"), "requestCount": n % 2}
        for n, moment in enumerate(
            ["1969-12-31T23:59:59.999999Z", "1900-03-01T12:07:00Z", "0001-01-01T00:14:59Z",
             "2026-03-01T23:45:00-01:00", "2026-03-02T00:00:00+05:45"]
        )
    ]  # fmt: skip
    store = open_store(url)
    try:
        received = now_us()
        record_batch(
            store, read_json_body(exact_json(events), received), max_events=10_000,
            received_us=received,
        )  # fmt: skip
    finally:
        store.close()
    recorded = _usage_tables(url)
    assert len(recorded["usage_quarter_rollups"]) > 100

    engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), back_to)
    engine.dispose()
    store = open_store(url, ensure_schema=False)
    try:
        assert store.migrate()[0] == back_to
    finally:
        store.close()
    assert _usage_tables(url) == recorded


def test_migration_0008_adds_the_voids_and_going_back_is_refused_once_anything_is_voided(
    new_database: Callable[[], str],
) -> None:
    """Events recorded at the head, the database taken back to 0007 (no voids table)
    and forward again: every usage table as ingest kept it, and voids work. Once an
    event is voided, going back to 0007 is refused and changes nothing."""
    url = new_database()
    access = set_up_org(url)
    events = make_events(access.org_id, 300, seed=7)
    store = open_store(url)
    try:
        received = now_us()
        record_batch(
            store, read_json_body(exact_json(events), received), max_events=10_000,
            received_us=received,
        )  # fmt: skip
    finally:
        store.close()
    recorded = _usage_tables(url)

    engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0007")
        assert "usage_voids" not in sa.inspect(connection).get_table_names()
    engine.dispose()
    store = open_store(url, ensure_schema=False)
    try:
        assert store.migrate() == ("0007", head_revision())
        assert _usage_tables(url) == recorded
        request = VoidRequest(access.org_id, [events[0]["id"], events[1]["id"]], "migrated")
        assert void(store, request, Author("cli")).result.voided == 2
    finally:
        store.close()
    assert raw_and_rolled_disagreeing(url, access.org_id) == []

    engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
    try:
        # The revisions after 0008 first (alerts' 0009, the rate card's 0010): pysqlite runs DDL
        # outside this engine's transaction, so they would stay undone on SQLite.
        with engine.begin() as connection:
            command.downgrade(_alembic_config(connection), "0008")
        voided = _usage_tables(url)
        with pytest.raises(RuntimeError, match="2 voided events"), engine.begin() as connection:
            command.downgrade(_alembic_config(connection), "0007")
        with engine.connect() as connection:
            assert len(connection.exec_driver_sql("SELECT * FROM usage_voids").all()) == 2
    finally:
        engine.dispose()
    assert _usage_tables(url) == voided


def test_migration_0010_adds_the_rate_card_and_takes_it_away_keeping_every_credit(
    new_database: Callable[[], str],
) -> None:
    """Events priced from a card at the head; the database taken back to 0009 (no
    card, no units) and forward again: every credit and rollup is as ingest kept
    it, the units column is back (empty), the card empty, and pricing works again."""
    from creditmeter import rates

    url = new_database()
    access = set_up_org(url)
    store = open_store(url)
    received = now_us()
    stamp = "2026-11-30T00:00:00Z"

    def priced(prefix: str) -> list[dict[str, object]]:
        return [
            {"id": f"{prefix}-{n}", "orgId": access.org_id, "timestamp": stamp,
             "product": "parse", "units": n}
            for n in range(40)
        ]  # fmt: skip

    def draft() -> rates.RateDraft:
        return rates.draft(org_id=None, product="parse", feature=None, unit="page",
                           credits_per_unit=Decimal("0.3"), effective_from=None,
                           now_us=0)  # fmt: skip

    try:
        rates.record(store, [draft()], now_us=0)
        events = make_events(access.org_id, 300, seed=7)
        for body in (exact_json(events), json.dumps({"events": priced("u")}).encode()):
            record_batch(
                store, read_json_body(body, received), max_events=10_000, received_us=received
            )
    finally:
        store.close()
    recorded = _usage_tables(url)

    engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0009")
        tables = set(sa.inspect(connection).get_table_names())
        columns = {c["name"] for c in sa.inspect(connection).get_columns("usage_events")}
    engine.dispose()
    assert not {"rate_versions", "rate_units"} & tables
    assert "units_micro" not in columns
    store = open_store(url, ensure_schema=False)
    try:
        assert store.migrate()[0] == "0009"
    finally:
        store.close()
    after = _usage_tables(url)
    for table in _USAGE_TABLES[1:]:
        assert after[table] == recorded[table]
    # The events keep their credits; the units they were sent with are gone with 0009.
    assert {row[:-1] for row in after["usage_events"]} == {
        row[:-1] for row in recorded["usage_events"]
    }
    assert {row[-1] for row in after["usage_events"]} == {"None"}
    store = open_store(url)
    try:
        assert rates.list_versions(store) == []
        rates.record(store, [draft()], now_us=0)
        again = priced("v")
        body = json.dumps({"events": again}).encode()
        record_batch(store, read_json_body(body, received), max_events=10_000, received_us=received)
        assert len(rates.list_versions(store)) == 1
    finally:
        store.close()
