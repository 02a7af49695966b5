"""The Alembic migrations and the schema module describe the same database."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from creditmeter.store import UnknownSchema, open_store
from creditmeter.store.database import head_revision
from creditmeter.store.schema import metadata


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
