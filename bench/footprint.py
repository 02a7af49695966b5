"""What the stored usage costs: every usage table's rows and bytes, and the database's.

Measured on the bulk-imported database before anything else is added to it
(the raw GROUP BY's index comes later), so that runs before and after a change
of the rollups compare per million events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from creditmeter.store.database import normalise_url

#: The tables of stored usage: the events and every rollup of them.
PREFIX = "usage_"


def _is_usage(table: str) -> bool:
    return table.startswith(PREFIX) or "rollup" in table


_SQLITE_TABLE_BYTES = """
SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize)
FROM dbstat AS s LEFT JOIN sqlite_master AS m ON m.name = s.name
GROUP BY 1
"""


def footprint(database_url: str) -> dict[str, Any]:
    """Rows and bytes (indexes included) of each usage table, and the database's bytes.

    SQLite: bytes from its ``dbstat`` table, the database as the file's size
    (with its ``-wal`` if one is left). PostgreSQL: ``pg_total_relation_size``
    and ``pg_database_size``.
    """
    engine = create_engine(normalise_url(database_url))
    try:
        tables = sorted(name for name in inspect(engine).get_table_names() if _is_usage(name))
        with engine.connect() as connection:
            rows = {
                name: connection.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one()
                for name in tables
            }
            if engine.dialect.name == "sqlite":
                sizes = dict(connection.exec_driver_sql(_SQLITE_TABLE_BYTES).all())
                file = Path(make_url(normalise_url(database_url)).database or "")
                wal = file.with_name(file.name + "-wal")
                database_bytes = file.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
            else:
                sizes = {
                    name: connection.exec_driver_sql(
                        "SELECT pg_total_relation_size(CAST(%s AS regclass))", (name,)
                    ).scalar_one()
                    for name in tables
                }
                database_bytes = connection.exec_driver_sql(
                    "SELECT pg_database_size(current_database())"
                ).scalar_one()
    finally:
        engine.dispose()
    return {
        "events": rows.get(f"{PREFIX}events", 0),
        "database_bytes": int(database_bytes),
        "tables": [
            {"table": name, "rows": int(rows[name]), "bytes": int(sizes.get(name) or 0)}
            for name in tables
        ],
    }
