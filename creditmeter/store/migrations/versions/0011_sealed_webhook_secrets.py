"""Webhook secrets are stored encrypted: room for a Fernet token in their columns.

A sealed secret (creditmeter/webhooks/sealing.py) is 164 characters where the secret
was 50. No secret is rewritten: the tables are new in this same release (0009), so no
database holds a secret stored in clear (docs/decisions/0011-alerts.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _secret_columns(old: int, new: int) -> None:
    # PostgreSQL alters the columns; SQLite copies the table (its columns' lengths are
    # not enforced, but the schema says what they hold).
    with op.batch_alter_table("webhook_endpoints") as batch:
        for column, nullable in (("secret", False), ("previous_secret", True)):
            batch.alter_column(
                column,
                existing_type=sa.String(length=old),
                type_=sa.String(length=new),
                existing_nullable=nullable,
            )


def upgrade() -> None:
    _secret_columns(128, 512)


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT 1 FROM webhook_endpoints LIMIT 1")).first():
        raise RuntimeError(
            "Webhook endpoints exist, their secrets encrypted: an older release could not "
            "sign with them. Remove the endpoints first to go back."
        )
    _secret_columns(512, 128)
