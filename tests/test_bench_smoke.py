"""The benchmark program runs: a tiny run of ``python -m bench`` (see docs/benchmarks.md).

Benchmarks are not tests; this only keeps the program from rotting.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.latency import SPEED_CASES, STREAMED
from bench.workload import DAYS, events

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_smoke_run_prints_its_table_and_writes_json(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--stores", "sqlite", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for heading in ("== sqlite ==", "no-op (GET /healthz)", "30 days, product", "targets:"):
        assert heading in done.stdout
    written = json.loads(figures.read_text())
    store = written["stores"]["sqlite"]
    assert written["events"] == 2_000
    assert len(store["export"]) == 32
    assert all(row["requests"] >= 5 for row in store["export"])
    assert store["export_server_peak_kib"] > 0
    assert store["served_again"]["export"]["requests"] >= 5
    assert store["right_after_import"]["requests"] >= 5
    # Issue 13's lines: every speed case timed and its answer equal to DuckDB's.
    for heading in (
        "issue 13: exports over HTTP",
        "  7 days, product, hour, Asia/Kolkata",
        " 90 days, product, month, Asia/Kolkata",
        " 30 days, product,api_key",
        "Asia/Kolkata / UTC, 30 days by product:",
        "streamed export, no limit:",
        "stored usage, after the bulk import",
        "targets of issue 13:",
    ):
        assert heading in done.stdout
    assert [row["requests"] >= 5 for row in store["speed"]] == [True] * len(SPEED_CASES)
    assert [row["duckdb_check"]["same"] for row in store["speed"]] == [True] * len(SPEED_CASES)
    assert "DIFFERS" not in done.stdout
    # Issue 15's line: ingest of events carrying units against the same carrying credits.
    assert "Ingest of events carrying units vs credits" in done.stdout
    assert [row["path"].split(",")[0] for row in store["units"]] == [
        "bulk file import (creditmeter ingest)",
        "HTTP",
    ]
    # Issue 16's line: HTTP ingest with 100 alerts against the same without.
    assert "HTTP ingest with 100 alerts vs none" in done.stdout
    assert store["alerts"]["alerts"] == 100
    assert store["alerts"]["with_events_per_second"] > 0
    # The streamed export's rows, counted in the stream, are the workload's.
    assert store["streamed"]["rows"] == _hours_by_every_dimension(written["org_id"])
    assert store["streamed"]["duckdb_rows"] == store["streamed"]["rows"]
    assert store["streamed"]["peak_kib"] >= store["streamed"]["rss_before_kib"] > 0
    stored = {row["table"]: row for row in store["footprint"]["tables"]}
    assert stored["usage_events"]["rows"] == store["footprint"]["events"] == 2_000
    assert all(row["bytes"] > 0 for row in stored.values())
    assert store["footprint"]["database_bytes"] >= sum(row["bytes"] for row in stored.values())


def _hours_by_every_dimension(org_id: str) -> int:
    """The rows of the streamed export (UTC hours of its 31 days, every dimension)."""
    low, high = (datetime.fromtimestamp(us / 1e6, UTC) for us in STREAMED.bounds_us())
    return len(
        {
            (str(event["timestamp"])[:13], event["product"], event["feature"], event["apiKey"],
             event["fileType"])
            for event in events(2_000)
            if event["orgId"] == org_id
            and low <= datetime.fromisoformat(str(event["timestamp"])) < high
        }
    )  # fmt: skip


def test_the_random_order_workload_spreads_every_batch_over_the_year() -> None:
    def first_batch(order: str) -> list[dict[str, object]]:
        return list(itertools.islice(events(1_000_000, order=order), 10_000))

    randomly = first_batch("random")
    assert {event["orgId"] for event in randomly} == {"org_00", "org_01", "org_02"}
    assert len({str(event["timestamp"])[:10] for event in randomly}) == DAYS
    # The default, time order: a batch touches a few days at most.
    assert len({str(event["timestamp"])[:10] for event in first_batch("time")}) <= 5
