"""Ingest throughput: the bulk file import and HTTP batches from concurrent senders."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from bench.servers import peak_memory_kib, serve
from creditmeter.directory import Directory
from creditmeter.ingest import check_lines, record_lines
from creditmeter.store import open_store


def bulk(database_url: str, source: Path, *, batch: int = 10_000) -> float:
    """Seconds for the `creditmeter ingest` path: the validation pass, then batched commits."""
    store = open_store(database_url)
    try:
        started = time.perf_counter()
        with source.open("rb") as lines:
            _, problems = check_lines(lines)
        if problems:
            raise RuntimeError(f"the workload has invalid events: {problems[:3]}")
        with source.open("rb") as lines:
            result = record_lines(store, lines, max_events=batch)
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    if result.duplicates:
        raise RuntimeError(f"{result.duplicates} events were already stored")
    return elapsed


def _bodies(source: Path, batch: int) -> list[bytes]:
    lines = source.read_bytes().splitlines()
    return [b"\n".join(lines[i : i + batch]) for i in range(0, len(lines), batch)]


def http(database_url: str, source: Path, *, batch: int, senders: int) -> tuple[float, int]:
    """(seconds, server peak KiB) to send every event as NDJSON batches from ``senders`` threads."""
    store = open_store(database_url)
    try:
        _, secret = Directory(store).create_token("bench", ["usage:write"])
    finally:
        store.close()
    bodies = _bodies(source, batch)
    with serve(database_url) as (url, process):
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
        peak = peak_memory_kib(process.pid)
    if failures:
        raise RuntimeError(f"{len(failures)} batches failed: {failures[:3]}")
    return elapsed, peak
