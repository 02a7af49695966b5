"""Rows of a read statement through the driver's own cursor.

For the few statements every export runs (the caller's credential, the
membership check, the settled days, the settled rows): their rows are read as
the driver gives them, and SQLAlchemy's result set-up (metadata built from the
cursor's description on every execution) cost more than the statements
themselves. A driver error is raised as SQLAlchemy would raise it
(:func:`raised_as_sqlalchemys`, which PostgreSQL's COPY of a batch uses too), so
the store turns it into the same answer (an unreachable database is a 503).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Select
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


@dataclass
class _Compiled:
    """A statement as one dialect runs it, and how its rows become mappings."""

    text: str
    #: The bound parameters' names in the driver's order; None: it takes them by name.
    positions: tuple[str, ...] | None
    names: tuple[str, ...]
    #: Each column's result processor (None: the driver's value as is); None until
    #: the first execution, which tells the driver's type of each column.
    processors: list[Callable[[Any], Any] | None] | None = None


class PreparedSelect:
    """A Core SELECT compiled once per dialect and read through the driver's cursor.

    Its rows are mappings keyed by column name with each value converted by its
    column type's own result processor (an aware UTC datetime, say), as
    ``connection.execute(select).mappings()`` gives them, for a few microseconds
    where SQLAlchemy's result takes tens. For a statement run on every request;
    its parameters must need no conversion (plain strings and numbers).
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def mappings(self, connection: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row, in ``connection``'s transaction."""
        dialect = connection.dialect
        compiled = self._by_dialect.get(dialect.name) or self._compile(dialect)
        bound: Sequence[Any] | Mapping[str, Any] = params
        if compiled.positions is not None:
            bound = tuple(params[name] for name in compiled.positions)
        driver = connection.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            with raised_as_sqlalchemys(connection, compiled.text, bound):
                cursor.execute(compiled.text, bound)
                rows = cursor.fetchall()
                if compiled.processors is None:  # the same every time: a race is harmless
                    compiled.processors = self._processors(dialect, cursor.description)
        finally:
            cursor.close()
        names, processors = compiled.names, compiled.processors
        return [
            {
                name: value if convert is None or value is None else convert(value)
                for name, value, convert in zip(names, row, processors, strict=True)
            }
            for row in rows
        ]

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        for name, bind in compiled.binds.items():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise TypeError(f"parameter {name!r} needs converting; use connection.execute")
        found = self._by_dialect[dialect.name] = _Compiled(
            text=compiled.string,
            positions=tuple(compiled.positiontup or ()) if compiled.positional else None,
            names=tuple(self.statement.selected_columns.keys()),
        )
        return found

    def _processors(
        self, dialect: Dialect, description: Sequence[Sequence[Any]]
    ) -> list[Callable[[Any], Any] | None]:
        # What SQLAlchemy's result asks of each type, given the driver's type code.
        return [
            column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            for column, described in zip(self.statement.selected_columns, description, strict=True)
        ]


@contextmanager
def raised_as_sqlalchemys(
    connection: Connection,
    statement: str,
    params: Sequence[Any] | Mapping[str, Any] | None = None,
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
