"""On SQLite, the rollup tables become WITHOUT ROWID tables, clustered by their key.

A rowid table keeps its primary key in a second B-tree: every rollup upsert
wrote two trees, and every export read found each row through the key tree and
then fetched it from the table. Clustered by (org, day, ...), a row is written
once and an export's range is read in one pass (filtered exports 1.6x faster,
ingest about 5% faster, measured with bench/). PostgreSQL is unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("usage_rollups", "usage_dimension_rollups", "usage_daily_totals")
_SUFFIX = " WITHOUT ROWID"


def _rebuild(table: str, *, clustered: bool) -> None:
    """Copy ``table`` into a table of the same definition, with or without a rowid.

    SQLite cannot change this in place. The table's own CREATE statement is
    reused, so its columns, key and CHECK stay exactly as they were.
    """
    bind = op.get_bind()
    create = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    create = create.removesuffix(_SUFFIX) + (_SUFFIX if clustered else "")
    bind.exec_driver_sql(f"ALTER TABLE {table} RENAME TO _old_{table}")
    bind.exec_driver_sql(create)
    bind.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM _old_{table}")
    bind.exec_driver_sql(f"DROP TABLE _old_{table}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            _rebuild(table, clustered=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            _rebuild(table, clustered=False)
