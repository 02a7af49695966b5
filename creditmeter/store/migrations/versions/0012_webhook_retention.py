"""Retention of the outbox: when each delivery finished, and indexes the sweep reads.

A delivery that is ``delivered`` or ``failed`` gets ``finished_at_us``, the end of its
last attempt; each server's delivery worker removes finished deliveries (with their
attempts) older than ``CREDITMETER_WEBHOOK_RETENTION_DAYS``, then the messages no
delivery refers to (docs/alerts.md, "What is kept"). Finished deliveries stored before
this revision get the end of their last attempt, else their creation.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("finished_at_us", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE webhook_deliveries SET finished_at_us = COALESCE("
        "(SELECT max(a.attempted_at_us + a.duration_ms * 1000) FROM webhook_attempts a "
        "WHERE a.message_id = webhook_deliveries.message_id "
        "AND a.webhook_id = webhook_deliveries.webhook_id), created_at_us) "
        "WHERE status <> 'pending'"
    )
    op.create_index("ix_webhook_deliveries_finished", "webhook_deliveries", ["finished_at_us"])
    op.create_index("ix_webhook_messages_created", "webhook_messages", ["created_at_us"])


def downgrade() -> None:
    op.drop_index("ix_webhook_messages_created", table_name="webhook_messages")
    op.drop_index("ix_webhook_deliveries_finished", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("finished_at_us")
