"""The export's hot statements read their rows through the driver's own cursor
(``store/driver.py``): the rows must be those of the caller's transaction, and a
driver error must reach the store as SQLAlchemy's, parameters hidden, as every
other statement's does (so an unreachable database is a 503, not a 500)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
import sqlalchemy as sa

from creditmeter.store import open_store
from creditmeter.store.dialects import dialect_of
from creditmeter.store.driver import read_rows


def test_rows_are_the_drivers_and_see_the_callers_transaction(
    new_database: Callable[[], str],
) -> None:
    store = open_store(new_database())
    try:
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
    finally:
        store.close()


def test_a_driver_error_is_raised_as_sqlalchemys_with_its_parameters_hidden(
    new_database: Callable[[], str],
) -> None:
    store = open_store(new_database())
    try:
        with store.read() as connection, pytest.raises(sa.exc.DBAPIError) as raised:
            mark = dialect_of(connection).mark
            read_rows(connection, f"SELECT 1 FROM no_such_table WHERE x = {mark}", ("s3cr3t",))
        assert "no_such_table" in str(raised.value)
        assert "s3cr3t" not in str(raised.value)
    finally:
        store.close()
