"""Recording usage: the one path every event takes into the store.

The HTTP endpoint and ``creditmeter ingest`` both call :func:`record_batch`.
A batch is validated whole first (nothing is stored if any event is wrong),
then, in one write transaction: new events are inserted (idempotent on
``(orgId, id)``), the events that were already there are compared with the
stored ones, and the newly inserted events are added to the rollups and the
daily totals. The commit returns before the answer is built, so an answer
means the events are durable.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from creditmeter.credits import MAX_TOTAL_MICRO, format_micro
from creditmeter.errors import InvalidEvents, PayloadTooLarge, Problem
from creditmeter.events import (
    FUTURE_TOLERANCE_US,
    Event,
    iter_ndjson_lines,
    validate,
    validate_one,
)
from creditmeter.store import Store
from creditmeter.store import usage as sql
from creditmeter.timestamps import day_of_us


@dataclass
class RecordResult:
    """What happened to a batch: the answer of the ingest endpoint."""

    accepted: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)

    def add(self, other: RecordResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.conflicts.extend(c for c in other.conflicts if c not in self.conflicts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
        }


def now_us() -> int:
    return time.time_ns() // 1000


def check_batch_size(count: int, max_events: int) -> None:
    if count > max_events:
        raise PayloadTooLarge(
            f"The batch holds {count:,} events; the limit is {max_events:,} events a batch. "
            "Split it into smaller batches."
        )


def record_batch(
    store: Store,
    items: list[tuple[int, Any]],
    *,
    max_events: int,
    received_us: int | None = None,
) -> RecordResult:
    """Validate numbered raw events and record them atomically.

    Raises PayloadTooLarge for too many events and InvalidEvents listing every
    problem; stores nothing in either case.
    """
    check_batch_size(len(items), max_events)
    received_us = now_us() if received_us is None else received_us
    events, problems = validate(items, received_us)
    if problems:
        raise InvalidEvents(problems)
    return record(store, events, received_us=received_us)


def _row(event: Event, received_us: int) -> tuple[Any, ...]:
    """The event as a row in ``sql.EVENT_COLUMNS`` order."""
    return (
        event.org_id,
        event.id,
        event.timestamp_us,
        event.product,
        event.feature,
        event.api_key,
        event.file_type,
        event.credits_micro,
        event.request_count,
        received_us,
    )


def _event_of_row(row: dict[str, Any]) -> Event:
    return Event(
        org_id=row["org_id"],
        id=row["event_id"],
        timestamp_us=row["timestamp_us"],
        product=row["product"],
        feature=row["feature"],
        api_key=row["api_key"],
        file_type=row["file_type"],
        credits_micro=row["credits_micro"],
        request_count=row["request_count"],
    )


def record(store: Store, events: list[Event], *, received_us: int) -> RecordResult:
    """Store validated events once each; count duplicates and name conflicts."""
    result = RecordResult()
    first: dict[tuple[str, str], Event] = {}
    repeats: list[Event] = []
    for event in events:
        if event.key in first:
            repeats.append(event)
        else:
            first[event.key] = event
    if not first:
        return result

    with store.write() as connection:
        inserted = sql.insert_new_events(connection, [_row(e, received_us) for e in first.values()])
        already = [e for key, e in first.items() if key not in inserted]
        stored = sql.stored_events(connection, [e.key for e in already]) if already else {}
        new_events = [first[key] for key in first if key in inserted]
        rollups, dimensions, totals = _deltas(new_events)
        # A batch's own sum may not even fit the store's 64-bit integers: check it here.
        if any(credits > MAX_TOTAL_MICRO for credits, _ in totals.values()):
            raise _overflow(store, new_events)
        try:
            sql.add_to_daily_totals(connection, totals)
        except sql.TotalLimitExceeded:
            raise _overflow(store, new_events) from None
        # After the totals: a rollup is part of its day's total, so it fits too.
        sql.add_to_rollups(connection, rollups)
        sql.add_to_dimension_rollups(connection, dimensions)

    result.accepted = len(new_events)
    conflicts: dict[str, None] = {}
    for event in already:
        result.duplicates += 1
        if event != _event_of_row(stored[event.key]):
            conflicts[event.id] = None
    for event in repeats:
        result.duplicates += 1
        winner = _event_of_row(stored[event.key]) if event.key in stored else first[event.key]
        if event != winner:
            conflicts[event.id] = None
    # Each conflicting id once, however many differing copies the batch held.
    result.conflicts = list(conflicts)
    return result


def _deltas(
    events: Iterable[Event],
) -> tuple[
    dict[sql.RollupKey, sql.Amounts],
    dict[sql.DimensionKey, sql.Amounts],
    dict[sql.DayKey, sql.Amounts],
]:
    """What the events add to the full rollups, the per-dimension rollups and the totals."""
    rollups: dict[sql.RollupKey, list[int]] = defaultdict(lambda: [0, 0])
    totals: dict[sql.DayKey, list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        day = day_of_us(event.timestamp_us)
        key = (
            event.org_id,
            day,
            event.product,
            event.feature or "",
            event.api_key or "",
            event.file_type or "",
        )
        amounts = rollups[key]
        amounts[0] += event.credits_micro
        amounts[1] += event.request_count
        total = totals[(event.org_id, day)]
        total[0] += event.credits_micro
        total[1] += event.request_count
    # Each per-dimension rollup is the full rollup summed over the other dimensions.
    dimensions: dict[sql.DimensionKey, list[int]] = defaultdict(lambda: [0, 0])
    for (org_id, day, *values), (credits, requests) in rollups.items():
        for dimension, value in zip(sql.GROUP_COLUMNS, values, strict=True):
            amounts = dimensions[(org_id, dimension, day, value)]
            amounts[0] += credits
            amounts[1] += requests
    return (
        {key: (c, r) for key, (c, r) in rollups.items()},
        {key: (c, r) for key, (c, r) in dimensions.items()},
        {key: (c, r) for key, (c, r) in totals.items()},
    )


def _overflow(store: Store, new_events: list[Event]) -> InvalidEvents:
    """Name the first event that takes a stored daily total past the limit."""
    with store.read() as connection:
        running = {
            key: credits
            for key, (credits, _) in sql.daily_totals(
                connection, {(e.org_id, e.day) for e in new_events}
            ).items()
        }
    for event in sorted(new_events, key=lambda e: e.index):
        key = (event.org_id, event.day)
        running[key] = running.get(key, 0) + event.credits_micro
        if running[key] > MAX_TOTAL_MICRO:
            return InvalidEvents(
                [
                    Problem(
                        event.index,
                        "credits",
                        f"This event takes the total of {event.org_id} on {event.day} past "
                        f"{format_micro(MAX_TOTAL_MICRO)} credits, the largest total stored.",
                    )
                ]
            )
    # Another writer moved the totals between our attempt and this look: name the batch.
    return InvalidEvents(
        [
            Problem(
                None,
                "credits",
                f"The batch takes a daily total past {format_micro(MAX_TOTAL_MICRO)} credits.",
            )
        ]
    )


#: ``creditmeter ingest`` reports at most this many problems of a file.
MAX_FILE_PROBLEMS = 100


def check_lines(lines: Iterable[bytes], *, now: int | None = None) -> tuple[int, list[Problem]]:
    """Validate every line of a JSON-lines stream without storing anything.

    Returns (events seen, problems); problems carry 1-based line numbers in
    ``index``, at most MAX_FILE_PROBLEMS of them.
    """
    latest = (now_us() if now is None else now) + FUTURE_TOLERANCE_US
    problems: list[Problem] = []
    seen = 0
    for index, raw in iter_ndjson_lines(lines, start=1):
        seen += 1
        found: list[Problem] = []
        validate_one(index, raw, latest, found)
        problems.extend(found[: MAX_FILE_PROBLEMS - len(problems)])
        if len(problems) >= MAX_FILE_PROBLEMS:
            break
    return seen, problems


def record_lines(
    store: Store,
    lines: Iterable[bytes],
    *,
    max_events: int,
    on_batch: Callable[[int], None] | None = None,
) -> RecordResult:
    """Record a JSON-lines stream in batches of ``max_events`` through :func:`record_batch`.

    Each batch commits on its own; a run cut short is finished by running it
    again, since events already stored count as duplicates. ``on_batch`` is
    called with the number of events in each committed batch.
    """
    total = RecordResult()
    batch: list[tuple[int, Any]] = []
    for item in iter_ndjson_lines(lines, start=1):
        batch.append(item)
        if len(batch) == max_events:
            total.add(record_batch(store, batch, max_events=max_events))
            if on_batch:
                on_batch(len(batch))
            batch = []
    if batch:
        total.add(record_batch(store, batch, max_events=max_events))
        if on_batch:
            on_batch(len(batch))
    return total
