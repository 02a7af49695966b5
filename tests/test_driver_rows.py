"""The export's hot statements read their rows through the driver's own cursor
(``store/driver.py``): the rows must be those of the caller's transaction (and,
for a prepared Core select, converted as SQLAlchemy converts them), and a
driver error must reach the store as SQLAlchemy's, parameters hidden, as every
other statement's does (so an unreachable database is a 503, not a 500)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from creditmeter.directory import Directory
from creditmeter.store import Store, open_store, schema
from creditmeter.store.dialects import dialect_of
from creditmeter.store.driver import PreparedSelect, read_rows


@pytest.fixture
def store(new_database: Callable[[], str]) -> Iterator[Store]:
    """A fresh database of the store under test."""
    opened = open_store(new_database())
    try:
        yield opened
    finally:
        opened.close()


def test_rows_are_the_drivers_and_see_the_callers_transaction(store: Store) -> None:
    with store.write() as connection:
        dialect = dialect_of(connection)
        mark = dialect.mark
        connection.exec_driver_sql(
            "INSERT INTO usage_daily_totals (org_id, day, credits_micro, request_count) "
            f"VALUES ({mark}, {mark}, 5, 1)",
            ("org_a", dialect.bind_day(date(2026, 5, 1))),
        )
        # Not committed yet: only this transaction sees the row.
        found = read_rows(
            connection,
            f"SELECT org_id, credits_micro FROM usage_daily_totals WHERE org_id = {mark}",
            ("org_a",),
        )
        assert found == [("org_a", 5)]
        assert isinstance(found[0], tuple)
    with store.read() as connection:
        assert read_rows(connection, "SELECT org_id FROM usage_daily_totals") == [("org_a",)]


def test_a_driver_error_is_raised_as_sqlalchemys_with_its_parameters_hidden(store: Store) -> None:
    with store.read() as connection, pytest.raises(sa.exc.DBAPIError) as raised:
        mark = dialect_of(connection).mark
        read_rows(connection, f"SELECT 1 FROM no_such_table WHERE x = {mark}", ("s3cr3t",))
    assert "no_such_table" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_a_prepared_select_gives_the_mappings_sqlalchemy_gives(store: Store) -> None:
    """Each column converted by its own type: the datetimes aware UTC, set or null."""
    directory = Directory(store)
    directory.create_org("Acme", org_id="org_acme")
    user = directory.create_user("ada@example.com")
    directory.set_membership("org_acme", user.id, "member")
    expiry = datetime(2031, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    kept, _ = directory.create_key(user.id, "org_acme", name="kept", expires_at=expiry)
    revoked, _ = directory.create_key(user.id, "org_acme", name="revoked")
    directory.revoke_key(revoked.id)
    statement = (
        sa.select(schema.personal_keys, schema.users.c.email)
        .join(schema.users, schema.users.c.id == schema.personal_keys.c.user_id)
        .where(schema.personal_keys.c.user_id == sa.bindparam("user_id"))
        .order_by(schema.personal_keys.c.name)
    )
    prepared = PreparedSelect(statement)
    with store.read() as connection:
        expected = [
            dict(row) for row in connection.execute(statement, {"user_id": user.id}).mappings()
        ]
        for _ in range(2):  # compiled on the first read, reused on the next
            found = prepared.mappings(connection, {"user_id": user.id})
            assert found == expected
        assert prepared.mappings(connection, {"user_id": "usr_nobody"}) == []
    kept_row, revoked_row = found
    assert kept_row["id"] == kept.id and kept_row["email"] == "ada@example.com"
    assert kept_row["expires_at"] == expiry and kept_row["expires_at"].tzinfo is UTC
    assert kept_row["revoked_at"] is None
    assert revoked_row["revoked_at"] is not None and revoked_row["revoked_at"].tzinfo is UTC


def test_a_prepared_select_refuses_a_parameter_that_needs_converting(store: Store) -> None:
    after = sa.bindparam("after", type_=schema.UTCDateTime())
    prepared = PreparedSelect(sa.select(schema.users.c.id).where(schema.users.c.created_at > after))
    with store.read() as connection, pytest.raises(TypeError, match="after"):
        prepared.mappings(connection, {"after": datetime(2030, 1, 1, tzinfo=UTC)})


def test_a_prepared_select_error_is_raised_as_sqlalchemys_with_its_parameters_hidden(
    store: Store,
) -> None:
    missing = sa.table("no_such_table", sa.column("x"))
    prepared = PreparedSelect(sa.select(missing.c.x).where(missing.c.x == sa.bindparam("x")))
    with store.read() as connection, pytest.raises(sa.exc.DBAPIError) as raised:
        prepared.mappings(connection, {"x": "s3cr3t"})
    assert "no_such_table" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)
