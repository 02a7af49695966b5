"""Ingest of events carrying ``units`` against the same events carrying ``credits``.

The target (issue 15): units are priced at ingest at ≥ 90% of the rate of credits,
on both stores, for the bulk import and for HTTP batches. Each path is timed on
fresh databases, credits and units in turn (the order alternating from round to
round), three rounds; the fastest run of each counts (the machine is shared: a
slower run is mostly someone else's work).

The card is recorded as if it had been set before the workload's first day (the
domain takes the clock as a parameter; rates are never back-dated otherwise): a
rate per product for any feature, one per feature of ``parse``, an override of
``extract`` for the biggest organization, and a change of ``split`` mid-year.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.ingest import bulk, http
from bench.workload import FEATURES, PRODUCTS
from creditmeter import rates
from creditmeter.directory import Directory
from creditmeter.store import open_store
from creditmeter.timestamps import us_of_datetime

TARGET = 0.90
_BEFORE = us_of_datetime(datetime(2024, 12, 1, tzinfo=UTC))
_MID_YEAR = us_of_datetime(datetime(2025, 7, 1, tzinfo=UTC))


def set_card(database_url: str) -> int:
    """Record the bench's card; the number of versions."""
    store = open_store(database_url)
    try:
        Directory(store).create_org("Big organization", org_id="org_00")

        def version(product: str, rate: str, *, feature: str | None = None,
                    org_id: str | None = None, at: int = _BEFORE) -> rates.RateDraft:  # fmt: skip
            return rates.draft(
                org_id=org_id, product=product, feature=feature, unit="page",
                credits_per_unit=Decimal(rate), effective_from=None, now_us=at,
            )  # fmt: skip

        card = [version(product, "0.5") for product in PRODUCTS]
        card += [version("parse", f"0.{n + 1}", feature=f) for n, f in enumerate(FEATURES)]
        card.append(version("extract", "0.35", org_id="org_00"))
        recorded = rates.record(store, card, now_us=_BEFORE)
        recorded += rates.record(store, [version("split", "0.6", at=_MID_YEAR)], now_us=_MID_YEAR)
    finally:
        store.close()
    return len(recorded)


def compare(
    kind: str,
    fresh: Callable[[], str],
    sources: tuple[Path, Path],
    http_sources: tuple[Path, Path],
    *,
    events: int,
    http_events: int,
    senders: int,
    batch: int = 10_000,
    rounds: int = 3,
) -> list[dict[str, Any]]:
    """Rows of (path, credits events/s, units events/s, ratio, target met)."""
    rows = []
    paths: list[tuple[str, int, Callable[[str, Path], float]]] = [
        ("bulk file import (creditmeter ingest)", events, bulk),
        (
            f"HTTP, {batch:,} a batch, {senders} senders",
            http_events,
            lambda url, source: http(url, source, batch=batch, senders=senders)[0],
        ),
    ]
    for (name, count, run), files in zip(paths, (sources, http_sources), strict=True):
        if not count:  # --http-events 0: no HTTP runs
            continue
        best = {"credits": float("inf"), "units": float("inf")}
        for round_number in range(rounds):
            order = list(zip(("credits", "units"), files, strict=True))
            for amount, source in order if round_number % 2 == 0 else reversed(order):
                url = fresh()
                if amount == "units":
                    set_card(url)
                best[amount] = min(best[amount], run(url, source))
        credits_rate, units_rate = count / best["credits"], count / best["units"]
        ratio = units_rate / credits_rate
        rows.append(
            {"path": name, "events": count, "credits_events_per_second": round(credits_rate),
             "units_events_per_second": round(units_rate), "ratio": round(ratio, 3),
             "target": TARGET, "met": ratio >= TARGET}
        )  # fmt: skip
        print(f"{kind}: {name}: credits {credits_rate:,.0f}/s, units {units_rate:,.0f}/s, "
              f"{ratio:.1%} of credits (target ≥ {TARGET:.0%}: "
              f"{'met' if ratio >= TARGET else 'MISSED'})", flush=True)  # fmt: skip
    return rows


def report(results: dict[str, Any]) -> str:
    """The comparison as a table, a line per store and path."""
    lines = [
        "Ingest of events carrying units vs credits (target: units ≥ 90% of credits' rate)",
        f"{'store':<11} {'path':<40} {'credits/s':>10} {'units/s':>10} {'ratio':>7}  target",
    ]
    for kind, figures in results["stores"].items():
        for row in figures.get("units", []):
            lines.append(
                f"{kind:<11} {row['path']:<40} {row['credits_events_per_second']:>10,} "
                f"{row['units_events_per_second']:>10,} {row['ratio']:>7.1%}  "
                f"{'met' if row['met'] else 'MISSED'}"
            )
    return "\n".join(lines)
