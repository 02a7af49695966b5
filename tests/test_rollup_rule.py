"""One rollup rule, two stores.

The store states once what a batch of new events adds to the organization-day
totals and the quarter-hour rollups (full and by product), and once how settling a
day builds its per-dimension daily rollups from them; SQLite and PostgreSQL run
that same SQL. These properties send the same random batches to
a SQLite store and a PostgreSQL store (duplicates within and across batches,
re-sent batches, days from 0001 to 9999 and around 1970, dimensions present and
absent) and demand that both hold the same four tables, each equal to a GROUP
BY over the kept events computed here, in Python, without the store's help.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from creditmeter.credits import MAX_TOTAL_MICRO
from creditmeter.errors import InvalidEvents
from creditmeter.events import Event
from creditmeter.ingest import record
from creditmeter.settling import settle
from creditmeter.store import Store, open_store
from creditmeter.store.schema import (
    usage_daily_totals,
    usage_dimension_rollups,
    usage_product_quarter_rollups,
    usage_quarter_rollups,
)
from tests.conftest import STORES

US_PER_DAY = 86_400_000_000
EPOCH = datetime(1970, 1, 1)
FIRST_US = int((datetime(1, 1, 1) - EPOCH).total_seconds()) * 1_000_000
LAST_US = int((datetime(9999, 12, 31) - EPOCH).total_seconds()) * 1_000_000 + US_PER_DAY - 1
# The oracle's own list, in the schema's column order: it leans on nothing of the store.
DIMENSIONS = ("product", "feature", "api_key", "file_type")


@pytest.fixture(scope="module")
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Store]]:
    """One store of each kind under test, each on its own fresh database (with
    CREDITMETER_TEST_STORES naming one, only the comparison with Python is left)."""
    opened = []
    for kind in STORES:
        if kind == "postgresql":
            url = request.getfixturevalue("postgres_server").create_database()
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('rule') / 'creditmeter.db'}"
        opened.append(open_store(url))
    yield opened
    for store in opened:
        store.close()


_instants = st.one_of(
    st.integers(FIRST_US, LAST_US),
    st.integers(-3 * US_PER_DAY, 3 * US_PER_DAY),
    st.sampled_from([FIRST_US, LAST_US, -US_PER_DAY - 1, -US_PER_DAY, -1, 0, US_PER_DAY - 1]),
)
_values = st.one_of(st.none(), st.sampled_from(["a", "b", "B", "é", "😀", "x" * 128]))


@st.composite
def _events(draw: st.DrawFn, credits: st.SearchStrategy[int]) -> Event:
    return Event(
        org_id=draw(st.sampled_from(["org_a", "org_b", "org_é"])),
        id=draw(st.sampled_from([f"ev{n}" for n in range(12)])),
        timestamp_us=draw(_instants),
        product=draw(st.sampled_from(["parse", "extract", "Édit"])),
        feature=draw(_values),
        api_key=draw(_values),
        file_type=draw(_values),
        credits_micro=draw(credits),
        request_count=draw(st.integers(0, 1000)),
    )


#: An event's credits as the contract allows them: up to a billion.
_CREDITS = st.integers(0, 10**15)
#: Credits no event may have, that take a day's total past the limit, or 64 bits.
_HUGE_CREDITS = st.sampled_from(
    [0, 1, MAX_TOTAL_MICRO // 3, MAX_TOTAL_MICRO // 2, MAX_TOTAL_MICRO, 2**63 - 1]
)


@st.composite
def _sendings(draw: st.DrawFn, credits: st.SearchStrategy[int] = _CREDITS) -> list[list[Event]]:
    """Batches in the order they are sent: some sent again, whole, later."""
    events = st.lists(_events(credits), min_size=1, max_size=15)
    batches = draw(st.lists(events, min_size=1, max_size=4))
    again = draw(st.lists(st.integers(0, len(batches) - 1), max_size=2))
    return batches + [batches[n] for n in again]


def _day(instant_us: int) -> date:
    return (EPOCH + timedelta(microseconds=instant_us)).date()


def _kept(sent: list[list[Event]]) -> tuple[dict[tuple[str, str], Event], list[bool]]:
    """The events kept, the first sent of each (org, id), and which batches were
    refused: those that take an organization's day past the limit."""
    kept: dict[tuple[str, str], Event] = {}
    totals: dict[tuple[str, date], int] = defaultdict(int)
    refused = []
    for batch in sent:
        new: dict[tuple[str, str], Event] = {}
        for event in batch:
            if (event.org_id, event.id) not in kept:
                new.setdefault((event.org_id, event.id), event)
        added = defaultdict(int, totals)
        for event in new.values():
            added[(event.org_id, _day(event.timestamp_us))] += event.credits_micro
        refused.append(any(total > MAX_TOTAL_MICRO for total in added.values()))
        if not refused[-1]:
            kept.update(new)
            totals.update(added)
    return kept, refused


