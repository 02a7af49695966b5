"""Running a Usage Export: membership, the buckets of local time, the rollups, pages.

:func:`open_export` checks the caller and yields the answer's rows as they are
read, in one read transaction (one snapshot), so that the HTTP layer can stream
an answer of any size with flat memory; :func:`run_export` reads them all. The
HTTP endpoint, the dashboard and the command line (through the API) all read
usage through these.

How a bucket is read (docs/decisions/0008-local-time-rollups.md): the UTC days
it covers whole come from the day rollups, the rest of it from the quarter-hour
rollups; a bucket that does not begin and end on a quarter hour (offsets
before 1980) is summed from the events themselves.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Any

from creditmeter import cursors
from creditmeter.buckets import DAY, Bucket, buckets, epoch_seconds
from creditmeter.cursors import Cursor
from creditmeter.directory import Directory, PersonalKey
from creditmeter.errors import Forbidden, InvalidParameter
from creditmeter.export_query import (
    BUCKET_WIDTHS,
    DEFAULT_GROUP_BY,
    DEFAULT_SPAN_DAYS,
    FILTERS,
    FORMATS,
    GROUP_BY,
    MAX_GROUP_BY,
    MAX_LIMIT,
    PARAMETERS,
    ExportQuery,
    Format,
    parse_query,
    query_fingerprint,
)
from creditmeter.rendering import ExportLayout, ExportRow
from creditmeter.store import Store
from creditmeter.store import usage as sql
from creditmeter.zones import zone_named

__all__ = [
    "BUCKET_WIDTHS",
    "DEFAULT_GROUP_BY",
    "DEFAULT_SPAN_DAYS",
    "FILTERS",
    "FORMATS",
    "GROUP_BY",
    "MAX_GROUP_BY",
    "MAX_LIMIT",
    "PARAMETERS",
    "ExportQuery",
    "ExportResult",
    "Format",
    "open_export",
    "parse_query",
    "run_export",
]

_QUARTER = 900
_FIRST_DAY, _LAST_DAY = date.min.toordinal(), date.max.toordinal()
_EPOCH_DAY = date(1970, 1, 1).toordinal()
#: (first instant, grouped values): a row's place in the export's order.
Position = tuple[int, tuple[str | None, ...]]


@dataclass(frozen=True)
class ExportResult:
    """An export's answer: what the document says, its rows, the next page's cursor."""

    layout: ExportLayout
    rows: Iterable[ExportRow] = field(default_factory=list)
    next_page: str | None = None

    @property
    def org_id(self) -> str:
        return self.layout.org_id

    @property
    def start_date(self) -> date:
        return self.layout.start_date

    @property
    def end_date(self) -> date:
        return self.layout.end_date

    @property
    def group_by(self) -> tuple[str, ...]:
        return self.layout.group_by


def run_export(
    store: Store, directory: Directory, key: PersonalKey, query: ExportQuery
) -> ExportResult:
    """Read the usage the query asks for, as the key's user may see it; rows as a list."""
    with open_export(store, directory, key, query) as result:
        return ExportResult(result.layout, list(result.rows), result.next_page)


