"""The benchmark program runs: a tiny run of ``python -m bench`` (see docs/benchmarks.md).

Benchmarks are not tests; this only keeps the program from rotting.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

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


def test_the_random_order_workload_spreads_every_batch_over_the_year() -> None:
    def first_batch(order: str) -> list[dict[str, object]]:
        return list(itertools.islice(events(1_000_000, order=order), 10_000))

    randomly = first_batch("random")
    assert {event["orgId"] for event in randomly} == {"org_00", "org_01", "org_02"}
    assert len({str(event["timestamp"])[:10] for event in randomly}) == DAYS
    # The default, time order: a batch touches a few days at most.
    assert len({str(event["timestamp"])[:10] for event in first_batch("time")}) <= 5
