"""Voids of usage events: ``usage_voids``, the mark and the audit entry of each.

Nothing else changes: a voided event stays in ``usage_events`` and leaves the
rollups and totals when it is voided (docs/decisions/0010-voids.md). A new
table starts empty, so the rollups need no filling.

Going back is refused once anything has been voided: dropping the table would
leave the rollups without events that ``usage_events`` still holds, and a void
is final.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_voids",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("voided_at_us", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=True),
        sa.Column("token_name", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("org_id", "event_id", name=op.f("pk_usage_voids")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_usage_voids_org_id", "usage_voids", ["org_id", "voided_at_us"])


def downgrade() -> None:
    (voided,) = op.get_bind().exec_driver_sql("SELECT count(*) FROM usage_voids").one()
    if voided:
        raise RuntimeError(
            f"The database holds {voided} voided events; going back before revision 0008 "
            "would drop their marks and audit entries while the totals leave them out. "
            "Voids are final: restore a backup taken before them instead."
        )
    op.drop_index("ix_usage_voids_org_id", table_name="usage_voids")
    op.drop_table("usage_voids")
