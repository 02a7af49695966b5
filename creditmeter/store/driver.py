"""Rows of a read statement through the driver's own cursor.

For the few statements every export runs (the membership check, the settled
days, the settled rows): their rows are read as the driver gives them, and
SQLAlchemy's result set-up (metadata built from the cursor's description on
every execution) cost more than the statements themselves. A driver error is
raised as SQLAlchemy would raise it (:func:`raised_as_sqlalchemys`, which
PostgreSQL's COPY of a batch uses too), so the store turns it into the same
answer (an unreachable database is a 503).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def read_rows(
    connection: Connection, statement: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Every row of the read ``statement`` (the driver's placeholders), in
    ``connection``'s transaction."""
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()  # sqlite3's cursor is no context manager
    try:
        with raised_as_sqlalchemys(connection, statement, params):
            cursor.execute(statement, params)
            return cursor.fetchall()
    finally:
        cursor.close()


@contextmanager
def raised_as_sqlalchemys(
    connection: Connection, statement: str, params: Sequence[Any] | None = None
) -> Iterator[None]:
    """A driver error of ``statement``, run outside SQLAlchemy, raised as the type
    SQLAlchemy raises for it (so a lost server is a 503, not a 500)."""
    dialect = connection.dialect
    try:
        yield
    except dialect.loaded_dbapi.Error as error:
        # Parameters hidden, as the engine hides them: a logged error names no value.
        raise DBAPIError.instance(
            statement, params, error, dialect.loaded_dbapi.Error,
            hide_parameters=True, dialect=dialect,
        ) from error  # fmt: skip
