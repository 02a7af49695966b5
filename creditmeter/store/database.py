"""Opening a store: the engine, its per-connection settings, and the schema version.

:class:`Store` hands out connections in a transaction: :meth:`Store.read` for
reads and :meth:`Store.write` for writes. On SQLite every write of this process
goes through one lock and ``BEGIN IMMEDIATE`` (one writer at a time, as SQLite
allows; other processes wait up to the busy timeout instead of failing), and
durability is WAL with ``synchronous=FULL``. On PostgreSQL writes run
concurrently and ``synchronous_commit=on`` makes a commit durable.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from creditmeter.errors import SchemaOutdated, ServiceError, Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"
_WRITE_OPTION = "creditmeter_write"
# Any constant: servers starting together on one PostgreSQL take turns on the schema.
_SCHEMA_LOCK = 0x63726D74


@dataclass(frozen=True)
class StoreOptions:
    """How connections are made and pooled (``Settings.store_options()`` fills it)."""

    busy_timeout_ms: int = 30_000
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout_s: float = 10.0
    connect_timeout_s: int = 5


class StoreUnreachable(Unavailable):
    """The database could not be reached or answered with an operational error.

    ``detail`` holds the driver's own words, for operators (the command line
    prints it); HTTP answers never carry it.
    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def _unreachable(exc: DBAPIError) -> StoreUnreachable:
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
    return StoreUnreachable(
        "The usage store is unavailable right now; try again shortly.", detail=detail
    )


class UnknownSchema(ServiceError):
    """The database holds tables creditmeter did not create, or a newer schema."""


def normalise_url(url: str) -> str:
    """SQLAlchemy URL with our drivers: ``postgresql://`` means psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The schema revision this release expects."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _switch_to_wal(cursor: sqlite3.Cursor, busy_timeout_ms: int) -> None:
    """Put the database in WAL mode, waiting while another process does the same.

    On a new file the switch reads the header, then takes the write lock to
    mark it WAL. When another process holds that lock for the same switch,
    SQLite answers "database is locked" at once instead of calling the busy
    handler (waiting while holding a read lock could deadlock). So a server
    starting beside another on a new file failed; here it waits its turn, and
    its retry finds the file in WAL mode already.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(0.01)


class Store:
    """A database, opened: connections for reading and writing usage and the directory."""

    def __init__(self, url: str, options: StoreOptions | None = None) -> None:
        self.url = normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self.options = options or StoreOptions()
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        self.engine = self._create_engine()

    def _create_engine(self) -> Engine:
        # hide_parameters: a failing statement's error (which may be logged) names
        # no bound value, so no secret, key hash or usage datum reaches a log.
        options = self.options
        if self.dialect != "sqlite":
            # pre_ping replaces connections that died with a database restart, so
            # the service recovers by itself; connect_timeout makes requests fail
            # fast (503) while the database is down instead of hanging.
            return create_engine(
                self.url,
                hide_parameters=True,
                pool_pre_ping=True,
                pool_size=options.pool_size,
                max_overflow=options.max_overflow,
                pool_timeout=options.pool_timeout_s,
                connect_args={
                    "connect_timeout": options.connect_timeout_s,
                    # Durable commits whatever the server's default (ingest edge case 11).
                    "options": "-c synchronous_commit=on",
                },
            )
        engine = create_engine(self.url, hide_parameters=True)
        busy_timeout_ms = options.busy_timeout_ms

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below decide how a transaction starts.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            _switch_to_wal(cursor, busy_timeout_ms)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        @event.listens_for(engine, "handle_error")
        def _on_error(context: Any) -> None:
            # A connection that met "disk I/O error" can keep failing every statement
            # after (seen once under load: a delivery worker's pooled connection, for
            # 20 s); treat it as lost, so the pool opens a fresh one for the next use.
            error = context.original_exception
            if isinstance(error, sqlite3.OperationalError) and "disk I/O error" in str(error):
                context.is_disconnect = True

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            # IMMEDIATE takes the write lock up front, so a writer waits for another
            # process's writer (busy timeout) instead of failing on lock upgrade.
            if connection.get_execution_options().get(_WRITE_OPTION, False):
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            # A deferred BEGIN touches no file (it cannot meet a lock or a disk
            # error), so it goes to the driver as is: every export, sign-in and
            # page starts one, and SQLAlchemy's execution path would cost more.
            connection.connection.driver_connection.execute("BEGIN")

        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction: every statement sees one snapshot.

        SQLite's read transaction is one snapshot in WAL mode; PostgreSQL's needs
        REPEATABLE READ (its default gives each statement a snapshot of its own),
        so that a streamed export read in many statements is one consistent answer.
        """
        with self._translate_errors(), self.engine.connect() as connection:
            if self.dialect != "sqlite":
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed when the block ends without error."""
        with self._translate_errors():
            if self._write_lock is None:
                with self.engine.begin() as connection:
                    yield connection
                return
            with self._write_lock, self.engine.connect() as connection:
                connection.execution_options(**{_WRITE_OPTION: True})
                with connection.begin():
                    yield connection

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection on which each statement commits by itself, with no BEGIN or COMMIT.

        For a counter kept by one atomic statement: one round trip, no transaction.
        """
        with self._translate_errors(), self.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise _unreachable(exc) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise _unreachable(exc) from exc
            raise

    def ping(self) -> bool:
        """True when the store answers a trivial query."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except DBAPIError:
            return False

    # -- schema -----------------------------------------------------------------

    def schema_revision(self) -> str | None:
        with self._translate_errors(), self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @contextmanager
    def _schema_transaction(self) -> Iterator[tuple[Connection, str | None]]:
        """A write transaction that alone may change the schema, and the revision it found."""
        with self.write() as connection:
            if self.dialect == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            yield connection, MigrationContext.configure(connection).get_current_revision()

    def migrate(self) -> tuple[str | None, str]:
        """Bring the schema up to date; return (revision before, revision after)."""
        with self._schema_transaction() as (connection, before):
            if before is None:
                self._refuse_foreign_tables(connection)
            command.upgrade(_alembic_config(connection), "head")
        return before, head_revision()

    def ensure_schema(self) -> None:
        """Create the schema in an empty database; refuse one at another revision."""
        head = head_revision()
        if self.schema_revision() == head:
            return
        with self._schema_transaction() as (connection, current):
            if current == head:
                return
            if current is None:
                self._refuse_foreign_tables(connection)
                command.upgrade(_alembic_config(connection), "head")
                return
        known = {
            rev.revision for rev in ScriptDirectory.from_config(_alembic_config()).walk_revisions()
        }
        if current in known:
            raise SchemaOutdated(
                f"The database schema is at revision {current}, older than this release's "
                f"{head}. Run 'creditmeter migrate' to bring it up to date."
            )
        raise UnknownSchema(
            f"The database schema is at revision {current}, which this release does not know: "
            "it was written by a newer creditmeter. Upgrade creditmeter."
        )

    def _refuse_foreign_tables(self, connection: Connection) -> None:
        tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
        if tables:
            raise UnknownSchema(
                "The database is not empty and was not created by creditmeter "
                f"(it holds tables such as '{sorted(tables)[0]}'). Point --database-url "
                "at an empty database or a creditmeter one."
            )

    def close(self) -> None:
        self.engine.dispose()


def open_store(
    url: str, options: StoreOptions | None = None, *, ensure_schema: bool = True
) -> Store:
    """Open the store at ``url``, creating the schema in an empty database."""
    store = Store(url, options)
    if ensure_schema:
        try:
            store.ensure_schema()
        except Exception:
            store.close()
            raise
    return store
