"""Export latency over HTTP, and the no-op floor, on a running server.

Each case is warmed up, then timed request by request over one keep-alive
connection, in turn with the no-op (see :func:`_in_turn`); a case stops at
``requests`` requests or after ``budget_s`` seconds, whichever comes first (at
least ``min_requests``), and reports how many it made.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bench.workload import DAYS, FIRST_DAY
from creditmeter.dimensions import BY_NAME

RANGES = (7, 30, 90, 365)
GROUP_BYS = ("product", "feature", "api_key", "file_type")
#: The filtered variant of every case: (parse OR extract) AND pdf, the contract's example.
FILTERS = (("product", "parse"), ("product", "extract"), ("fileType", "pdf"))
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
EXPORT_PATH = "/api/v1/usage/export"
NOOP_PATH = "/healthz"


@dataclass(frozen=True)
class Case:
    """One export: ``days`` ending on the workload's last day (local dates in
    ``time_zone``), ``group_by`` as the parameter says it (``product,api_key``).

    ``time_zone`` and ``bucket_width`` None: the parameter is not sent (the
    seed's request, UTC days).
    """

    days: int
    group_by: str
    filtered: bool
    time_zone: str | None = None
    bucket_width: str | None = None

    @property
    def start(self) -> date:
        return LAST_DAY - timedelta(days=self.days - 1)

    @property
    def columns(self) -> list[str]:
        """The grouped dimensions' names, which are also the store's columns."""
        return self.group_by.split(",")

    @property
    def width(self) -> str:
        return self.bucket_width or "day"

    def bounds_us(self) -> tuple[int, int]:
        """The range as instants: local midnight of the first day to that after the last."""
        zone = ZoneInfo(self.time_zone or "UTC")

        def midnight_us(day: date) -> int:
            return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()) * 10**6

        return midnight_us(self.start), midnight_us(LAST_DAY + timedelta(days=1))

    def fields(self) -> dict[str, Any]:
        """What the figures say of the case (zone and width only when sent)."""
        found: dict[str, Any] = {
            "days": self.days, "group_by": self.group_by, "filtered": self.filtered
        }  # fmt: skip
        if self.time_zone:
            found["time_zone"] = self.time_zone
        if self.bucket_width:
            found["bucket_width"] = self.bucket_width
        return found

    def params(self, org_id: str) -> list[tuple[str, str]]:
        items = [
            ("startDate", self.start.isoformat()),
            ("endDate", LAST_DAY.isoformat()),
            ("groupBy", self.group_by),
            ("orgId", org_id),
        ]
        if self.time_zone:
            items.append(("timeZone", self.time_zone))
        if self.bucket_width:
            items.append(("bucketWidth", self.bucket_width))
        return items + list(FILTERS) if self.filtered else items


#: Issue 13's zone: +05:30 all year, so its days and hours cut UTC's quarter hours.
LOCAL_ZONE = "Asia/Kolkata"
#: The headline case in UTC and in the local zone, timed one right after the other.
HEADLINE_UTC = Case(30, "product", False)
HEADLINE_LOCAL = Case(30, "product", False, time_zone=LOCAL_ZONE)
#: Issue 13's exports that must be at least as fast as DuckDB on the same question.
AGAINST_DUCKDB = (
    Case(7, "product", False, time_zone=LOCAL_ZONE, bucket_width="hour"),
    Case(90, "product", False, time_zone=LOCAL_ZONE, bucket_width="month"),
    Case(30, "product,api_key", False),
    Case(365, "product", True),
)
#: Issue 13's speed cases, in the order they are timed.
SPEED_CASES = (HEADLINE_UTC, HEADLINE_LOCAL, *AGAINST_DUCKDB)
#: The streamed export: 31 days (the hourly maximum) of hours by all four dimensions.
STREAMED = Case(31, "product,feature,api_key,file_type", False, bucket_width="hour")


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


#: Requests of one kind timed one after the other before the next kind's turn.
BLOCK = 5


def _in_turn(kinds: Sequence[tuple[httpx.Client, str, Any]], plan: Plan) -> list[list[float]]:
    """Time each kind of request ``(client, path, params)`` in turn, ``BLOCK`` at a time,
    until the first kind has ``plan.requests`` timings (or the budget is spent).

    Kinds compared by a ratio are timed this way so that both sides see the same
    seconds of the run: the machine's pace drifts over minutes (a no-op read
    0.71 ms alone and 1.4-2.3 ms in one slow minute of the same run), and a ratio
    of two figures timed minutes apart holds that drift. In blocks, not one by
    one, so that a request mostly follows one of its own kind.
    """
    for _ in range(plan.warmup):
        for client, path, params in kinds:
            client.get(path, params=params).raise_for_status()
    timings: list[list[float]] = [[] for _ in kinds]
    deadline = time.perf_counter() + plan.budget_s
    while len(timings[0]) < plan.requests:
        for (client, path, params), found in zip(kinds, timings, strict=True):
            for _ in range(BLOCK):
                started = time.perf_counter()
                response = client.get(path, params=params)
                found.append(time.perf_counter() - started)
                response.raise_for_status()
        if len(timings[0]) >= plan.min_requests and time.perf_counter() > deadline:
            break
    return timings


def _rows(client: httpx.Client, params: Any) -> int:
    return len(client.get(EXPORT_PATH, params=params).json()["data"])


def noop(url: str, plan: Plan) -> dict[str, Any]:
    """The floor: a GET of /healthz through the same server, middleware and thread pool."""
    with httpx.Client(base_url=url, timeout=120) as client:
        (timings,) = _in_turn(
            [(client, NOOP_PATH, None)], Plan(plan.requests * 5, plan.warmup * 5, 1, 60)
        )
    return {"requests": len(timings), "rows": None, **percentiles(timings)}


def export(url: str, secret: str, org_id: str, case: Case, plan: Plan) -> dict[str, Any]:
    """``case`` timed in turn with the no-op (its ``noop_p50_ms``)."""
    return exports_in_turn(url, secret, org_id, [case], plan)[0]


def exports_in_turn(
    url: str, secret: str, org_id: str, cases: Sequence[Case], plan: Plan
) -> list[dict[str, Any]]:
    """``cases`` timed in turn with each other and with the no-op (see :func:`_in_turn`);
    each row's ``noop_p50_ms`` is that of the no-ops timed between them."""
    headers = {"Authorization": f"Bearer {secret}"}
    with (
        httpx.Client(base_url=url, headers=headers, timeout=120) as client,
        httpx.Client(base_url=url, timeout=120) as floor,
    ):
        kinds = [(client, EXPORT_PATH, case.params(org_id)) for case in cases]
        *timed, floors = _in_turn([*kinds, (floor, NOOP_PATH, None)], plan)
        rows = [_rows(client, params) for _, _, params in kinds]
    noop_p50 = percentiles(floors)["p50_ms"]
    return [
        {**case.fields(), "requests": len(timings), "rows": found, **percentiles(timings),
         "noop_p50_ms": noop_p50}
        for case, timings, found in zip(cases, timed, rows, strict=True)
    ]  # fmt: skip


