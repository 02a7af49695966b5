"""Pair rollups and product running totals of the days that stopped changing.

``usage_pair_rollups`` keeps, per organization, UTC day and product, the sums by
each other dimension's value, and ``usage_product_running_totals`` each product's
sums through each quarter hour of the day; each server's settling pass builds a
day's rows from its rollups once the day has not changed for a while. The daily totals
count the writes that changed their day (``changes``, ``changed_at_us``) and the
count the day's pairs were built at (``pairs_changes``): an export reads a day's
pairs only while the two are equal (docs/decisions/0014-settled-pair-rollups.md).
Every day stored before this revision starts unsettled, changed long ago: the
first settling pass builds them all.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNSETTLED = "changes <> pairs_changes"


def upgrade() -> None:
    op.create_table(
        "usage_pair_rollups",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("credits_micro", sa.BigInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "dimension", "day", "product", "value", name=op.f("pk_usage_pair_rollups")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "usage_product_running_totals",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("credits_micro", sa.BigInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "day", "quarter", "product", name=op.f("pk_usage_product_running_totals")
        ),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("usage_daily_totals") as batch:
        batch.add_column(sa.Column("changes", sa.BigInteger(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("changed_at_us", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("pairs_changes", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_index(
        "ix_usage_daily_totals_unsettled",
        "usage_daily_totals",
        ["changed_at_us"],
        sqlite_where=sa.text(_UNSETTLED),
        postgresql_where=sa.text(_UNSETTLED),
    )


def downgrade() -> None:
    op.drop_index("ix_usage_daily_totals_unsettled", table_name="usage_daily_totals")
    # Both stores drop a column in place (SQLite since 3.35): a batch would rebuild the
    # table and lose its WITHOUT ROWID.
    for column in ("pairs_changes", "changed_at_us", "changes"):
        op.execute(f"ALTER TABLE usage_daily_totals DROP COLUMN {column}")
    op.drop_table("usage_product_running_totals")
    op.drop_table("usage_pair_rollups")
