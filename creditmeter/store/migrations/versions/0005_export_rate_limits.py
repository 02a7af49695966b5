"""The export rate limit shared by servers on one PostgreSQL: one row per key.

Created on both stores, as every table is; SQLite leaves it empty (its servers
count in memory, see docs/decisions/0006-shared-rate-limit.md). On PostgreSQL
the table is UNLOGGED: every export request writes it, and a logged write would
wait for the WAL to reach the disk (0.3 ms of a 2 ms export, measured). A crash
empties it, which leaves every key a full minute's allowance: harmless.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "export_rate_limits",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("full_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_export_rate_limits")),
        prefixes=["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else [],
    )


def downgrade() -> None:
    op.drop_table("export_rate_limits")
