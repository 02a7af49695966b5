"""Daily rollups per single dimension, backfilled from the full rollups.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ("product", "feature", "api_key", "file_type")


def upgrade() -> None:
    op.create_table(
        "usage_dimension_rollups",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("credits_micro", sa.BigInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "dimension", "day", "value", name=op.f("pk_usage_dimension_rollups")
        ),
    )
    # An upgraded database answers exactly as if every event had come in after it.
    for dimension in DIMENSIONS:
        op.execute(
            "INSERT INTO usage_dimension_rollups "
            "(org_id, dimension, day, value, credits_micro, request_count) "
            f"SELECT org_id, '{dimension}', day, {dimension}, SUM(credits_micro), "
            f"SUM(request_count) FROM usage_rollups GROUP BY org_id, day, {dimension}"
        )


def downgrade() -> None:
    op.drop_table("usage_dimension_rollups")
