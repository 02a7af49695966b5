"""How long a server takes to settle the days of a bulk import by itself."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import create_engine

from creditmeter.store.database import normalise_url

_COUNTS = (
    "SELECT count(*), coalesce(sum(CASE WHEN changes = pairs_changes THEN 1 ELSE 0 END), 0) "
    "FROM usage_daily_totals"
)


def wait_until_settled(database_url: str, *, timeout_s: float = 3600.0) -> dict[str, Any]:
    """Wait, reading the database once a second, until a running server settled every
    day (its settling pass goes at full speed while it answers no request)."""
    engine = create_engine(normalise_url(database_url))
    began = time.perf_counter()
    try:
        while True:
            with engine.connect() as connection:
                days, settled = connection.exec_driver_sql(_COUNTS).one()
                if settled == days:
                    pairs = connection.exec_driver_sql(
                        "SELECT count(*) FROM usage_pair_rollups"
                    ).scalar_one()
                    break
            if time.perf_counter() - began > timeout_s:
                raise TimeoutError(f"{days - settled} of {days} days still unsettled")
            time.sleep(1.0)
    finally:
        engine.dispose()
    return {
        "days": int(days),
        "pair_rows": int(pairs),
        "seconds": round(time.perf_counter() - began, 1),
    }
