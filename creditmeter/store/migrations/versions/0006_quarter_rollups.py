"""Rollups for local time: quarter hours and event counts.

- ``usage_quarter_rollups`` keeps the full rollup key per UTC quarter hour and
  takes the place of ``usage_rollups`` (the same key per UTC day): in a sparse
  workload both hold about a row per event, and ingest writes one of them.
- The per-dimension day rollups gain ``event_count``.

So an export in any zone, or in hour buckets, is answered from rollups
(docs/decisions/0008-local-time-rollups.md). All are filled from the stored
events here; on a large database this reads every event once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ("product", "feature", "api_key", "file_type")


def _floor_division(column: str, divisor: int) -> str:
    return (
        f"CASE WHEN {column} >= 0 THEN {column} / {divisor} ELSE ({column} + 1) / {divisor} - 1 END"
    )


QUARTER = _floor_division("timestamp_us", 900000000)
DAY_NUMBER = _floor_division("quarter", 96)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        "usage_quarter_rollups",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("quarter", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.String(length=128), nullable=False) for name in DIMENSIONS),
        sa.Column("credits_micro", sa.BigInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "quarter", *DIMENSIONS, name=op.f("pk_usage_quarter_rollups")
        ),
        sqlite_with_rowid=False,
    )
    op.add_column(
        "usage_dimension_rollups",
        sa.Column("event_count", sa.BigInteger(), nullable=False, server_default="0"),
    )

    values = ", ".join(f"coalesce({name}, '')" for name in DIMENSIONS)
    bind.exec_driver_sql(
        f"INSERT INTO usage_quarter_rollups SELECT org_id, {QUARTER}, {values}, "
        "sum(credits_micro), sum(request_count), count(*) FROM usage_events "
        f"GROUP BY org_id, {QUARTER}, {values}"
    )
    day = (
        f"date(({DAY_NUMBER}) * 86400, 'unixepoch')"
        if sqlite
        else f"DATE '1970-01-01' + CAST({DAY_NUMBER} AS integer)"
    )
    for name in DIMENSIONS:
        bind.exec_driver_sql(
            "UPDATE usage_dimension_rollups SET event_count = sums.events FROM ("
            f"SELECT org_id, {day} AS day, {name} AS value, sum(event_count) AS events "
            f"FROM usage_quarter_rollups GROUP BY org_id, {day}, {name}) AS sums "
            "WHERE usage_dimension_rollups.org_id = sums.org_id "
            f"AND usage_dimension_rollups.dimension = '{name}' "
            "AND usage_dimension_rollups.day = sums.day "
            "AND usage_dimension_rollups.value = sums.value"
        )
    op.drop_table("usage_rollups")


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        "usage_rollups",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.String(length=128), nullable=False) for name in DIMENSIONS),
        sa.Column("credits_micro", sa.BigInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "day", *DIMENSIONS, name=op.f("pk_usage_rollups")),
        sqlite_with_rowid=False,
    )
    day = (
        f"date(({DAY_NUMBER}) * 86400, 'unixepoch')"
        if sqlite
        else f"DATE '1970-01-01' + CAST({DAY_NUMBER} AS integer)"
    )
    columns = ", ".join(DIMENSIONS)
    bind.exec_driver_sql(
        f"INSERT INTO usage_rollups SELECT org_id, {day}, {columns}, sum(credits_micro), "
        f"sum(request_count) FROM usage_quarter_rollups GROUP BY org_id, {day}, {columns}"
    )
    op.drop_column("usage_dimension_rollups", "event_count")
    op.drop_table("usage_quarter_rollups")
