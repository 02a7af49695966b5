"""Usage events as the ingest endpoint reads them: JSON bodies of at most ``batch_size`` events.

Events are dicts of the ingest contract's fields. Besides JSON's own types a
value may be a :class:`~decimal.Decimal`, written as its exact decimal text (a
JSON number, never through a float), or a :class:`~datetime.datetime`, written
as RFC 3339. A naive datetime is written without an offset, which the server
refuses with a message saying so: the client keeps no second copy of the
contract's rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any


def batches(events: Iterable[Mapping[str, Any]], batch_size: int) -> Iterator[tuple[int, bytes]]:
    """(index of the batch's first event, its JSON body) per batch, read lazily."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    iterator = iter(events)
    start = 0
    while batch := list(islice(iterator, batch_size)):
        yield start, batch_body(batch)
        start += len(batch)


def batch_body(events: list[Mapping[str, Any]]) -> bytes:
    """``{"events": [...]}`` as UTF-8 JSON bytes."""
    return ('{"events":[' + ",".join(_encode(event) for event in events) + "]}").encode("utf-8")


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a number JSON can carry")
        return str(value)
    if isinstance(value, datetime):
        return json.dumps(value.isoformat())
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
