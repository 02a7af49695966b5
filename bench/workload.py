"""A realistic synthetic workload, the same for every run with the same seed.

Organizations are skewed (a few big ones), products follow fixed weights, and
weekdays carry four times the usage of weekend days. Events come day by day,
in time order within the year (in random order inside a day), as a live
stream or an export of one would: a batch touches a day or two, not the
whole year.
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
KEYS = 50
DAYS = 365
FIRST_DAY = date(2025, 1, 1)


def org_weights(count: int = ORGS) -> list[float]:
    """Zipf-like: org 0 is the biggest by far."""
    return [1.0 / (n + 1) ** 1.2 for n in range(count)]


def events_per_day(count: int) -> list[int]:
    """How many of ``count`` events fall on each day: weekdays weigh 1, weekend days 0.25."""
    weights = [1.0 if (FIRST_DAY + timedelta(d)).weekday() < 5 else 0.25 for d in range(DAYS)]
    total = sum(weights)
    counts = [int(count * w / total) for w in weights]
    for day in range(count - sum(counts)):  # the rounding remainder, one each from day 0
        counts[day % DAYS] += 1
    return counts


def events(count: int, *, seed: int = 42) -> Iterator[dict[str, object]]:
    """``count`` event dicts over DAYS days from FIRST_DAY, day by day."""
    rng = random.Random(seed)
    orgs = [f"org_{n:02d}" for n in range(ORGS)]
    weights = org_weights()
    products, product_weights = list(PRODUCTS), list(PRODUCTS.values())
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)
    number = 0
    for day, size in enumerate(events_per_day(count)):
        chosen_orgs = rng.choices(orgs, weights, k=size)
        chosen_products = rng.choices(products, product_weights, k=size)
        for n in range(size):
            moment = start + timedelta(days=day, seconds=rng.randrange(86_400))
            yield {
                "id": f"ev{number:09d}",
                "orgId": chosen_orgs[n],
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "product": chosen_products[n],
                "feature": FEATURES[rng.randrange(10)],
                "apiKey": f"key_{rng.randrange(KEYS):02d}",
                "fileType": FILE_TYPES[rng.randrange(12)],
                "credits": rng.randrange(1, 40) / 4,
            }
            number += 1


def write_jsonl(path: Path, count: int, *, seed: int = 42) -> Path:
    with path.open("w") as out:
        for event in events(count, seed=seed):
            out.write(json.dumps(event, separators=(",", ":")))
            out.write("\n")
    return path
