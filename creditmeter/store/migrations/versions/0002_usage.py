"""Usage: raw events, daily rollups and organization-day totals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_daily_totals",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("credits_micro", sa.BigInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "credits_micro <= 9000000000000000000", name=op.f("ck_usage_daily_totals_credits_limit")
        ),
        sa.PrimaryKeyConstraint("org_id", "day", name=op.f("pk_usage_daily_totals")),
    )
    op.create_table(
        "usage_events",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("timestamp_us", sa.BigInteger(), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("feature", sa.String(length=128), nullable=True),
        sa.Column("api_key", sa.String(length=128), nullable=True),
        sa.Column("file_type", sa.String(length=128), nullable=True),
        sa.Column("credits_micro", sa.BigInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.Column("received_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "event_id", name=op.f("pk_usage_events")),
    )
    op.create_table(
        "usage_rollups",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("feature", sa.String(length=128), nullable=False),
        sa.Column("api_key", sa.String(length=128), nullable=False),
        sa.Column("file_type", sa.String(length=128), nullable=False),
        sa.Column("credits_micro", sa.BigInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id",
            "day",
            "product",
            "feature",
            "api_key",
            "file_type",
            name=op.f("pk_usage_rollups"),
        ),
    )


def downgrade() -> None:
    op.drop_table("usage_rollups")
    op.drop_table("usage_events")
    op.drop_table("usage_daily_totals")