@contextmanager
def open_export(
    store: Store, directory: Directory, key: PersonalKey, query: ExportQuery
) -> Iterator[ExportResult]:
    """The answer to ``query`` for ``key``'s user, its rows read lazily in one snapshot.

    Every check happens before this yields: a page's cursor must belong to this
    query (edge case 16), then membership is checked, on every call, so a user
    removed from an organization loses access at once (an organization that does
    not exist answers the same as one the user is not in). The rows must be read
    before the block ends.
    """
    org_id = query.org_id or key.org_id
    fingerprint = query_fingerprint(query, org_id)
    if query.page is not None and (query.limit is None or query.page.query != fingerprint):
        raise InvalidParameter(
            "'page' is a cursor for another query: give it with the same orgId, dates, "
            "groupBy, timeZone, bucketWidth, filters and limit as the first page.",
            param="page",
        )
    layout = ExportLayout(
        org_id=org_id,
        start_date=query.start_date,
        end_date=query.end_date,
        group_by=query.group_by,
        time_zone=query.zone_name if query.echoes_time else None,
        bucket_width=query.width if query.echoes_time else None,
        paged=query.limit is not None,
    )
    with store.read() as connection:
        if not directory.is_member(org_id, key.user_id, connection):
            raise Forbidden(
                f"You are not a member of the organization '{org_id}'. Ask one of its admins "
                "to add you, or pass the orgId of an organization you belong to.",
                param="orgId" if query.org_id else None,
            )
        after = (
            (query.page.after_instant_us // 1_000_000, query.page.after_values)
            if query.page
            else None
        )
        placed = _rows(connection, org_id, query, after)
        if query.limit is None:
            yield ExportResult(layout, (row for _, row in placed))
            return
        # One row more than the page: whether a next page exists.
        page = list(islice(placed, query.limit + 1))
        next_page = None
        if len(page) > query.limit:
            del page[query.limit :]
            first, last = page[-1]
            next_page = cursors.encode(
                Cursor(
                    query=fingerprint,
                    default_start=query.start_date if query.defaulted_start else None,
                    default_end=query.end_date if query.defaulted_end else None,
                    after_instant_us=first * 1_000_000,
                    after_values=last.values,
                )
            )
        yield ExportResult(layout, [row for _, row in page], next_page)


def _order(values: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    """The export's order of grouped values: null first, then by UTF-8 bytes (which
    is the order of code points, Python's order of strings)."""
    return tuple((value is not None, value or "") for value in values)


def _after(position: Position | None, first: int, values: tuple[str | None, ...]) -> bool:
    if position is None:
        return True
    return (first, _order(values)) > (position[0], _order(position[1]))


def _rows(
    connection: sql.Connection,
    org_id: str,
    query: ExportQuery,
    after: Position | None,
) -> Iterator[tuple[int, ExportRow]]:
    """The answer's rows in order, each with its bucket's first instant, after ``after``."""
    if query.zone_name == "UTC" and query.width == "day":
        yield from _utc_days(connection, org_id, query, after)
        return
    zone = zone_named(query.zone_name)
    chosen = buckets(zone, query.width, query.start_date, query.end_date)
    if after is not None:
        chosen = tuple(bucket for bucket in chosen if bucket.first >= after[0])
    for chunk in _chunks(chosen, query):
        yield from _read_chunk(connection, org_id, query, chunk, after)


def _utc_days(
    connection: sql.Connection, org_id: str, query: ExportQuery, after: Position | None
) -> Iterator[tuple[int, ExportRow]]:
    """UTC days: each bucket is one stored day, and the rollups answer in the export's order."""
    start = query.start_date
    if after is not None:
        ordinal = after[0] // DAY + _EPOCH_DAY
        start = max(start, date.fromordinal(min(max(ordinal, _FIRST_DAY), _LAST_DAY)))
    found = sql.usage_by_day(
        connection,
        org_id=org_id,
        start=start,
        end=query.end_date,
        group_by=query.group_by,
        filters=query.filters,
    )
    for day, stored, credits, requests, _events in found:
        values = tuple(value or None for value in stored)
        first = epoch_seconds(day)
        if after is not None and not _after(after, first, values):
            continue
        yield first, ExportRow(day, values, credits, requests)


def _chunks(chosen: Sequence[Bucket], query: ExportQuery) -> Iterator[Sequence[Bucket]]:
    """Consecutive buckets read together: a day of hours, else a month or more, so that
    a chunk's rows (the memory a streamed answer holds) stay few."""
    span = DAY if query.width == "hour" else 28 * DAY
    start = 0
    for index, bucket in enumerate(chosen):
        if bucket.spans[-1][1] - chosen[start].first >= span or index == len(chosen) - 1:
            yield chosen[start : index + 1]
            start = index + 1


@dataclass
class _Pieces:
    """A chunk's buckets cut into what each rollup reads: sorted [from, to) ranges,
    in that rollup's units, each with the index of its bucket."""

    days: list[tuple[int, int, int]] = field(default_factory=list)
    quarters: list[tuple[int, int, int]] = field(default_factory=list)
    instants: list[tuple[int, int, int]] = field(default_factory=list)


def _pieces(chunk: Sequence[Bucket]) -> _Pieces:
    pieces = _Pieces()
    for index, bucket in enumerate(chunk):
        for low, high in bucket.spans:
            if low % _QUARTER or high % _QUARTER:
                pieces.instants.append((low * 1_000_000, high * 1_000_000, index))
                continue
            first_day, last_day = -(-low // DAY), high // DAY
            if first_day >= last_day:
                pieces.quarters.append((low // _QUARTER, high // _QUARTER, index))
                continue
            if low < first_day * DAY:
                pieces.quarters.append((low // _QUARTER, first_day * 96, index))
            pieces.days.append((first_day, last_day, index))
            if last_day * DAY < high:
                pieces.quarters.append((last_day * 96, high // _QUARTER, index))
    for ranges in (pieces.days, pieces.quarters, pieces.instants):
        ranges.sort()
    return pieces


def _merged(ranges: Sequence[tuple[int, int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high, _ in ranges:
        if merged and merged[-1][1] == low:
            merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return merged


def _read_chunk(
    connection: sql.Connection,
    org_id: str,
    query: ExportQuery,
    chunk: Sequence[Bucket],
    after: Position | None,
) -> Iterator[tuple[int, ExportRow]]:
    pieces = _pieces(chunk)
    sums: dict[tuple[int, tuple[str, ...]], list[int]] = {}

    def add(ranges: Sequence[tuple[int, int, int]], found: Iterable[Sequence[Any]]) -> None:
        starts = [low for low, _, _ in ranges]
        for unit, values, credits, requests, events in found:
            at = bisect_right(starts, unit) - 1
            if at < 0 or unit >= ranges[at][1]:
                continue  # a unit read with the range but covered by another rollup
            total = sums.setdefault((ranges[at][2], values), [0, 0, 0])
            total[0] += credits
            total[1] += requests
            total[2] += events

    where = {"org_id": org_id, "group_by": query.group_by, "filters": query.filters}
    if pieces.days:
        # Day numbers of the stored days (dates exist only in the years 1-9999).
        first = max(pieces.days[0][0], _FIRST_DAY - _EPOCH_DAY)
        last = min(pieces.days[-1][1] - 1, _LAST_DAY - _EPOCH_DAY)
        if first <= last:
            found = sql.usage_by_day(
                connection,
                start=date.fromordinal(first + _EPOCH_DAY),
                end=date.fromordinal(last + _EPOCH_DAY),
                **where,
            )
            add(pieces.days, ((day.toordinal() - _EPOCH_DAY, *rest) for day, *rest in found))
    if pieces.quarters:
        add(
            pieces.quarters,
            sql.usage_by_quarter(connection, ranges=_merged(pieces.quarters), **where),
        )
    if pieces.instants:
        add(
            pieces.instants,
            sql.usage_by_instant(connection, ranges=_merged(pieces.instants), **where),
        )

    rows = sorted(
        (
            (index, tuple(value or None for value in values), total)
            for (index, values), total in sums.items()
            if total[2] > 0
        ),
        key=lambda item: (item[0], _order(item[1])),
    )
    for index, values, (credits, requests, _events) in rows:
        bucket = chunk[index]
        if not _after(after, bucket.first, values):
            continue
        yield bucket.first, ExportRow(bucket.date, values, credits, requests, bucket.start)
