"""What the rollup rule costs, statement by statement, and what two exports cost, in process.

For A/B comparisons of the store on a shared, noisy machine: everything is timed in
this one process (CPU time, medians), on a copy of one prepared SQLite database, so
that two versions of the code can take turns on the same data::

    python -m bench.rule_cost prepare /tmp/base.db --events 1000000
    python -m bench.rule_cost ingest /tmp/base.db --order time --batches 20
    python -m bench.rule_cost ingest /tmp/base.db --order random --batches 20
    python -m bench.rule_cost exports /tmp/base.db
    python -m bench.rule_cost footprint /tmp/base.db

``prepare`` imports the time-ordered workload with ``creditmeter ingest``. ``ingest``
copies the database, then records 10,000-event batches of another draw of the
workload (ids of their own, starting half-way through the year for ``time``) with
``record_batch``, as the HTTP route does, and prints the CPU time per event of each
batch (median) and the time each statement of the rollup rule took (a SQLAlchemy
cursor listener; statements named by their first words). ``exports`` times issue
13's two exports that read the full rollups at 1M events (30 days by product and API
key; 365 days by product filtered), with ``run_export`` and the JSON rendering, as
the route runs them.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.footprint import footprint
from bench.latency import AGAINST_DUCKDB, FILTERS, LAST_DAY, Case
from bench.workload import events, write_jsonl
from creditmeter.directory import Directory
from creditmeter.events import read_json_body
from creditmeter.export import ExportQuery, run_export
from creditmeter.ingest import record_batch
from creditmeter.rendering import usage_json
from creditmeter.store import open_store

BATCH = 10_000
#: Issue 13's exports compared with DuckDB that read more than one dimension's rollup.
CASES = [case for case in AGAINST_DUCKDB if not case.time_zone]
_COLUMNS = {"product": "product", "fileType": "file_type"}


def prepare(path: Path, count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = write_jsonl(Path(folder) / "events.jsonl", count)
        command = [sys.executable, "-m", "creditmeter", "ingest", str(source),
                   "--database-url", f"sqlite:///{path}", "--json"]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)


def _batches(order: str, count: int) -> Iterator[bytes]:
    """``count`` bodies of BATCH events of another draw of the workload, ids of their own."""
    skip = 500_000 if order == "time" else 0
    # At the density of a 1M-event workload (a time-ordered batch spans a few days).
    drawn = events(max(1_000_000, skip + count * BATCH), seed=7, order=order)
    body: list[dict[str, object]] = []
    for number, item in enumerate(drawn):
        if number < skip:
            continue
        item["id"] = f"m{order[0]}{number:09d}"
        body.append(item)
        if len(body) == BATCH:
            yield json.dumps({"events": body}).encode()
            body = []
            count -= 1
            if not count:
                return


def _statement_name(statement: str) -> str:
    """The target of a statement, or its first words."""
    found = re.match(r"\s*(INSERT INTO|UPDATE|DELETE FROM)\s+(\S+)", statement)
    if found:
        return f"{found.group(1).split()[0]} {found.group(2)}"
    return " ".join(statement.split()[:3])


def ingest(path: Path, order: str, count: int) -> dict[str, Any]:
    copy = path.with_name(f"{path.stem}.ingest-{order}.db")
    shutil.copyfile(path, copy)
    store = open_store(f"sqlite:///{copy}")
    spent: dict[str, list[float]] = defaultdict(list)
    per_batch: dict[str, float] = defaultdict(float)
    started: list[float] = []

    def before(*_: Any) -> None:
        started.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        per_batch[_statement_name(statement)] += time.perf_counter() - started.pop()

    event.listen(store.engine, "before_cursor_execute", before)
    event.listen(store.engine, "after_cursor_execute", after)
    cpu_us: list[float] = []
    try:
        bodies = list(_batches(order, count))
        for body in bodies:
            per_batch.clear()
            received = time.time_ns() // 1000
            batch = read_json_body(body, received)
            cpu = time.process_time()
            record_batch(store, batch, max_events=BATCH, received_us=received)
            cpu_us.append((time.process_time() - cpu) * 1e6 / BATCH)
            for name, seconds in per_batch.items():
                spent[name].append(seconds * 1e6 / BATCH)
    finally:
        store.close()
        copy.unlink()
        for leftover in copy.parent.glob(f"{copy.name}-*"):
            leftover.unlink()
    return {
        "order": order,
        "batches": len(cpu_us),
        "cpu_us_per_event_median": round(statistics.median(cpu_us), 2),
        "cpu_us_per_event": [round(value, 1) for value in cpu_us],
        "statements_us_per_event_median": {
            name: round(statistics.median(values), 2)
            for name, values in sorted(spent.items(), key=lambda item: -sum(item[1]))
        },
    }


def _query(case: Case) -> ExportQuery:
    filters: dict[str, tuple[str, ...]] = {}
    if case.filtered:
        for name, value in FILTERS:
            filters[_COLUMNS[name]] = (*filters.get(_COLUMNS[name], ()), value)
    return ExportQuery(
        start_date=case.start,
        end_date=LAST_DAY,
        group_by=tuple(case.columns),
        org_id="org_00",
        filters=filters,
    )


def exports(path: Path, runs: int) -> list[dict[str, Any]]:
    copy = path.with_name(f"{path.stem}.exports.db")
    shutil.copyfile(path, copy)
    store = open_store(f"sqlite:///{copy}")
    try:
        directory = Directory(store)
        directory.create_org("Big organization", org_id="org_00")
        user = directory.create_user("bench@example.com")
        directory.set_membership("org_00", user.id)
        key, _ = directory.create_key(user.id, "org_00")
        found = []
        for case in CASES:
            query = _query(case)
            timings, cpu_timings, size, rows = [], [], 0, 0
            for _ in range(runs + 2):
                wall, cpu = time.perf_counter(), time.process_time()
                result = run_export(store, directory, key, query)
                size = len(usage_json(result.layout, result.rows, result.next_page))
                cpu_timings.append(time.process_time() - cpu)
                timings.append(time.perf_counter() - wall)
                rows = len(result.rows)
            found.append(
                {
                    **case.fields(),
                    "rows": rows,
                    "bytes": size,
                    "median_ms": round(statistics.median(timings[2:]) * 1000, 2),
                    "cpu_median_ms": round(statistics.median(cpu_timings[2:]) * 1000, 2),
                }
            )
        return found
    finally:
        store.close()
        copy.unlink()
        for leftover in copy.parent.glob(f"{copy.name}-*"):
            leftover.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rule_cost")
    parser.add_argument("what", choices=("prepare", "ingest", "exports", "footprint"))
    parser.add_argument("database", type=Path)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--order", default="time")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    if args.what == "prepare":
        prepare(args.database, args.events)
        result: Any = {"prepared": str(args.database)}
    elif args.what == "ingest":
        result = ingest(args.database, args.order, args.batches)
    elif args.what == "exports":
        result = exports(args.database, args.runs)
    else:
        result = footprint(f"sqlite:///{args.database}")
    print(json.dumps({"at": stamp, **({"result": result})}, indent=1))


if __name__ == "__main__":
    main()