#: An answer as a comparable whole: (date, local start of an hour or None, grouped
#: values) → (credits, requestCount).
Answer = dict[tuple[str, str | None, tuple[str | None, ...]], tuple[Decimal, int]]


def answer(url: str, secret: str, org_id: str, case: Case) -> Answer:
    """The export's answer to ``case``, credits exact, to hold against another's."""
    headers = {"Authorization": f"Bearer {secret}"}
    response = httpx.get(
        f"{url}{EXPORT_PATH}", params=case.params(org_id), headers=headers, timeout=300
    )
    response.raise_for_status()
    fields = ["group"] if len(case.columns) == 1 else [BY_NAME[c].field for c in case.columns]
    found: Answer = {}
    for row in json.loads(response.content, parse_float=Decimal)["data"]:
        start = row["start"][:19] if "start" in row else None  # the local clock, no offset
        values = tuple(row[field] for field in fields)
        found[(row["date"], start, values)] = (Decimal(row["credits"]), row["requestCount"])
    return found


def compare(ours: Answer, theirs: Answer) -> dict[str, Any]:
    """Whether two answers are the same, row by row, with their sizes and totals."""

    def totals(answer: Answer) -> tuple[Decimal, int]:
        return (
            sum((credits for credits, _ in answer.values()), Decimal(0)),
            sum(requests for _, requests in answer.values()),
        )

    (credits, requests), (their_credits, their_requests) = totals(ours), totals(theirs)
    return {
        "same": ours == theirs,
        "rows": len(ours),
        "their_rows": len(theirs),
        "credits": format(credits.normalize(), "f"),
        "their_credits": format(their_credits.normalize(), "f"),
        "requests": requests,
        "their_requests": their_requests,
        "rows_differing": len(set(ours.items()) ^ set(theirs.items())),
    }