def _expected(sent: list[list[Event]], prefix: str) -> dict[str, set[tuple[Any, ...]]]:
    """The rollup tables, summed from the events kept (totals count no events)."""
    kept, _ = _kept(sent)
    return summed(kept.values(), prefix)


def summed(events: Iterable[Event], prefix: str) -> dict[str, set[tuple[Any, ...]]]:
    """The rollup tables holding exactly ``events`` (their organizations prefixed)."""
    sums: dict[str, dict[tuple[Any, ...], list[int]]] = {
        name: defaultdict(lambda: [0, 0, 0])
        for name in ("totals", "dimensions", "quarters", "product quarters")
    }
    for event in events:
        org, day = prefix + event.org_id, _day(event.timestamp_us)
        # Quarter hours since the epoch, rounded down (Python's // floors).
        quarter = event.timestamp_us // 900_000_000
        values = [event.product, event.feature, event.api_key, event.file_type]
        values = [value if value is not None else "" for value in values]
        keys = [
            ("totals", (org, day)),
            ("quarters", (org, quarter, *values)),
            ("product quarters", (org, quarter, event.product)),
        ]
        keys += [
            ("dimensions", (org, dimension, day, value))
            for dimension, value in zip(DIMENSIONS, values, strict=True)
        ]
        for name, key in keys:
            sums[name][key][0] += event.credits_micro
            sums[name][key][1] += event.request_count
            sums[name][key][2] += 1
    return {
        name: {
            (*key, *(amounts[:2] if name == "totals" else amounts))
            for key, amounts in table.items()
        }
        for name, table in sums.items()
    }


def _stored(store: Store, prefix: str) -> dict[str, set[tuple[Any, ...]]]:
    tables = {
        "totals": usage_daily_totals,
        "dimensions": usage_dimension_rollups,
        "quarters": usage_quarter_rollups,
        "product quarters": usage_product_quarter_rollups,
    }
    # The totals' sums; their settling bookkeeping (when each day changed) is not a sum.
    bookkeeping = {"changes", "changed_at_us", "pairs_changes"}
    settle(store)  # builds the per-dimension rollups (decision 0016)
    with store.read() as connection:
        return {
            name: {
                tuple(row)
                for row in connection.execute(
                    select(*(c for c in table.c if c.name not in bookkeeping)).where(
                        table.c.org_id.startswith(prefix, autoescape=True)
                    )
                )
            }
            for name, table in tables.items()
        }


def _prefixed(batch: list[Event], prefix: str) -> list[Event]:
    return [replace(event, org_id=prefix + event.org_id, index=n) for n, event in enumerate(batch)]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sent=_sendings())
def test_random_batches_give_the_same_rollups_on_every_store_as_a_group_by_of_the_events(
    stores: list[Store], sent: list[list[Event]]
) -> None:
    prefix = f"{uuid.uuid4().hex[:8]}_"
    answers = [[_outcome(store, _prefixed(batch, prefix)) for batch in sent] for store in stores]
    tables = [_stored(store, prefix) for store in stores]
    assert all(answer == answers[0] for answer in answers)
    assert all(table == tables[0] for table in tables)
    assert tables[0] == _expected(sent, prefix)


def _outcome(store: Store, batch: list[Event]) -> Any:
    try:
        return record(store, batch, received_us=0).as_dict()
    except InvalidEvents as refusal:
        return [problem.as_dict() for problem in refusal.problems]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sent=_sendings(_HUGE_CREDITS))
def test_batches_past_the_daily_limit_are_refused_alike_on_every_store(
    stores: list[Store], sent: list[list[Event]]
) -> None:
    """A sum past the limit or past 64 bits (in the batch itself or added to a
    stored total) fails differently in each store; each must refuse the batch
    whole, and the same batches."""
    prefix = f"{uuid.uuid4().hex[:8]}_"
    answers = [[_outcome(store, _prefixed(batch, prefix)) for batch in sent] for store in stores]
    tables = [_stored(store, prefix) for store in stores]
    assert all(answer == answers[0] for answer in answers)
    assert [isinstance(answer, list) for answer in answers[0]] == _kept(sent)[1]
    assert all(table == tables[0] for table in tables)
    assert tables[0] == _expected(sent, prefix)
