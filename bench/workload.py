"""A realistic synthetic workload, the same for every run with the same seed.

Organizations are skewed (a few big ones), products follow fixed weights, and
weekdays carry four times the usage of weekend days. Two orders:

- ``time`` (the default): events come day by day, in time order within the
  year (in random order inside a day), as a live stream or an export of one
  would: a batch touches a day or two, not the whole year.
- ``random``: a backfill in no order. Three organizations, each event on a
  day drawn at random from the whole year (with the same weekday weights),
  so every batch touches every day of the year.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PRODUCTS = {"parse": 45, "extract": 25, "split": 12, "edit": 10, "classify": 8}
FEATURES = [f"feature_{n}" for n in range(10)]
FILE_TYPES = [
    "pdf",
    "docx",
    "xlsx",
    "pptx",
    "png",
    "jpg",
    "tiff",
    "csv",
    "html",
    "txt",
    "eml",
    "md",
]
ORGS = 20
#: The organizations of the random-order workload.
RANDOM_ORDER_ORGS = 3
KEYS = 50
DAYS = 365
FIRST_DAY = date(2025, 1, 1)


def org_weights(count: int = ORGS) -> list[float]:
    """Zipf-like: org 0 is the biggest by far."""
    return [1.0 / (n + 1) ** 1.2 for n in range(count)]


#: The workload's orders (``--order``); the first is the default.
ORDERS = ("time", "random")
#: Events drawn at once in the random order (the draws, not the batches, are chunked).
_CHUNK = 10_000


def _day_weights() -> list[float]:
    return [1.0 if (FIRST_DAY + timedelta(d)).weekday() < 5 else 0.25 for d in range(DAYS)]


def events_per_day(count: int) -> list[int]:
    """How many of ``count`` events fall on each day: weekdays weigh 1, weekend days 0.25."""
    weights = _day_weights()
    total = sum(weights)
    counts = [int(count * w / total) for w in weights]
    for day in range(count - sum(counts)):  # the rounding remainder, one each from day 0
        counts[day % DAYS] += 1
    return counts


def events(
    count: int, *, seed: int = 42, order: str = "time", units: bool = False
) -> Iterator[dict[str, object]]:
    """``count`` event dicts over DAYS days from FIRST_DAY, in ``order`` (one of ORDERS).

    ``units``: each event carries ``units`` (the same numbers) instead of ``credits``,
    to be priced by the card of :mod:`bench.units`.
    """
    amount = "units" if units else "credits"
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}: use one of {', '.join(ORDERS)}")
    rng = random.Random(seed)
    products, product_weights = list(PRODUCTS), list(PRODUCTS.values())
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)
    number = 0

    def event(day: int, org: str, product: str) -> dict[str, object]:
        moment = start + timedelta(days=day, seconds=rng.randrange(86_400))
        return {
            "id": f"ev{number:09d}",
            "orgId": org,
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "product": product,
            "feature": FEATURES[rng.randrange(10)],
            "apiKey": f"key_{rng.randrange(KEYS):02d}",
            "fileType": FILE_TYPES[rng.randrange(12)],
            amount: rng.randrange(1, 40) / 4,
        }

    if order == "random":
        orgs = [f"org_{n:02d}" for n in range(RANDOM_ORDER_ORGS)]
        weights, day_weights = org_weights(RANDOM_ORDER_ORGS), _day_weights()
        for first in range(0, count, _CHUNK):
            size = min(_CHUNK, count - first)
            chosen_days = rng.choices(range(DAYS), day_weights, k=size)
            chosen_orgs = rng.choices(orgs, weights, k=size)
            chosen_products = rng.choices(products, product_weights, k=size)
            for n in range(size):
                yield event(chosen_days[n], chosen_orgs[n], chosen_products[n])
                number += 1
        return

    orgs = [f"org_{n:02d}" for n in range(ORGS)]
    weights = org_weights()
    for day, size in enumerate(events_per_day(count)):
        chosen_orgs = rng.choices(orgs, weights, k=size)
        chosen_products = rng.choices(products, product_weights, k=size)
        for n in range(size):
            yield event(day, chosen_orgs[n], chosen_products[n])
            number += 1


def write_jsonl(
    path: Path, count: int, *, seed: int = 42, order: str = "time", units: bool = False
) -> Path:
    with path.open("w") as out:
        for event in events(count, seed=seed, order=order, units=units):
            out.write(json.dumps(event, separators=(",", ":")))
            out.write("\n")
    return path
