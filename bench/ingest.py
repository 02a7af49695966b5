"""Ingest throughput: bulk file import and HTTP batches, on SQLite and PostgreSQL.

    python -m bench.ingest --events 200000 --stores sqlite,postgresql

Prints one line per (store, path) with events per second; ``--json FILE``
writes the same figures for tracking.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.servers import database, serve
from bench.workload import write_jsonl
from creditmeter.directory import Directory
from creditmeter.ingest import record_lines
from creditmeter.store import open_store


def bulk(database_url: str, source: Path) -> float:
    """Seconds for the `creditmeter ingest` path (validation pass + batched commits)."""
    from creditmeter.ingest import check_lines

    store = open_store(database_url)
    try:
        started = time.perf_counter()
        with source.open("rb") as lines:
            _, problems = check_lines(lines)
        assert not problems, problems[:3]
        with source.open("rb") as lines:
            result = record_lines(store, lines, max_events=10_000)
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    assert result.duplicates == 0
    return elapsed


def _bodies(source: Path, batch: int) -> list[bytes]:
    lines = source.read_bytes().splitlines()
    return [b"\n".join(lines[i : i + batch]) for i in range(0, len(lines), batch)]


def http(database_url: str, source: Path, *, batch: int, senders: int) -> float:
    """Seconds to send every event over HTTP as NDJSON batches from ``senders`` threads."""
    store = open_store(database_url)
    try:
        _, secret = Directory(store).create_token("bench", ["usage:write"])
    finally:
        store.close()
    bodies = _bodies(source, batch)
    with serve(database_url) as (url, _):
        queue = list(reversed(bodies))
        lock = threading.Lock()
        failures: list[str] = []

        def send() -> None:
            headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-ndjson"}
            with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
                while True:
                    with lock:
                        if not queue:
                            return
                        body = queue.pop()
                    response = client.post("/api/v1/usage/events", content=body)
                    if response.status_code != 200:
                        failures.append(response.text[:200])

        started = time.perf_counter()
        threads = [threading.Thread(target=send) for _ in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    assert not failures, failures[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="creditmeter-bench-") as tmp:
        workdir = Path(tmp)
        source = write_jsonl(workdir / "events.jsonl", args.events)
        for kind in args.stores.split(","):
            runs = [("bulk file import", None, None)] + [
                (f"HTTP, batches of {b:,}, {args.senders} senders", b, args.senders)
                for b in (1_000, 10_000)
            ]
            for label, batch, senders in runs:
                with database(kind, workdir) as url:
                    if batch is None:
                        seconds = bulk(url, source)
                    else:
                        seconds = http(url, source, batch=batch, senders=senders or 1)
                rate = args.events / seconds
                results.append(
                    {"store": kind, "path": label, "events": args.events,
                     "seconds": round(seconds, 3), "events_per_second": round(rate)}
                )  # fmt: skip
                print(f"{kind:<11} {label:<36} {args.events:>10,} events {seconds:8.2f} s "
                      f"{rate:>10,.0f} events/s", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
