"""Quarter-hour rollups, and event counts in every rollup.

``usage_quarter_rollups`` keeps the full rollup key per UTC quarter hour, so an
export in any zone, or in hour buckets, is answered from rollups: every zone's
offset since 1980 is a whole number of quarter hours. The day rollups gain
``event_count`` (how many events a row sums), so that a part of a day read
from the quarters can be subtracted from the day's row and a row that keeps no
event disappears (docs/decisions/0008-local-time-rollups.md).

Both are filled from the stored events here; on a large database this reads
every event once.

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
# floor(timestamp_us / 15 minutes), also before 1970 (integer division rounds toward zero).
QUARTER = (
    "CASE WHEN timestamp_us >= 0 THEN timestamp_us / 900000000 "
    "ELSE (timestamp_us + 1) / 900000000 - 1 END"
)
DAY_NUMBER = "CASE WHEN quarter >= 0 THEN quarter / 96 ELSE (quarter + 1) / 96 - 1 END"


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
    for table in ("usage_rollups", "usage_dimension_rollups"):
        op.add_column(
            table,
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
    columns = ", ".join(DIMENSIONS)
    matches = " AND ".join(f"usage_rollups.{name} = sums.{name}" for name in DIMENSIONS)
    bind.exec_driver_sql(
        "UPDATE usage_rollups SET event_count = sums.events FROM ("
        f"SELECT org_id, {day} AS day, {columns}, sum(event_count) AS events "
        f"FROM usage_quarter_rollups GROUP BY org_id, {day}, {columns}) AS sums "
        f"WHERE usage_rollups.org_id = sums.org_id AND usage_rollups.day = sums.day AND {matches}"
    )
    for name in DIMENSIONS:
        bind.exec_driver_sql(
            "UPDATE usage_dimension_rollups SET event_count = sums.events FROM ("
            f"SELECT org_id, day, {name} AS value, sum(event_count) AS events "
            f"FROM usage_rollups GROUP BY org_id, day, {name}) AS sums "
            "WHERE usage_dimension_rollups.org_id = sums.org_id "
            f"AND usage_dimension_rollups.dimension = '{name}' "
            "AND usage_dimension_rollups.day = sums.day "
            "AND usage_dimension_rollups.value = sums.value"
        )


def downgrade() -> None:
    for table in ("usage_rollups", "usage_dimension_rollups"):
        op.drop_column(table, "event_count")
    op.drop_table("usage_quarter_rollups")
