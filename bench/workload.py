"""A realistic synthetic workload, the same for every run with the same seed.

Organizations are skewed (a few big ones), products and file types follow
fixed weights, and weekdays carry about four times the usage of weekend days.
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


def events(count: int, *, seed: int = 42) -> Iterator[dict[str, object]]:
    """``count`` event dicts spread over DAYS days from FIRST_DAY."""
    rng = random.Random(seed)
    orgs = [f"org_{n:02d}" for n in range(ORGS)]
    weights = org_weights()
    day_weights = [1.0 if (FIRST_DAY + timedelta(d)).weekday() < 5 else 0.25 for d in range(DAYS)]
    products, product_weights = list(PRODUCTS), list(PRODUCTS.values())
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)
    batch = 4096
    for base in range(0, count, batch):
        size = min(batch, count - base)
        chosen_orgs = rng.choices(orgs, weights, k=size)
        chosen_days = rng.choices(range(DAYS), day_weights, k=size)
        chosen_products = rng.choices(products, product_weights, k=size)
        for n in range(size):
            moment = start + timedelta(days=chosen_days[n], seconds=rng.randrange(86_400))
            event: dict[str, object] = {
                "id": f"ev{base + n:09d}",
                "orgId": chosen_orgs[n],
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "product": chosen_products[n],
                "feature": FEATURES[rng.randrange(10)],
                "apiKey": f"key_{rng.randrange(KEYS):02d}",
                "fileType": FILE_TYPES[rng.randrange(12)],
                "credits": rng.randrange(1, 40) / 4,
            }
            yield event


def write_jsonl(path: Path, count: int, *, seed: int = 42) -> Path:
    with path.open("w") as out:
        for event in events(count, seed=seed):
            out.write(json.dumps(event, separators=(",", ":")))
            out.write("\n")
    return path
