"""Ingest throughput: the bulk file import and HTTP batches from concurrent senders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.servers import peak_memory_kib, serve
from creditmeter.directory import Directory
from creditmeter.store import open_store


def bulk(database_url: str, source: Path) -> float:
    """Seconds for ``creditmeter ingest FILE`` to import every event, run as a command.

    The whole command is timed (start-up, the validation pass, the batched
    commits), as a user running it would time it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITMETER_")}
    command = [sys.executable, "-m", "creditmeter", "ingest", str(source),
               "--database-url", database_url, "--json"]  # fmt: skip
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"creditmeter ingest failed: {finished.stderr[-2000:]}")
    result = json.loads(finished.stdout)
    if result["duplicates"]:
        raise RuntimeError(f"{result['duplicates']} events were already stored")
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
        elapsed = send_bodies(url, secret, bodies, senders=senders)
        peak = peak_memory_kib(process.pid)
    return elapsed, peak


def send_bodies(url: str, secret: str, bodies: list[bytes], *, senders: int) -> float:
    """Seconds to POST every NDJSON body to the server at ``url`` from ``senders``
    threads, each taking the next body; raises if any batch is refused."""
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
    if failures:
        raise RuntimeError(f"{len(failures)} batches failed: {failures[:3]}")
    return elapsed
