"""The rate card: rate versions, each product's unit, and the units an event was sent with.

Nothing is filled: every event stored before this revision was sent with credits.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("usage_events", sa.Column("units_micro", sa.BigInteger(), nullable=True))
    op.create_table(
        "rate_versions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("feature", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=128), nullable=False),
        sa.Column("credits_per_unit_micro", sa.BigInteger(), nullable=False),
        sa.Column("effective_from_us", sa.BigInteger(), nullable=False),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_rate_versions")),
        sa.UniqueConstraint("id", name=op.f("uq_rate_versions_id")),
    )
    op.create_index(
        "ix_rate_versions_product",
        "rate_versions",
        ["product", "org_id", "feature", "effective_from_us", "seq"],
    )
    op.create_table(
        "rate_units",
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("product", name=op.f("pk_rate_units")),
    )


def downgrade() -> None:
    op.drop_table("rate_units")
    op.drop_index("ix_rate_versions_product", table_name="rate_versions")
    op.drop_table("rate_versions")
    op.drop_column("usage_events", "units_micro")
