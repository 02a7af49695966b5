"""What SQLite and PostgreSQL spell differently, one small object per store.

The usage SQL (:mod:`creditmeter.store.usage`) is written once, for both
stores; a :class:`Dialect` supplies the few things that differ:

- the DB-API placeholder (``?`` or ``%s``);
- how a day is bound, read and made from a day number (SQLAlchemy's ``Date``
  keeps ``yyyy-mm-dd`` text on SQLite, a ``date`` on PostgreSQL);
- the collation that orders text by its UTF-8 bytes, as the export is ordered;
- how a temporary table (a batch's rows or sums) is made;
- how a batch's new events are inserted and named for the rollup sums;
- how rows are written into a temporary table (a void's ids);
- how a batch that passes the daily-total limit shows up as an error.

:func:`dialect_of` picks the object for a connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from creditmeter.store.driver import raised_as_sqlalchemys

#: (org_id, event_id)
EventKey = tuple[str, str]


@dataclass(frozen=True)
class NewEvents:
    """The events a batch inserted, as SQL: a relation to select from, and its parameters."""

    relation: str
    parameters: tuple[Any, ...] = ()


class Dialect(Protocol):
    """What one store spells its own way; everything else is shared SQL."""

    #: The DB-API placeholder of a bound parameter.
    mark: str
    #: The collation that orders text by its UTF-8 bytes (the export's order).
    bytewise: str

    def bind_day(self, day: date) -> Any:
        """A day as a statement parameter compared with a stored day."""
        ...

    def read_days(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Rows whose first column is a stored day, with that day as a :class:`date`."""
        ...

    def stored_days(self) -> dict[Any, date]:
        """An empty mapping that gives the :class:`date` of any stored day looked up in
        it (and keeps it): for a loop that reads many rows of few days."""
        ...

    def day_of_number(self, number: str) -> str:
        """SQL of the stored day whose UTC day number (days since 1970-01-01) is ``number``."""
        ...

    def temporary_table(
        self, connection: Connection, name: str, definition: str, key: Sequence[str] = ()
    ) -> None:
        """Make sure this connection has the temporary table ``name``, and that it is empty.

        ``key``: columns unique in the table, that its rows are read back in order of.
        """
        ...

    def insert_new_events(
        self, connection: Connection, rows: Sequence[tuple[Any, ...]], columns: Sequence[str]
    ) -> tuple[set[EventKey], NewEvents]:
        """Insert the rows whose (org_id, event_id) is not stored yet, in the given order.

        Returns the keys inserted and the relation holding exactly those rows.
        """
        ...

    def fill_temporary(
        self,
        connection: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """Write ``rows`` into the temporary table ``table`` (made by temporary_table)."""
        ...

    def passes_limit(self, error: DBAPIError) -> bool:
        """Whether ``error`` is a daily total (or a batch's sum) going past the limit."""
        ...

    def lock_organizations(
        self, connection: Connection, org_ids: Sequence[str], *, exclusive: bool
    ) -> None:
        """Until the transaction ends, hold each organization's lock: shared (many
        holders at once) or exclusive."""
        ...


class _ParsedDays(dict[str, date]):
    """SQLite's days (``yyyy-mm-dd`` text) as dates: many rows share a day, so each
    distinct text is parsed once, and a day seen before is a lookup in C."""

    def __missing__(self, text: str) -> date:
        day = self[text] = date.fromisoformat(text)
        return day


class _SameDays(dict[date, date]):
    """PostgreSQL's days: the driver's dates already (kept, so that a day seen before
    is a lookup in C)."""

    def __missing__(self, day: date) -> date:
        self[day] = day
        return day


class SQLiteDialect:
    """SQLite: one writer at a time (BEGIN IMMEDIATE), days as ``yyyy-mm-dd`` text."""

    mark = "?"
    bytewise = "BINARY"

    def bind_day(self, day: date) -> Any:
        return day.isoformat()

    def read_days(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        days = self.stored_days()
        return [(days[row[0]], *row[1:]) for row in rows]

    def stored_days(self) -> dict[Any, date]:
        return _ParsedDays()

    def day_of_number(self, number: str) -> str:
        return f"date(({number}) * 86400, 'unixepoch')"

    def temporary_table(
        self, connection: Connection, name: str, definition: str, key: Sequence[str] = ()
    ) -> None:
        # Clustered by the key, the table is read back in key order without a sort.
        clustered = f", PRIMARY KEY ({', '.join(key)})) WITHOUT ROWID" if key else ")"
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} ({definition}{clustered}"
        )
        connection.exec_driver_sql(f"DELETE FROM temp.{name}")

    def insert_new_events(
        self, connection: Connection, rows: Sequence[tuple[Any, ...]], columns: Sequence[str]
    ) -> tuple[set[EventKey], NewEvents]:
        """The write transaction holds the database's only write lock, so the rows
        above the largest rowid seen before the insert are exactly this batch's
        new events: the relation selects them in place, nothing is copied."""
        run = connection.exec_driver_sql
        (before,) = run("SELECT coalesce(max(rowid), 0) FROM usage_events").one()
        marks = ", ".join("?" * len(columns))
        written = run(
            f"INSERT INTO usage_events ({', '.join(columns)}) VALUES ({marks}) "
            "ON CONFLICT (org_id, event_id) DO NOTHING",
            list(rows),
        ).rowcount
        new = NewEvents("(SELECT * FROM usage_events WHERE rowid > ?)", (before,))
        if written == len(rows):  # the common case: every event is new
            return set(map(itemgetter(0, 1), rows)), new
        keys = run(f"SELECT org_id, event_id FROM {new.relation} AS new", new.parameters)
        return {(org_id, event_id) for org_id, event_id in keys}, new

    def fill_temporary(
        self,
        connection: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        marks = ", ".join("?" * len(columns))
        connection.exec_driver_sql(
            f"INSERT INTO temp.{table} ({', '.join(columns)}) VALUES ({marks})", list(rows)
        )

    def passes_limit(self, error: DBAPIError) -> bool:
        # The CHECK refuses a total past the limit, and an addition that overflows
        # (SQLite turns it into a float); sum() raises "integer overflow" instead.
        return isinstance(error, IntegrityError) or (
            isinstance(error, OperationalError) and "overflow" in str(error.orig)
        )

    def lock_organizations(
        self, connection: Connection, org_ids: Sequence[str], *, exclusive: bool
    ) -> None:
        # One writer at a time: a write transaction already excludes every other.
        return None


class PostgreSQLDialect:
    """PostgreSQL: concurrent writers, rows copied in by COPY, days as ``date``."""

    mark = "%s"
    bytewise = "C"

    def bind_day(self, day: date) -> Any:
        return day

    def read_days(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in rows]

    def stored_days(self) -> dict[Any, date]:
        return _SameDays()

    def day_of_number(self, number: str) -> str:
        return f"DATE '1970-01-01' + CAST({number} AS integer)"

    def temporary_table(
        self, connection: Connection, name: str, definition: str, key: Sequence[str] = ()
    ) -> None:
        # ON COMMIT DELETE ROWS empties it at every commit (and a rollback drops
        # the rows too); the DELETE is for a second batch in the same transaction.
        # Both in one round trip: a statement without parameters may hold two.
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({definition}) ON COMMIT DELETE ROWS; "
            f"DELETE FROM {name}"
        )

    def insert_new_events(
        self, connection: Connection, rows: Sequence[tuple[Any, ...]], columns: Sequence[str]
    ) -> tuple[set[EventKey], NewEvents]:
        """The batch is copied to a temporary table and inserted from it in one
        statement, whose ``ON CONFLICT DO NOTHING`` settles races with concurrent
        transactions (docs/postgresql.md); the rows it inserted are kept in a
        second temporary table."""
        listed = ", ".join(columns)
        self.temporary_table(connection, "batch_events", "LIKE usage_events")
        self.temporary_table(connection, "new_events", "LIKE usage_events")
        _copy(connection, "batch_events", columns, rows)
        keys = connection.exec_driver_sql(
            f"WITH inserted AS (INSERT INTO usage_events ({listed}) SELECT {listed} "
            "FROM batch_events ORDER BY org_id, event_id "
            f"ON CONFLICT (org_id, event_id) DO NOTHING RETURNING {listed}) "
            f"INSERT INTO new_events ({listed}) SELECT {listed} FROM inserted "
            "RETURNING org_id, event_id"
        )
        return {(org_id, event_id) for org_id, event_id in keys}, NewEvents("new_events")

    def fill_temporary(
        self,
        connection: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        _copy(connection, table, columns, rows)

    def passes_limit(self, error: DBAPIError) -> bool:
        # The CHECK, or "bigint out of range" for a sum or an addition past 64 bits.
        return isinstance(error, IntegrityError | DataError)

    def lock_organizations(
        self, connection: Connection, org_ids: Sequence[str], *, exclusive: bool
    ) -> None:
        # Transaction-scoped advisory locks, keyed by a 64-bit hash of the id (two ids
        # sharing a hash only wait for each other). Shared holders never block one
        # another, and an exclusive holder takes one organization: no lock order needed.
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        connection.exec_driver_sql(
            f"SELECT count({function}(hashtextextended('creditmeter.org:' || id, 0))) "
            "FROM unnest(CAST(%s AS text[])) AS id",
            (sorted(set(org_ids)),),
        )


def _copy(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """PostgreSQL: ``COPY`` the rows into ``table``.

    COPY is PostgreSQL's bulk path, and psycopg formats its rows in C rather
    than binding them as arrays in Python (decision 0005 has the figures).
    """
    driver = connection.connection.driver_connection
    assert driver is not None
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with (
        raised_as_sqlalchemys(connection, statement),
        driver.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for row in rows:
            copy.write_row(row)


SQLITE = SQLiteDialect()
POSTGRESQL = PostgreSQLDialect()
_BY_NAME: dict[str, Dialect] = {"sqlite": SQLITE, "postgresql": POSTGRESQL}


def dialect_of(connection: Connection) -> Dialect:
    """The dialect of the store ``connection`` belongs to."""
    return _BY_NAME[connection.dialect.name]
