"""Alembic environment: runs on the connection creditmeter hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from creditmeter.store.schema import metadata

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # `alembic revision --autogenerate` from a checkout: point it at a scratch database.
    url = config.get_main_option("sqlalchemy.url") or "sqlite:///alembic-scratch.db"
    with create_engine(url).begin() as scratch:
        _run(scratch)
