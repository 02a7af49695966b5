"""Exports by product alone summed whole by the store, exactly (decision 0017).

By product alone (grouped or filtered by nothing else) the buckets of a chunk are
summed by one statement: each UTC day a bucket touches gives the running total
through the bucket's end in that day less the one before its start when the day is
settled with running totals, else its product quarters in the bucket; a bucket
covering a whole settled day too sparse for running totals is read as before, and
merged in the export's order. Every test runs on SQLite and on PostgreSQL: the
store's sums against the events' own (days settled, written to again, voided,
sparse), then whole exports over HTTP against the oracle of
``test_export_time_oracle``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditmeter.settling import settle
from creditmeter.store import Store, open_store, pairs
from creditmeter.store import usage as sql
from creditmeter.store.voids import Author
from creditmeter.voids import VoidRequest, void
from tests import test_export_time_oracle as time_oracle
from tests.conftest import Service
from tests.fleet import Access, make_events, record_raw, running_total_days, set_up_org
from tests.test_export_time_oracle import (
    CHANGES,
    LAST_RANDOM,
    MIDNIGHTS,
    Ask,
    RawEvent,
    raw_events,
    run_case,
    zone,
)

#: Quarter hours of 2026-03-01 00:00 UTC, the fleet's first day (its events span three).
FIRST = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()) // 900
#: (number, from, to): a Kolkata day across two UTC days, the next one, three whole
#: days, one number of two parts in two days, an empty part, one reaching a day with
#: no usage, and one longer than any bucket (read from its quarters as it is).
PARTS = [
    (0, FIRST + 74, FIRST + 96 + 74),
    (1, FIRST + 96 + 74, FIRST + 192 + 74),
    (2, FIRST, FIRST + 288),
    (3, FIRST + 20, FIRST + 21),
    (3, FIRST + 200, FIRST + 230),
    (4, FIRST + 50, FIRST + 50),
    (5, FIRST + 280, FIRST + 400),
    (6, FIRST - 96 * 100 + 3, FIRST + 96 * 2 + 7),
]
EVERY = {number for number, _, _ in PARTS}


@pytest.fixture
def org(new_database: Callable[[], str]) -> Iterator[tuple[Store, Access]]:
    url = new_database()
    access = set_up_org(url)
    store = open_store(url)
    yield store, access
    store.close()


def _summed(
    store: Store,
    org_id: str,
    products: tuple[str, ...] = (),
    parts: Sequence[tuple[int, int, int]] = PARTS,
) -> tuple[list[tuple[int, str, int, int, int]], set[int]]:
    filters = {"product": products} if products else {}
    with store.read() as connection:
        rows, unread = sql.usage_by_running_totals(
            connection, org_id=org_id, parts=parts, filters=filters
        )
    return [(int(n), str(p), int(c), int(r), int(e)) for n, p, c, r, e in rows], unread


def _expected(
    events: list[dict[str, Any]],
    numbers: set[int],
    products: tuple[str, ...] = (),
    parts: Sequence[tuple[int, int, int]] = PARTS,
) -> list[tuple[int, str, int, int, int]]:
    """The events of each number's parts summed per product, here, in the export's order."""
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for event in events:
        if products and event["product"] not in products:
            continue
        instant = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        quarter = int(instant.timestamp()) // 900
        for number, low, high in parts:
            if number in numbers and low <= quarter < high:
                total = sums[(number, event["product"])]
                total[0] += int(Decimal(event["credits"]) * 1_000_000)
                total[1] += event.get("requestCount", 1)
                total[2] += 1
    return sorted(
        ((number, product, *total) for (number, product), total in sums.items()),  # type: ignore[misc]
        key=lambda row: (row[0], row[1].encode()),
    )


def test_parts_across_settled_days_are_their_running_totals_summed(
    org: tuple[Store, Access],
) -> None:
    """Parts inside and across settled days, several parts of one number, an empty
    part, a part reaching a day of no usage: each number's sums per product are its
    events', in the export's order, before settling (the quarters) and after (the
    running totals), all products or some."""
    store, access = org
    events = make_events(access.org_id, 2_400, seed=41)
    record_raw(store, events)
    assert _summed(store, access.org_id) == (_expected(events, EVERY), set())
    settle(store)
    assert running_total_days(store, access.org_id) == {"2026-03-01", "2026-03-02", "2026-03-03"}
    rows, unread = _summed(store, access.org_id)
    assert unread == set()
    assert rows == _expected(events, EVERY)
    assert {row[0] for row in rows} == {0, 1, 2, 3, 5, 6}  # the empty part has no rows
    products = ("parse", "edit")
    assert _summed(store, access.org_id, products) == (_expected(events, EVERY, products), set())


def test_a_day_written_to_after_settling_is_read_from_its_quarters(
    org: tuple[Store, Access],
) -> None:
    """A write to a settled day (and a void) makes its running totals stale: that day
    is read from its quarters, in the same sums as the settled days' running totals,
    until it is settled again."""
    store, access = org
    events = make_events(access.org_id, 2_400, seed=42)
    record_raw(store, events)
    settle(store)
    late = {**events[0], "id": "late", "timestamp": "2026-03-02T12:00:00Z", "credits": 7}
    record_raw(store, [late])
    assert _summed(store, access.org_id) == (_expected([*events, late], EVERY), set())
    void(store, VoidRequest(access.org_id, [events[1]["id"]], "test"), Author("cli"))
    kept = [late, *events[2:], events[0]]
    assert _summed(store, access.org_id, ("parse",)) == (
        _expected(kept, EVERY, ("parse",)),
        set(),
    )
    settle(store)
    assert _summed(store, access.org_id) == (_expected(kept, EVERY), set())


def test_a_whole_sparse_settled_day_is_left_to_the_caller(org: tuple[Store, Access]) -> None:
    """A settled day too sparse for running totals: a number covering it whole is left
    to the caller (its day rollup answers with a row per product); one covering part
    of it is summed from its few quarters."""
    store, access = org
    events = make_events(access.org_id, 30, seed=43)
    record_raw(store, events)
    settle(store)
    assert running_total_days(store, access.org_id) == set()
    parts = [(0, FIRST + 74, FIRST + 96 + 74), (1, FIRST + 96, FIRST + 192), (2, FIRST, FIRST + 5)]
    assert _summed(store, access.org_id, parts=parts) == (
        _expected(events, {0, 2}, parts=parts),
        {1},
    )


def test_days_that_cannot_be_stored_are_read_as_quarters(org: tuple[Store, Access]) -> None:
    """Quarters before year 1 or after year 9999 (a local day at the calendar's edges,
    edge case 7) are read from the quarter rollups: nothing is there."""
    store, access = org
    first = (date.min.toordinal() - date(1970, 1, 1).toordinal()) * 96
    last = (date.max.toordinal() + 1 - date(1970, 1, 1).toordinal()) * 96
    parts = [(0, first - 22, first + 74), (1, last - 22, last + 74)]
    assert _summed(store, access.org_id, parts=parts) == ([], set())


# -- whole exports over HTTP, against the oracle ------------------------------------------

#: Zones whose local days end inside UTC days at every kind of offset: half and
#: three-quarter hours east, half an hour west, whole hours both ways, changes of an
#: hour and of half an hour.
ZONES = [
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Eucla",
    "America/St_Johns",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Etc/GMT+5",
    "UTC",
]
ANCHORS = CHANGES + MIDNIGHTS
PRODUCTS = ["parse", "Parse", "extract", "a,b", "\u00e9dit"]


@st.composite
def product_asks(draw: st.DrawFn, anchors: Sequence[datetime]) -> Ask:
    """An export by product alone: a zone, a width, dates around the events, maybe
    some products, a page size."""
    zone_name = draw(st.sampled_from(ZONES))
    width = draw(st.sampled_from([None, "day", "hour", "month"]))
    params: list[tuple[str, str]] = [("timeZone", zone_name)]
    if width is not None:
        params.append(("bucketWidth", width))
    around = draw(st.sampled_from(anchors)).astimezone(zone(zone_name)).date()
    start = around - timedelta(days=draw(st.integers(0, 2)))
    longest = {"hour": 3, "day": 40, "month": 70}[width or "day"]
    params.append(("startDate", start.isoformat()))
    params.append(("endDate", (start + timedelta(days=draw(st.integers(0, longest)))).isoformat()))
    if draw(st.booleans()):
        params.append(("groupBy", "product"))
    if draw(st.integers(0, 3)) == 0:
        chosen = draw(st.lists(st.sampled_from([*PRODUCTS, "no-such"]), min_size=1, max_size=3))
        params.extend(("product", value) for value in chosen)
    limit = draw(st.one_of(st.integers(1, 4), st.integers(1, 40), st.just(10_000)))
    return Ask(draw(st.permutations(params)), limit, draw(st.permutations(params)))


@st.composite
def product_cases(
    draw: st.DrawFn,
) -> tuple[list[RawEvent], int, list[Ask], int | None, int]:
    """Events around an anchor and up to three instants of the weeks after it (so that
    a month or 40 days hold several days of usage), recorded in two batches and settled
    after the first (the second then changes some settled days again) or after both;
    and how sparse a settled day may be and still get running totals (every day, some
    or none: ``pairs._RUNNING_TOTALS_MOST``)."""
    anchor = draw(st.sampled_from(ANCHORS))
    later = st.integers(1, 35 * 96).map(lambda quarters: anchor + timedelta(minutes=15 * quarters))
    chosen = [anchor, *draw(st.lists(later, max_size=3, unique=True))]
    chosen = [instant for instant in chosen if instant < LAST_RANDOM]
    events = draw(raw_events(chosen))
    split = draw(st.integers(0, len(events)))
    questions = draw(st.lists(product_asks(chosen), min_size=1, max_size=3))
    settled_after = draw(st.sampled_from([0, 1]))
    return events, split, questions, settled_after, draw(st.sampled_from([10**6, 40, 1]))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=product_cases())
def test_exports_by_product_from_running_totals_match_the_oracle(
    service: Service, case: tuple[list[RawEvent], int, list[Ask], int | None, int]
) -> None:
    """The buckets of settled days with running totals are summed from them, with the
    quarters of days the second batch changed again; a bucket covering a settled day
    too sparse for running totals is read from its day rollup and merged with the
    others in the answer's order. JSON, CSV and pages all agree with the oracle."""
    *recorded, most = case

    def settling(store: Store) -> Any:
        with patch.object(pairs, "_RUNNING_TOTALS_MOST", most):
            return settle(store)

    # run_case settles through this module's name for it, giving every day its
    # running totals; here only the days dense enough for ``most``.
    with patch.object(time_oracle, "settle", settling):
        run_case(service, *recorded)
