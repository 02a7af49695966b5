"""``python -m bench.alerts`` runs (it measures nothing this small)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_alerts_benchmark_runs_and_prints_its_table() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "bench.alerts", "--events", "2000", "--batch", "500",
         "--alerts", "20", "--rounds", "1", "--stores", "sqlite"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr[-2000:]
    lines = answer.stdout.splitlines()
    assert lines[1].startswith("| store | without alerts") and "with 20 alerts" in lines[1]
    assert lines[3].startswith("| sqlite | ") and lines[3].endswith("% |")
