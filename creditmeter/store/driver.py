"""Rows of a read statement through the driver's own cursor.

For the few statements every export runs (the membership check, the settled
days, the settled rows): their rows are read as the driver gives them, and
SQLAlchemy's result set-up (metadata built from the cursor's description on
every execution) cost more than the statements themselves. A driver error is
raised as SQLAlchemy would raise it, so the store turns it into the same
answer (an unreachable database is a 503).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def read_rows(
    connection: Connection, statement: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Every row of the read ``statement`` (the driver's placeholders), in
    ``connection``'s transaction."""
    dialect = connection.dialect
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.execute(statement, params)
        return cursor.fetchall()
    except dialect.loaded_dbapi.Error as error:
        # Parameters hidden, as the engine hides them: a logged error names no value.
        raise DBAPIError.instance(
            statement, params, error, dialect.loaded_dbapi.Error,
            hide_parameters=True, dialect=dialect,
        ) from error  # fmt: skip
    finally:
        cursor.close()
