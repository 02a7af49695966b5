"""Running a Usage Export: membership, the buckets of local time, the rollups, pages.

:func:`open_export` checks the caller and yields the answer's rows as they are
read, in one read transaction (one snapshot), so that the HTTP layer can stream
an answer of any size with flat memory; :func:`run_export` reads them all. The
HTTP endpoint, the dashboard and the command line (through the API) all read
usage through these.

How a bucket is read (docs/decisions/0008-local-time-rollups.md): the UTC days
it covers whole come from the day rollups, the rest of it from the quarter-hour
rollups (the product's own when nothing else is grouped or filtered,
docs/decisions/0009-product-quarters.md); a bucket that does not begin and end
on a quarter hour (offsets before 1980) is summed from the events themselves.
By product alone, a bucket is summed whole by one statement for a chunk of
buckets instead: the products' running totals of its settled days, the product's
quarters of the others (docs/decisions/0017-local-buckets-from-running-totals.md).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from heapq import merge
from itertools import islice
from operator import itemgetter
from typing import Any, Protocol

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
_PER_DAY = sql.QUARTERS_PER_DAY
_FIRST_DAY, _LAST_DAY = date.min.toordinal(), date.max.toordinal()
_EPOCH_DAY = date(1970, 1, 1).toordinal()
#: (first instant, grouped values): a row's place in the export's order.
Position = tuple[int, tuple[str | None, ...]]
#: An ExportRow of its five fields, in order, made without the named tuple's own
#: ``__new__`` (a Python function: twice the time, on every row of the seed's request).
_export_row: Callable[[tuple[Any, ...]], ExportRow] = partial(tuple.__new__, ExportRow)


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
    paged = query.limit is not None or query.page is not None
    fingerprint = query_fingerprint(query, org_id) if paged else ""
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
            yield ExportResult(layout, map(itemgetter(1), placed))
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
    # Returned, not yielded from: each row passes through one generator fewer.
    if query.zone_name == "UTC" and query.width == "day":
        return _utc_days(connection, org_id, query, after)
    return _local_buckets(connection, org_id, query, after)


def _local_buckets(
    connection: sql.Connection,
    org_id: str,
    query: ExportQuery,
    after: Position | None,
) -> Iterator[tuple[int, ExportRow]]:
    """:func:`_rows` of local buckets, or of UTC hours or months."""
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
    # A few weeks at a time, so that a streamed answer holds few of its rows at once:
    # a dimension's own rollup has a row per day and value, the full one a row per
    # combination (the default 31 days of one dimension stay one query).
    span = 31 if sql.one_dimension(query.group_by, query.filters) else 7
    while start <= query.end_date:
        stop = date.fromordinal(min(start.toordinal() + span - 1, query.end_date.toordinal()))
        found = sql.usage_by_day(
            connection,
            org_id=org_id,
            start=start,
            end=stop,
            group_by=query.group_by,
            filters=query.filters,
        )
        last_day, first = None, 0
        for day, stored, credits, requests, _events in found:
            # The stored values are the answer's when each has one (most rows); ''
            # (no value) is null.
            values = stored if all(stored) else tuple(v or None for v in stored)
            if day != last_day:  # rows come day by day: one conversion per day
                last_day, first = day, epoch_seconds(day)
            if after is not None and not _after(after, first, values):
                continue
            yield first, _export_row((day, values, credits, requests, None))
        if stop == query.end_date:
            return
        start = stop + timedelta(days=1)


def _chunks(chosen: Sequence[Bucket], query: ExportQuery) -> Iterator[Sequence[Bucket]]:
    """Consecutive buckets read together, so that a chunk's rows (the memory a streamed
    answer holds) stay few: a day of hours; else a month of one dimension's values
    (the default 30 days in one chunk), a week of combinations (as for UTC days), or
    one month bucket."""
    if query.width == "hour":
        span = DAY
    else:
        span = (31 if sql.one_dimension(query.group_by, query.filters) else 7) * DAY
    start = 0
    for index, bucket in enumerate(chosen):
        if bucket.spans[-1][1] - chosen[start].first >= span or index == len(chosen) - 1:
            yield chosen[start : index + 1]
            start = index + 1


#: (from, to, bucket index, sign): part of a bucket, in one source's units.
Part = tuple[int, int, int, int]
#: What reading one quarter hour of the full rollups costs, against one day's row
#: of a dimension's own rollup: a quarter holds every combination used in it.
_QUARTER_COST = 16


@dataclass
class _Plan:
    """A chunk's buckets cut into what each source reads, as signed parts.

    ``days`` are UTC day numbers (of the grouped dimension's own rollup when one
    dimension is grouped and no other filtered, else of the full rollups summed
    by day); ``quarters`` are quarter numbers of the quarter rollups (see
    ``sql.usage_by_quarter``); ``instants`` microseconds of the events.
    """

    days: list[Part] = field(default_factory=list)
    quarters: list[Part] = field(default_factory=list)
    instants: list[Part] = field(default_factory=list)


def _plan(chunk: Sequence[Bucket], one_dimension: bool) -> _Plan:
    plan = _Plan()
    for index, bucket in enumerate(chunk):
        for low, high in bucket.spans:
            if low % _QUARTER or high % _QUARTER:
                plan.instants.append((low * 1_000_000, high * 1_000_000, index, 1))
            elif one_dimension:
                _plan_span(plan, low // _QUARTER, high // _QUARTER, index)
            else:
                # The full rollups: whole UTC days summed by the store, quarters at the ends.
                first, last = -(-low // DAY), high // DAY
                if first >= last:
                    plan.quarters.append((low // _QUARTER, high // _QUARTER, index, 1))
                    continue
                if low < first * DAY:
                    plan.quarters.append((low // _QUARTER, first * _PER_DAY, index, 1))
                plan.days.append((first, last, index, 1))
                if last * DAY < high:
                    plan.quarters.append((last * _PER_DAY, high // _QUARTER, index, 1))
    return plan


def _plan_span(plan: _Plan, low: int, high: int, index: int) -> None:
    """Quarters [low, high) of one dimension, read as cheaply as the rollups allow:
    UTC days whole from the dimension's own rollup, then at each end either the
    quarters inside the span added, or the day around the end taken whole and the
    quarters outside the span subtracted (a local day in Berlin is its UTC day,
    minus 23:00-24:00 of it, plus 23:00-24:00 of the day before). The event counts
    keep a subtraction exact."""
    if high - low < _PER_DAY // 2:
        # Under half a day (an hour): a day taken whole and most of it subtracted
        # never reads less.
        plan.quarters.append((low, high, index, 1))
        return
    options: list[tuple[int, list[tuple[str, int, int, int]]]] = [
        (_QUARTER_COST * (high - low), [("quarters", low, high, 1)])
    ]
    inner_first, outer_first = -(-low // _PER_DAY), low // _PER_DAY
    inner_last, outer_last = high // _PER_DAY, -(-high // _PER_DAY)
    for first, start_sign in ((inner_first, 1), (outer_first, -1)):
        for last, end_sign in ((inner_last, 1), (outer_last, -1)):
            if first >= last:
                continue
            parts = [("days", first, last, 1)]
            if start_sign > 0 and low < first * _PER_DAY:
                parts.append(("quarters", low, first * _PER_DAY, 1))
            elif start_sign < 0 and first * _PER_DAY < low:
                parts.append(("quarters", first * _PER_DAY, low, -1))
            if end_sign > 0 and last * _PER_DAY < high:
                parts.append(("quarters", last * _PER_DAY, high, 1))
            elif end_sign < 0 and high < last * _PER_DAY:
                parts.append(("quarters", high, last * _PER_DAY, -1))
            cost = (last - first) + sum(
                _QUARTER_COST * (b - a) for kind, a, b, _ in parts if kind == "quarters"
            )
            options.append((cost, parts))
    _, chosen = min(options, key=lambda option: option[0])
    for kind, a, b, sign in chosen:
        (plan.days if kind == "days" else plan.quarters).append((a, b, index, sign))


def _merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with overlapping and touching ones joined."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


class _Index:
    """Which (bucket, sign) parts a unit read from one source belongs to."""

    def __init__(self, parts: Sequence[Part]) -> None:
        edges = sorted({edge for low, high, _, _ in parts for edge in (low, high)})
        self.starts = edges[:-1]
        self.ends = edges[1:]
        self.owners: list[list[tuple[int, int]]] = [[] for _ in self.starts]
        for low, high, bucket, sign in parts:
            for at in range(bisect_right(self.starts, low) - 1, len(self.starts)):
                if self.starts[at] >= high:
                    break
                self.owners[at].append((bucket, sign))

    def owners_of(self, unit: int) -> list[tuple[int, int]]:
        at = bisect_right(self.starts, unit) - 1
        if at < 0 or unit >= self.ends[at]:
            return []
        return self.owners[at]


class _Owners(Protocol):
    """Number (a day number, or a range's index) → the (bucket, sign) parts it adds to."""

    def __getitem__(self, number: int, /) -> Sequence[tuple[int, int]]: ...


class _OwnersByUnit:
    """``owners[unit]``: the (bucket, sign) parts a unit (a day number) belongs to."""

    def __init__(self, index: _Index) -> None:
        self.index = index

    def __getitem__(self, unit: int) -> list[tuple[int, int]]:
        return self.index.owners_of(unit)


def _read_chunk(
    connection: sql.Connection,
    org_id: str,
    query: ExportQuery,
    chunk: Sequence[Bucket],
    after: Position | None,
) -> Iterator[tuple[int, ExportRow]]:
    if sql.product_only(query.group_by, query.filters):
        yield from _by_running_totals(connection, org_id, query, chunk, after)
    else:
        yield from _read_planned(connection, org_id, query, chunk, after)


def _by_running_totals(
    connection: sql.Connection,
    org_id: str,
    query: ExportQuery,
    chunk: Sequence[Bucket],
    after: Position | None,
) -> Iterator[tuple[int, ExportRow]]:
    """By product alone: the buckets of whole quarter hours are summed by the store,
    in the export's order, from the running totals of their settled days and the
    quarters of the others (docs/decisions/0017-local-buckets-from-running-totals.md);
    those it leaves (covering a whole sparse day) and those off the quarter hour are
    planned (:func:`_read_planned`), and the two merged."""
    parts = []
    left: list[int] = []
    for index, bucket in enumerate(chunk):
        if any(low % _QUARTER or high % _QUARTER for low, high in bucket.spans):
            left.append(index)
        else:
            parts += [(index, low // _QUARTER, high // _QUARTER) for low, high in bucket.spans]
    found, unread = sql.usage_by_running_totals(
        connection, org_id=org_id, parts=parts, filters=query.filters
    )
    summed = _summed_rows(chunk, found, after)
    if not (left or unread):
        yield from summed
        return
    others = sorted({*left, *unread})
    planned = _read_planned(connection, org_id, query, [chunk[n] for n in others], after)
    yield from merge(summed, planned, key=lambda row: (row[0], _order(row[1].values)))


def _summed_rows(
    chunk: Sequence[Bucket], found: Iterable[Sequence[Any]], after: Position | None
) -> list[tuple[int, ExportRow]]:
    """Rows of the store's (bucket index in ``chunk``, product, credits, requests, events)."""
    rows = [
        (bucket.first, ExportRow(bucket.date, (product or None,), credits, requests, bucket.start))
        for index, product, credits, requests, _events in found
        for bucket in (chunk[index],)
    ]
    if after is not None:
        rows = [row for row in rows if _after(after, row[0], row[1].values)]
    return rows


def _read_planned(
    connection: sql.Connection,
    org_id: str,
    query: ExportQuery,
    chunk: Sequence[Bucket],
    after: Position | None,
) -> Iterator[tuple[int, ExportRow]]:
    """The chunk's buckets cut into parts of the sources (:func:`_plan`), each source
    read once and its rows added to the buckets with their signs."""
    one_dimension = sql.one_dimension(query.group_by, query.filters)
    plan = _plan(chunk, one_dimension)
    sums: dict[tuple[int, tuple[str, ...]], list[int]] = {}

    def add_to(owners: _Owners, found: Iterable[Any]) -> None:
        """Add rows (a unit or range number, values, amounts) to the buckets that
        ``owners`` lists for that number, with their signs."""
        for number, values, credits, requests, events in found:
            for bucket, sign in owners[number]:
                total = sums.get((bucket, values))
                if total is None:
                    total = sums[(bucket, values)] = [0, 0, 0]
                total[0] += sign * credits
                total[1] += sign * requests
                total[2] += sign * events

    def add_ranges(parts: Sequence[Part], read: Callable[[list[tuple[int, int]]], Any]) -> None:
        # Read each stretch that one set of (bucket, sign) owns, summed by the store.
        index = _Index(parts)
        owned = [n for n, owners in enumerate(index.owners) if owners]
        ranges = [(index.starts[n], index.ends[n]) for n in owned]
        add_to([index.owners[n] for n in owned], read(ranges))

    where = {"org_id": org_id, "group_by": query.group_by, "filters": query.filters}
    if plan.days:
        # Day numbers of the stored days (dates exist only in the years 1-9999).
        first = max(min(low for low, _, _, _ in plan.days), _FIRST_DAY - _EPOCH_DAY)
        last = min(max(high for _, high, _, _ in plan.days) - 1, _LAST_DAY - _EPOCH_DAY)
        if first <= last:
            found = sql.usage_by_day(
                connection,
                start=date.fromordinal(first + _EPOCH_DAY),
                end=date.fromordinal(last + _EPOCH_DAY),
                full=not one_dimension,
                **where,
            )
            days = _Index(plan.days)
            add_to(
                _OwnersByUnit(days),
                ((day.toordinal() - _EPOCH_DAY, *rest) for day, *rest in found),
            )
    if plan.quarters:
        add_ranges(
            plan.quarters, lambda ranges: sql.usage_by_quarter(connection, ranges=ranges, **where)
        )
    if plan.instants:
        add_ranges(
            plan.instants, lambda ranges: sql.usage_by_instant(connection, ranges=ranges, **where)
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
