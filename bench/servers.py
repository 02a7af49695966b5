"""Starting the things a benchmark measures: stores and `creditmeter serve` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests import postgres
from tests.ports import free_port


@contextmanager
def databases(kind: str, workdir: Path) -> Iterator[Callable[[], str]]:
    """A maker of fresh empty database URLs of ``kind`` (sqlite or postgresql).

    PostgreSQL databases share one throwaway server, stopped when the block ends.
    """
    if kind == "sqlite":
        yield lambda: f"sqlite:///{workdir / f'bench-{time.monotonic_ns()}.db'}"
        return
    server = postgres.start_server()
    try:
        yield server.create_database
    finally:
        server.destroy()


@contextmanager
def serve(database_url: str, **settings: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `creditmeter serve` process on a free port; yields (base URL, process)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITMETER_")}
    env.update({f"CREDITMETER_{k.upper()}": v for k, v in settings.items()})
    env["CREDITMETER_LOG_LEVEL"] = "warning"
    process = subprocess.Popen(
        [sys.executable, "-m", "creditmeter", "serve", "--port", str(port),
         "--database-url", database_url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.05)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def peak_memory_kib(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")
