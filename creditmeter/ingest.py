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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from creditmeter import alerting, rates
from creditmeter.credits import MAX_TOTAL_MICRO, format_micro
from creditmeter.errors import InvalidEvents, PayloadTooLarge, Problem
from creditmeter.event_spool import EventSpool
from creditmeter.events import Batch, Event, read_lines
from creditmeter.record_result import RecordResult
from creditmeter.store import Store
from creditmeter.store import directory as directory_sql
from creditmeter.store import usage as sql


def now_us() -> int:
    return time.time_ns() // 1000


def check_batch_size(count: int, max_events: int) -> None:
    if count > max_events:
        raise PayloadTooLarge(
            f"The batch holds {count:,} events; the limit is {max_events:,} events a batch. "
            "Split it into smaller batches."
        )


def record_batch(store: Store, batch: Batch, *, max_events: int, received_us: int) -> RecordResult:
    """Record a batch that was read (see :mod:`creditmeter.events`) atomically.

    Raises PayloadTooLarge for too many events and InvalidEvents listing every
    problem; stores nothing in either case.
    """
    check_batch_size(batch.size, max_events)
    # Events sent with units are priced now, from the card as recorded (credit-rates.md):
    # a missing rate is a problem like any other, so the batch is whole before any
    # duplicate is looked for (edge case 18).
    problems = batch.problems
    priced = rates.price(store, batch.events)
    if priced:
        problems = sorted([*problems, *priced], key=_position)
    if problems:
        raise InvalidEvents(problems)
    return record(store, batch.events, received_us=received_us)


def _position(problem: Problem) -> int:
    return -1 if problem.index is None else problem.index


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


def _row_with_units(event: Event, received_us: int) -> tuple[Any, ...]:
    """The event as a row in ``sql.EVENT_COLUMNS_WITH_UNITS`` order."""
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
        event.units_micro,
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
        units_micro=row["units_micro"],
    )


def _as_sent(event: Event) -> tuple[Any, ...]:
    """What conflicts compare: what was sent (credit-rates.md, edge case 3). An event
    sent with units is compared by its units, never by the credits they were priced at."""
    units = event.units_micro
    return (
        event.timestamp_us,
        event.product,
        event.feature,
        event.api_key,
        event.file_type,
        event.request_count,
        units,
        event.credits_micro if units is None else None,
    )


def record(store: Store, events: list[Event], *, received_us: int) -> RecordResult:
    """Store validated events once each; count duplicates, name conflicts and unknown orgs."""
    first: dict[tuple[str, str], Event] = {}
    repeats: list[Event] = []
    for event in events:
        key = (event.org_id, event.id)
        if key in first:
            repeats.append(event)
        else:
            first[key] = event
    if not first:
        return RecordResult(batches=1)

    org_ids = {event.org_id for event in first.values()}
    try:
        evaluation = alerting.prepare(list(first.values()))
        with store.write() as connection:
            # Reads first: on PostgreSQL, writers of one organization wait for each
            # other from their first shared rollup row to their commit.
            evaluation.begin(connection)
            known = directory_sql.existing_org_ids(connection, org_ids)
            if any(event.units_micro is not None for event in first.values()):
                inserted = sql.insert_events(
                    connection,
                    [_row_with_units(event, received_us) for event in first.values()],
                    sql.EVENT_COLUMNS_WITH_UNITS,
                )
            else:
                inserted = sql.insert_events(
                    connection, [_row(event, received_us) for event in first.values()]
                )
            evaluation.apply(connection, inserted, now_us())
            already = [key for key in first if key not in inserted]
            stored = sql.stored_events(connection, already) if already else {}
    except sql.TotalLimitExceeded:
        raise _overflow(store, list(first.values())) from None

    duplicates = 0
    conflicts: dict[str, None] = {}
    for key in already:
        duplicates += 1
        if _as_sent(first[key]) != _as_sent(_event_of_row(stored[key])):
            conflicts[key[1]] = None
    for event in repeats:
        duplicates += 1
        key = (event.org_id, event.id)
        winner = _event_of_row(stored[key]) if key in stored else first[key]
        if _as_sent(event) != _as_sent(winner):
            conflicts[event.id] = None
    return RecordResult(
        accepted=len(inserted),
        duplicates=duplicates,
        # Each conflicting id once, however many differing copies the batch held.
        conflicts=list(conflicts),
        batches=1,
        unknown_org_ids=sorted(org_ids - known),
    )


