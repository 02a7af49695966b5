"""Export latency over HTTP, and the no-op floor, on a running server.

Each case is warmed up, then timed request by request over one keep-alive
connection; a case stops at ``requests`` requests or after ``budget_s``
seconds, whichever comes first (at least ``min_requests``), and reports how
many it made.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from bench.workload import DAYS, FIRST_DAY

RANGES = (7, 30, 90, 365)
GROUP_BYS = ("product", "feature", "api_key", "file_type")
#: The filtered variant of every case: (parse OR extract) AND pdf, the contract's example.
FILTERS = (("product", "parse"), ("product", "extract"), ("fileType", "pdf"))
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
EXPORT_PATH = "/api/v1/usage/export"
NOOP_PATH = "/healthz"


@dataclass(frozen=True)
class Case:
    days: int
    group_by: str
    filtered: bool

    @property
    def start(self) -> date:
        return LAST_DAY - timedelta(days=self.days - 1)

    def params(self, org_id: str) -> list[tuple[str, str]]:
        items = [
            ("startDate", self.start.isoformat()),
            ("endDate", LAST_DAY.isoformat()),
            ("groupBy", self.group_by),
            ("orgId", org_id),
        ]
        return items + list(FILTERS) if self.filtered else items


def cases() -> list[Case]:
    return [
        Case(days, group_by, filtered)
        for days in RANGES
        for group_by in GROUP_BYS
        for filtered in (False, True)
    ]


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds (nearest rank), and the mean."""
    ordered = sorted(seconds)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))] * 1000

    return {
        "p50_ms": round(rank(0.50), 3),
        "p95_ms": round(rank(0.95), 3),
        "p99_ms": round(rank(0.99), 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


@dataclass(frozen=True)
class Plan:
    requests: int = 200
    warmup: int = 20
    min_requests: int = 20
    budget_s: float = 20.0


def _time(
    client: httpx.Client, path: str, params: Any, plan: Plan, floor: httpx.Client | None = None
) -> dict[str, Any]:
    """Time ``path``; with a ``floor`` client, time one no-op request after each one.

    The no-op taken in turn with the case's own requests shows how the
    machine's pace drifted over a run of many minutes (the report prints it
    beside each case; the ratios stay over the run's own no-op).
    """
    for _ in range(plan.warmup):
        client.get(path, params=params).raise_for_status()
        if floor is not None:
            floor.get(NOOP_PATH).raise_for_status()
    timings: list[float] = []
    floors: list[float] = []
    rows = None
    deadline = time.perf_counter() + plan.budget_s
    while len(timings) < plan.requests:
        started = time.perf_counter()
        response = client.get(path, params=params)
        timings.append(time.perf_counter() - started)
        response.raise_for_status()
        if floor is not None:
            started = time.perf_counter()
            floor.get(NOOP_PATH).raise_for_status()
            floors.append(time.perf_counter() - started)
        if rows is None and path == EXPORT_PATH:
            rows = len(response.json()["data"])
        if len(timings) >= plan.min_requests and time.perf_counter() > deadline:
            break
    figures = {"requests": len(timings), "rows": rows, **percentiles(timings)}
    if floors:
        figures["noop_p50_ms"] = percentiles(floors)["p50_ms"]
    return figures


def noop(url: str, plan: Plan) -> dict[str, Any]:
    """The floor: a GET of /healthz through the same server, middleware and thread pool."""
    with httpx.Client(base_url=url, timeout=120) as client:
        return _time(client, NOOP_PATH, None, Plan(plan.requests * 5, plan.warmup * 5, 1, 60))


def export(url: str, secret: str, org_id: str, case: Case, plan: Plan) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {secret}"}
    with (
        httpx.Client(base_url=url, headers=headers, timeout=120) as client,
        httpx.Client(base_url=url, timeout=120) as floor,
    ):
        figures = _time(client, EXPORT_PATH, case.params(org_id), plan, floor)
    return {"days": case.days, "group_by": case.group_by, "filtered": case.filtered, **figures}
