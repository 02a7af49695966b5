"""A whole unpaginated export streamed, and how much the server's memory grows meanwhile.

The server's resident memory (VmRSS) is read before the request, then every
few milliseconds while the client reads the answer, and after it. Where the
kernel allows it (``/proc/<pid>/clear_refs``, Linux 4.0 and later), the
process's peak (VmHWM) is first reset to what it holds now, so its peak after
the answer is the exact peak during it, not just the highest sample.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.latency import EXPORT_PATH, Case

#: How often the sampler reads the server's memory.
SAMPLE_S = 0.005
#: How a row begins in the JSON answer.
_ROW = b'{"date":'


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def _reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its VmRSS; False where the kernel does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def stream(url: str, secret: str, org_id: str, case: Case, pid: int) -> dict[str, Any]:
    """Read ``case``'s whole answer as it streams; the server's memory before, peak, after."""
    before = _status_kib(pid, "VmRSS")
    reset = _reset_peak(pid)
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(_status_kib(pid, "VmRSS"))
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample)
    rows = size = 0
    tail = b""
    headers = {"Authorization": f"Bearer {secret}"}
    started = time.perf_counter()
    sampler.start()
    try:
        with (
            httpx.Client(base_url=url, headers=headers, timeout=600) as client,
            client.stream("GET", EXPORT_PATH, params=case.params(org_id)) as response,
        ):
            response.raise_for_status()
            chunked = response.headers.get("transfer-encoding") == "chunked"
            length = response.headers.get("content-length")
            for chunk in response.iter_bytes(1 << 16):
                size += len(chunk)
                window = tail + chunk
                rows += window.count(_ROW)
                # What could begin a row cut by the chunk's end (too short to be counted).
                tail = window[-(len(_ROW) - 1) :]
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    after = _status_kib(pid, "VmRSS")
    peak = max([before, after, *samples])
    if reset:
        peak = max(peak, _status_kib(pid, "VmHWM"))
    return {
        **case.fields(),
        "rows": rows,
        "bytes": size,
        "seconds": round(seconds, 3),
        "chunked": chunked and length is None,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "peak_kib": peak,
        "growth_kib": peak - before,
        "samples": len(samples),
        "peak_reset": reset,
    }