def _overflow(store: Store, events: list[Event]) -> InvalidEvents:
    """Name the first event that takes a stored daily total past the limit."""
    with store.read() as connection:
        stored = set(sql.stored_keys(connection, [(e.org_id, e.id) for e in events]))
        new_events = [e for e in events if (e.org_id, e.id) not in stored]
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
                        "credits" if event.units_micro is None else "units",
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
    checked = check_file(lines, now=now)
    return checked.seen, checked.problems


@dataclass
class FileCheck:
    """What reading a file found: events seen, those sent with units, and problems."""

    seen: int = 0
    units: int = 0
    problems: list[Problem] = field(default_factory=list)


def check_file(
    lines: Iterable[bytes],
    *,
    now: int | None = None,
    store: Store | None = None,
    keep: EventSpool | None = None,
) -> FileCheck:
    """Validate every line of a JSON-lines stream without storing anything; with a
    ``store``, also price the events sent with units (a batch at a time), so that an
    event without a rate in force is a problem of its line. With ``keep``, every
    event read is added to it, for :func:`record_events` to import without reading
    the lines again.

    Problems carry 1-based line numbers in ``index``, at most MAX_FILE_PROBLEMS.
    """
    items = read_lines(lines, now_us() if now is None else now, start=1)
    return _check(items, store, None if keep is None else keep.add)


def check_events(events: Iterable[Event], store: Store) -> FileCheck:
    """Price the events sent with units among events already read (a file's, kept by
    :func:`check_file`) from the card as recorded now; the problems of their lines."""
    return _check(events, store, None)


def _check(
    items: Iterable[Event | list[Problem]],
    store: Store | None,
    keep: Callable[[Event], None] | None,
) -> FileCheck:
    checked = FileCheck()
    problems = checked.problems
    # The card as recorded when the check starts, read once: each line is priced as
    # it is read, and none is held (the import prices each batch again as it commits).
    pricer = rates.whole_card(store) if store is not None else None
    for item in items:
        checked.seen += 1
        if isinstance(item, Event):
            if keep is not None:
                keep(item)
            if item.units_micro is None:
                continue
            checked.units += 1
            found = pricer.price((item,)) if pricer is not None else []
        else:
            found = item
        problems.extend(found)
        if len(problems) >= MAX_FILE_PROBLEMS:
            break
    problems.sort(key=_position)
    del problems[MAX_FILE_PROBLEMS:]
    return checked


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
    batch = Batch(0, [], [])

    def commit() -> None:
        nonlocal total
        total += record_batch(store, batch, max_events=max_events, received_us=now_us())
        if on_batch:
            on_batch(batch.size)

    for item in read_lines(lines, now_us(), start=1):
        batch.size += 1
        if isinstance(item, Event):
            batch.events.append(item)
        else:
            batch.problems.extend(item)
        if batch.size == max_events:
            commit()
            batch = Batch(0, [], [])
    if batch.size:
        commit()
    return total


def record_events(
    store: Store,
    events: Iterable[Event],
    *,
    max_events: int,
    on_batch: Callable[[int], None] | None = None,
) -> RecordResult:
    """Record events already read and checked (a file's, kept by :func:`check_file`) in
    batches of ``max_events`` through :func:`record_batch`, as :func:`record_lines` does."""
    total = RecordResult()
    remaining = iter(events)
    while batch := list(islice(remaining, max_events)):
        total += record_batch(
            store, Batch(len(batch), batch, []), max_events=max_events, received_us=now_us()
        )
        if on_batch:
            on_batch(len(batch))
    return total
