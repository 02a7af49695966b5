"""What a user would otherwise write: the same aggregation over the raw events.

- ``RawGroupBy``: ``GROUP BY day, <dimension>`` over ``usage_events`` in the same
  database, with the index a reasonable user would add, ``(org_id, timestamp_us)``.
- ``DuckDBScan``: DuckDB over the same events, loaded from the workload's JSON
  lines into an in-memory table sorted by (org, time) so its zone maps skip
  the other organizations and days; it answers every case the export does
  (local days, hours and months, several dimensions), and its answer can be
  held against the export's.

Both run in the benchmark's own process, with no HTTP in front of them: the
comparison is generous to the alternatives.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from bench.latency import FILTERS, Answer, Case
from creditmeter.store.database import normalise_url

US_PER_DAY = 86_400 * 1_000_000
#: The export's filter parameters as event columns.
_COLUMNS = {
    "product": "product",
    "feature": "feature",
    "apiKey": "api_key",
    "fileType": "file_type",
}
INDEX = "CREATE INDEX bench_usage_events_org_time ON usage_events (org_id, timestamp_us)"


def _filters() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in FILTERS:
        found.setdefault(_COLUMNS[name], []).append(value)
    return found


def median_ms(run: Callable[[], int], *, runs: int, budget_s: float) -> dict[str, Any]:
    """Median of up to ``runs`` timed calls (at least 3, then until ``budget_s``)."""
    run()  # warm-up: caches and plans, as the export gets
    timings: list[float] = []
    rows = 0
    deadline = time.perf_counter() + budget_s
    while len(timings) < runs:
        started = time.perf_counter()
        rows = run()
        timings.append(time.perf_counter() - started)
        if len(timings) >= 3 and time.perf_counter() > deadline:
            break
    return {
        "runs": len(timings),
        "rows": rows,
        "median_ms": round(statistics.median(timings) * 1000, 3),
    }


class RawGroupBy:
    """GROUP BY over ``usage_events`` in the store's own database."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(normalise_url(database_url))
        self.mark = "?" if self.engine.dialect.name == "sqlite" else "%s"

    def add_index(self) -> float:
        """Seconds to create the index (and refresh the planner's statistics)."""
        started = time.perf_counter()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(INDEX)
            connection.exec_driver_sql("ANALYZE")
        return time.perf_counter() - started

    def query(self, org_id: str, case: Case) -> tuple[str, list[Any]]:
        low, high = case.bounds_us()
        group = case.group_by
        where = (
            f"org_id = {self.mark} AND timestamp_us >= {self.mark} AND timestamp_us < {self.mark}"
        )
        params: list[Any] = [org_id, low, high]
        if case.filtered:
            for column, values in _filters().items():
                where += f" AND {column} IN ({', '.join([self.mark] * len(values))})"
                params.extend(values)
        sql = (
            f"SELECT timestamp_us / {US_PER_DAY} AS day, {group}, SUM(credits_micro), "
            f"SUM(request_count) FROM usage_events WHERE {where} GROUP BY day, {group}"
        )
        return sql, params

    def measure(self, org_id: str, case: Case, *, runs: int, budget_s: float) -> dict[str, Any]:
        sql, params = self.query(org_id, case)

        def run() -> int:
            with self.engine.connect() as connection:
                return len(connection.exec_driver_sql(sql, tuple(params)).fetchall())

        return median_ms(run, runs=runs, budget_s=budget_s)

    def close(self) -> None:
        self.engine.dispose()


class DuckDBScan:
    """The same events in DuckDB."""

    def __init__(self, source: Path) -> None:
        import duckdb

        self.connection = duckdb.connect()
        self.connection.execute("SET TimeZone = 'UTC'")
        started = time.perf_counter()
        self.connection.execute(
            """
            CREATE TABLE events AS
            SELECT orgId AS org_id, id AS event_id, "timestamp" AS ts, product, feature,
                   apiKey AS api_key, fileType AS file_type, credits,
                   coalesce(requestCount, 1) AS request_count
            FROM read_json(?, format = 'newline_delimited', columns = {
                'id': 'VARCHAR', 'orgId': 'VARCHAR', 'timestamp': 'TIMESTAMPTZ',
                'product': 'VARCHAR', 'feature': 'VARCHAR', 'apiKey': 'VARCHAR',
                'fileType': 'VARCHAR', 'credits': 'DECIMAL(18,6)', 'requestCount': 'BIGINT'})
            ORDER BY org_id, ts
            """,
            [str(source)],
        )
        self.load_s = time.perf_counter() - started

    def query(self, org_id: str, case: Case) -> tuple[str, list[Any]]:
        """The case's question in DuckDB's SQL: buckets of local time in the case's zone.

        ``timezone(zone, ts)`` is the local wall-clock time (ICU, DST included);
        an hour bucket is its hour, which merges the repeated hour of a fall-back
        day (none in the zones the bench asks for).
        """
        low, high = case.bounds_us()
        where = "org_id = ? AND ts >= make_timestamptz(?) AND ts < make_timestamptz(?)"
        params: list[Any] = [org_id, low, high]
        if case.filtered:
            for column, values in _filters().items():
                where += f" AND {column} IN ({', '.join(['?'] * len(values))})"
                params.extend(values)
        # The session's zone is UTC, so UTC days need no conversion; hours are
        # naive local times in every zone, to be read as the export's ``start``.
        zone = case.time_zone or ("UTC" if case.width == "hour" else None)
        local = f"timezone('{zone}', ts)" if zone else "ts"
        bucket = {
            "hour": f"date_trunc('hour', {local})",
            "day": f"CAST({local} AS DATE)",
            "month": f"greatest(CAST(date_trunc('month', {local}) AS DATE), DATE '{case.start}')",
        }[case.width]
        group = ", ".join(case.columns)
        sql = (
            f"SELECT {bucket} AS bucket, {group}, SUM(credits), SUM(request_count) "
            f"FROM events WHERE {where} GROUP BY bucket, {group}"
        )
        return sql, params

    def measure(self, org_id: str, case: Case, *, runs: int, budget_s: float) -> dict[str, Any]:
        sql, params = self.query(org_id, case)

        def run() -> int:
            return len(self.connection.execute(sql, params).fetchall())

        return median_ms(run, runs=runs, budget_s=budget_s)

    def count(self, org_id: str, case: Case) -> int:
        """How many rows the case's answer has."""
        sql, params = self.query(org_id, case)
        found = self.connection.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()
        return int(found[0]) if found else 0

    def answer(self, org_id: str, case: Case) -> Answer:
        """The case's answer keyed as :func:`bench.latency.answer` keys the export's."""
        sql, params = self.query(org_id, case)
        found: Answer = {}
        for bucket, *rest in self.connection.execute(sql, params).fetchall():
            *values, credits, requests = rest
            if case.width == "hour":
                key = (bucket.date().isoformat(), bucket.isoformat(), tuple(values))
            else:
                key = (bucket.isoformat(), None, tuple(values))
            found[key] = (Decimal(credits), int(requests))
        return found

    def close(self) -> None:
        self.connection.close()
