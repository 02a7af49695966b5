"""Quarter-hour rollups of the product alone.

``usage_product_quarter_rollups`` keeps, per organization and UTC quarter hour,
each product's sums: an export by product in a zone whose days do not begin at
UTC midnight reads these at the ends of its days
(docs/decisions/0009-product-quarters.md). Filled from the full quarter-hour
rollups, so an upgraded database answers as if every event had come in after it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_product_quarter_rollups",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("quarter", sa.BigInteger(), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("credits_micro", sa.BigInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "quarter", "product", name=op.f("pk_usage_product_quarter_rollups")
        ),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO usage_product_quarter_rollups SELECT org_id, quarter, product, "
        "sum(credits_micro), sum(request_count), sum(event_count) FROM usage_quarter_rollups "
        "GROUP BY org_id, quarter, product"
    )


def downgrade() -> None:
    op.drop_table("usage_product_quarter_rollups")
