"""Settled days: per-dimension and pair rollups built off the ingest path, read only
while current.

Every test runs on SQLite and on PostgreSQL. The answers with settled rollups are
compared with the full quarter rollups' answer (``pairs=False``) and with the events
summed here in Python; days are written to, voided and emptied after they were settled, by
one writer and by several at once while a settling pass runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import patch

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from creditmeter.cli import app
from creditmeter.ingest import now_us
from creditmeter.settling import settle
from creditmeter.store import Store, open_store, pairs
from creditmeter.store import usage as sql
from creditmeter.store.database import _alembic_config, normalise_url
from creditmeter.store.dialects import dialect_of
from creditmeter.store.voids import Author
from creditmeter.voids import VoidRequest, void
from tests.conftest import running_service
from tests.fleet import Access, make_events, record_raw, running_total_days, set_up_org

FIRST, LAST = date(2026, 3, 1), date(2026, 3, 4)
#: Questions the pair rollups answer: the product and one other dimension, grouped
#: or filtered, in either order; and one they do not (two other dimensions).
PAIRED_QUESTIONS: list[tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = [
    (("product", "file_type"), {}),
    (("file_type", "product"), {"product": ("parse",)}),
    (("product",), {"file_type": ("pdf", ""), "product": ("parse", "extract")}),
    (("file_type",), {"product": ("split",)}),
    ((), {"file_type": ("pdf",)}),
    (("product", "feature"), {}),
    (("api_key", "product"), {}),
]
UNPAIRED = (("file_type", "feature"), {})
#: Questions each dimension's own rollup answers (and, on a day not settled, the
#: product's own quarter rollup or the full one).
ONE_DIMENSION: list[tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = [
    (("product",), {}),
    (("product",), {"product": ("parse", "split")}),
    (("api_key",), {}),
    (("feature",), {"feature": ("ocr", "")}),
    (("file_type",), {}),
]


@dataclass
class Org:
    """An organization with a member, and a store of its database."""

    url: str
    access: Access
    store: Store


@pytest.fixture
def org(new_database: Callable[[], str]) -> Iterator[Org]:
    url = new_database()
    access = set_up_org(url)
    store = open_store(url)
    yield Org(url, access, store)
    store.close()


def _with_keys(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fleet's events with a feature and an API key on most."""
    for n, event in enumerate(events):
        if n % 5:
            event["feature"] = ("ocr", "tables", "forms")[n % 3]
        if n % 7:
            event["apiKey"] = f"key_{n % 4}"
    return events


def _answers(store: Store, org_id: str, *, pairs: bool) -> list[Any]:
    """Every question's rows: from the settled rollups where they are current
    (``pairs``), else from the full quarter rollups alone."""
    with store.read() as connection:
        return [
            sql.usage_by_day(
                connection,
                org_id=org_id,
                start=FIRST,
                end=LAST,
                group_by=group_by,
                filters=filters,
                pairs=pairs,
                full=not pairs,
            )
            for group_by, filters in [*PAIRED_QUESTIONS, UNPAIRED, *ONE_DIMENSION]
        ]


#: Each dimension's field in an event as sent.
_FIELDS = {"product": "product", "feature": "feature", "api_key": "apiKey", "file_type": "fileType"}


def _summed_by(
    events: list[dict[str, Any]], keys: Callable[[dict[str, Any], date], list[tuple[Any, ...]]]
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """(credits_micro, request_count, event_count) of the events, summed here under
    each of the ``keys`` of each event (given the event and its UTC day)."""
    sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for event in events:
        for key in keys(event, date.fromisoformat(event["timestamp"][:10])):
            total = sums[key]
            total[0] += int(Decimal(event["credits"]) * 1_000_000)
            total[1] += event.get("requestCount", 1)
            total[2] += 1
    return {key: (a, b, c) for key, (a, b, c) in sums.items()}


def _summed(events: list[dict[str, Any]]) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """The pair rollups the events make, summed here: (dimension, day, product, value)."""
    return _summed_by(
        events,
        lambda event, day: [
            (dimension, day, event["product"], event.get(_FIELDS[dimension]) or "")
            for dimension in sql.PAIRED
        ],
    )


def _summed_dimensions(
    events: list[dict[str, Any]],
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """The per-dimension rollups the events make, summed here: (dimension, day, value)."""
    return _summed_by(
        events,
        lambda event, day: [
            (dimension, day, event.get(name) or "") for dimension, name in _FIELDS.items()
        ],
    )


def _stored(
    store: Store, org_id: str, table: str, keys: tuple[str, ...]
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """A settled rollup's rows of the organization: (dimension, day, *keys) → amounts."""
    with store.read() as connection:
        rows = connection.exec_driver_sql(
            f"SELECT dimension, day, {', '.join(keys)}, credits_micro, request_count, "
            f"event_count FROM {table} WHERE org_id = {dialect_of(connection).mark}",
            (org_id,),
        ).all()
    return {
        (dimension, day if isinstance(day, date) else date.fromisoformat(day), *values): (
            int(credits),
            int(requests),
            int(events),
        )
        for dimension, day, *values, credits, requests, events in rows
    }


def _stored_dimensions(store: Store, org_id: str) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    return _stored(store, org_id, "usage_dimension_rollups", ("value",))


def _stored_pairs(store: Store, org_id: str) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    return _stored(store, org_id, "usage_pair_rollups", ("product", "value"))


def _settled_days(store: Store, org_id: str) -> dict[date, bool]:
    with store.read() as connection:
        rows = connection.exec_driver_sql(
            "SELECT day, changes = pairs_changes FROM usage_daily_totals WHERE org_id = "
            + dialect_of(connection).mark,
            (org_id,),
        ).all()
    return {
        (day if isinstance(day, date) else date.fromisoformat(day)): bool(current)
        for day, current in rows
    }


def test_a_settled_day_answers_from_its_pairs_what_its_quarters_answer(
    org: Org,
) -> None:
    store, access = org.store, org.access
    events = _with_keys(make_events(access.org_id, 600, seed=21))
    record_raw(store, events)
    assert set(_settled_days(store, access.org_id).values()) == {False}
    # Ingest writes none of what settling builds.
    assert _stored_pairs(store, access.org_id) == _stored_dimensions(store, access.org_id) == {}
    before = _answers(store, access.org_id, pairs=False)
    done = settle(store)
    assert done.days == len(_settled_days(store, access.org_id)) >= 3
    assert set(_settled_days(store, access.org_id).values()) == {True}
    assert _stored_pairs(store, access.org_id) == _summed(events)
    assert _stored_dimensions(store, access.org_id) == _summed_dimensions(events)
    assert done.pair_rows == len(_summed(events))
    assert _answers(store, access.org_id, pairs=True) == before
    assert all(before)
    assert settle(store).days == 0  # nothing left to settle


def test_a_write_to_a_settled_day_is_read_from_its_quarters_until_settled_again(
    org: Org,
) -> None:
    store, access = org.store, org.access
    events = _with_keys(make_events(access.org_id, 400, seed=22))
    record_raw(store, events)
    settle(store)
    settled_answer = _answers(store, access.org_id, pairs=True)
    # More usage on the settled days; its pairs are still stored, and stale.
    more = _with_keys(make_events(access.org_id, 200, seed=23))
    for event in more:
        event["id"] += "-more"
    record_raw(store, more)
    assert set(_settled_days(store, access.org_id).values()) == {False}
    assert _stored_pairs(store, access.org_id) == _summed(events)
    assert _stored_dimensions(store, access.org_id) == _summed_dimensions(events)
    now = _answers(store, access.org_id, pairs=True)
    assert now == _answers(store, access.org_id, pairs=False)
    assert now != settled_answer
    settle(store)
    assert _stored_pairs(store, access.org_id) == _summed(events + more)
    assert _stored_dimensions(store, access.org_id) == _summed_dimensions(events + more)
    assert _answers(store, access.org_id, pairs=True) == now


def test_some_days_settled_and_some_not_give_one_answer_in_day_order(
    org: Org,
) -> None:
    """A settled day between unsettled ones, and the reverse: each part is read from
    its own source, the rows still in the export's order."""
    store, access = org.store, org.access
    events = _with_keys(make_events(access.org_id, 600, seed=24))
    record_raw(store, events)
    settle(store)
    # Unsettle 2026-03-02 alone, then 03-01 and 03-03 around a settled 03-02.
    for day, seed in (("2026-03-02", 25), ("2026-03-01", 26), ("2026-03-03", 27)):
        extra = _with_keys(make_events(access.org_id, 40, seed=seed))
        for event in extra:
            event["id"] += f"-{day}"
            event["timestamp"] = day + event["timestamp"][10:]
        record_raw(store, extra)
        if day == "2026-03-02":
            assert _settled_days(store, access.org_id)[date(2026, 3, 2)] is False
            assert _answers(store, access.org_id, pairs=True) == _answers(
                store, access.org_id, pairs=False
            )
            settle(store)
    states = _settled_days(store, access.org_id)
    assert states[date(2026, 3, 2)] and not states[date(2026, 3, 1)]
    assert not states[date(2026, 3, 3)]
    assert _answers(store, access.org_id, pairs=True) == _answers(store, access.org_id, pairs=False)


def test_a_void_unsettles_its_day_and_a_day_voided_empty_loses_its_settled_rollups(
    org: Org,
) -> None:
    store, access = org.store, org.access
    events = _with_keys(make_events(access.org_id, 300, seed=28))
    lonely = {
        "id": "lonely",
        "orgId": access.org_id,
        "timestamp": "2026-03-04T05:00:00Z",
        "product": "parse",
        "apiKey": "key_9",
        "credits": Decimal("2.5"),
    }
    record_raw(store, [*events, lonely])
    settle(store)
    assert _settled_days(store, access.org_id)[date(2026, 3, 4)]
    # One event out of a busy day, the only event of another.
    void(store, VoidRequest(access.org_id, [events[0]["id"], "lonely"], "test"), Author("cli"))
    states = _settled_days(store, access.org_id)
    assert date(2026, 3, 4) not in states  # its total went, and its pairs with it
    assert not states[date.fromisoformat(events[0]["timestamp"][:10])]
    kept = events[1:]
    assert {key[1] for key in _stored_pairs(store, access.org_id)} == {
        date.fromisoformat(event["timestamp"][:10]) for event in kept
    }
    assert {key[1] for key in _stored_dimensions(store, access.org_id)} == {
        date.fromisoformat(event["timestamp"][:10]) for event in kept
    }
    assert _answers(store, access.org_id, pairs=True) == _answers(store, access.org_id, pairs=False)
    # The emptied day gets usage again: counted, although it was settled before.
    again = {**lonely, "id": "again", "credits": Decimal("1.25")}
    record_raw(store, [again])
    assert _settled_days(store, access.org_id)[date(2026, 3, 4)] is False
    answer = _answers(store, access.org_id, pairs=True)
    assert answer == _answers(store, access.org_id, pairs=False)
    settle(store)
    assert _stored_pairs(store, access.org_id) == _summed([*kept, again])
    assert _stored_dimensions(store, access.org_id) == _summed_dimensions([*kept, again])
    assert _answers(store, access.org_id, pairs=True) == answer


def test_a_day_is_settled_only_once_it_has_stopped_changing(
    org: Org,
) -> None:
    store, access = org.store, org.access
    record_raw(store, _with_keys(make_events(access.org_id, 100, seed=29)))
    a_minute_ago = now_us() - 60_000_000
    assert settle(store, changed_before_us=a_minute_ago).days == 0
    assert set(_settled_days(store, access.org_id).values()) == {False}
    assert settle(store, changed_before_us=now_us() + 1).days >= 3


def test_settling_while_writers_write_and_void_keeps_every_answer_exact(
    new_database: Callable[[], str],
) -> None:
    """Three writers record batches into the same days and void some of them while
    a settling pass runs again and again; at the end every answer, with pairs or
    without, is the events' own sum, and a last pass settles every day."""
    url = new_database()
    access = set_up_org(url)
    batches = [_with_keys(make_events(access.org_id, 150, seed=100 + n)) for n in range(18)]
    kept: list[dict[str, Any]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    writing = threading.Event()
    writing.set()
    store = open_store(url)

    def writer(mine: list[list[dict[str, Any]]]) -> None:
        try:
            for batch in mine:
                record_raw(store, batch)
                gone = [event["id"] for event in batch[:10]]
                void(store, VoidRequest(access.org_id, gone, "test"), Author("cli"))
                with lock:
                    kept.extend(batch[10:])
        except BaseException as exc:
            errors.append(exc)

    def settler() -> None:
        try:
            while writing.is_set():
                settle(store)
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=writer, args=(batches[n::3],)) for n in range(3)]
        settling = threading.Thread(target=settler)
        settling.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        writing.clear()
        settling.join(timeout=300)
        assert not errors, errors
        assert _answers(store, access.org_id, pairs=True) == _answers(
            store, access.org_id, pairs=False
        )
        settle(store)
        assert set(_settled_days(store, access.org_id).values()) == {True}
        assert _stored_pairs(store, access.org_id) == _summed(kept)
        assert _answers(store, access.org_id, pairs=True) == _answers(
            store, access.org_id, pairs=False
        )
    finally:
        store.close()


def test_the_server_settles_quiet_days_by_itself(new_database: Callable[[], str]) -> None:
    url = new_database()
    access = set_up_org(url)
    events = _with_keys(make_events(access.org_id, 300, seed=30))
    with running_service(url, settle_after_seconds=0, export_rate_limit=0) as service:
        store = service.store
        record_raw(store, events)
        params = {"startDate": "2026-03-01", "endDate": "2026-03-04"}
        params["groupBy"] = "product,api_key"
        headers = {"Authorization": f"Bearer {access.reader}"}
        unsettled = httpx.get(f"{service.url}/api/v1/usage/export", params=params, headers=headers)
        deadline = time.monotonic() + 20
        while not all(_settled_days(store, access.org_id).values()):
            assert time.monotonic() < deadline, "the server did not settle its days"
            time.sleep(0.1)
        settled = httpx.get(f"{service.url}/api/v1/usage/export", params=params, headers=headers)
        assert settled.status_code == unsettled.status_code == 200
        assert settled.content == unsettled.content
        assert _stored_pairs(store, access.org_id) == _summed(events)


def test_creditmeter_settle_settles_every_day_and_says_how_many(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    access = set_up_org(url)
    store = open_store(url)
    try:
        record_raw(store, _with_keys(make_events(access.org_id, 200, seed=31)))
        days = len(_settled_days(store, access.org_id))
    finally:
        store.close()
    runner = CliRunner()
    first = runner.invoke(app, ["settle", "--database-url", url])
    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"Settled {days} days (")
    again = runner.invoke(app, ["settle", "--database-url", url, "--json"])
    assert again.exit_code == 0, again.output
    assert '"days": 0' in again.output and '"pairRows": 0' in again.output


def test_creditmeter_ingest_settles_the_days_it_wrote_before_it_ends(
    org: Org, tmp_path: Path
) -> None:
    """An import is read from settled rollups at once (decision 0016): the command
    settles the days it wrote, and what it built equals the events summed here."""
    events = _with_keys(make_events(org.access.org_id, 300, seed=32))
    source = tmp_path / "usage.jsonl"
    # Each line's credits written as the exact decimal number they are.
    source.write_text(
        "".join(
            json.dumps({**event, "credits": 0}).replace('"credits": 0', f'"credits": {credits}')
            + "\n"
            for event in events
            for credits in [event["credits"]]
        )
    )
    result = CliRunner().invoke(app, ["ingest", str(source), "--database-url", org.url])
    assert result.exit_code == 0, result.output
    states = _settled_days(org.store, org.access.org_id)
    assert len(states) >= 3 and set(states.values()) == {True}
    assert _stored_dimensions(org.store, org.access.org_id) == _summed_dimensions(events)
    assert _stored_pairs(org.store, org.access.org_id) == _summed(events)


def test_migration_0013_leaves_every_stored_day_unsettled_and_settling_builds_them(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    access = set_up_org(url)
    events = _with_keys(make_events(access.org_id, 300, seed=32))
    store = open_store(url)
    try:
        record_raw(store, events)
        settle(store)
        answer = _answers(store, access.org_id, pairs=True)
    finally:
        store.close()
    engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0012")
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")
    engine.dispose()
    store = open_store(url)
    try:
        assert set(_settled_days(store, access.org_id).values()) == {False}
        assert _stored_pairs(store, access.org_id) == {}
        assert _answers(store, access.org_id, pairs=True) == answer
        settle(store)
        assert _stored_pairs(store, access.org_id) == _summed(events)
        assert _answers(store, access.org_id, pairs=True) == answer
    finally:
        store.close()


def _by_quarter(
    store: Store, org_id: str, ranges: list[tuple[int, int]], products: tuple[str, ...] = ()
) -> dict[tuple[int, str], tuple[int, int, int]]:
    """usage_by_quarter by product, summed per (range, product), rows of no events left out."""
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    filters = {"product": products} if products else {}
    with store.read() as connection:
        for index, (product,), *amounts in sql.usage_by_quarter(
            connection, org_id=org_id, ranges=ranges, group_by=("product",), filters=filters
        ):
            for n, amount in enumerate(amounts):
                sums[(index, product)][n] += amount
    return {key: (a, b, c) for key, (a, b, c) in sums.items() if c}


def _quarters_of(
    events: list[dict[str, Any]], ranges: list[tuple[int, int]], products: tuple[str, ...] = ()
) -> dict[tuple[int, str], tuple[int, int, int]]:
    """The same, from the events, here."""
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for event in events:
        if products and event["product"] not in products:
            continue
        instant = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        quarter = int(instant.timestamp()) // 900
        for index, (low, high) in enumerate(ranges):
            if low <= quarter < high:
                total = sums[(index, event["product"])]
                total[0] += int(Decimal(event["credits"]) * 1_000_000)
                total[1] += event.get("requestCount", 1)
                total[2] += 1
    return {key: (a, b, c) for key, (a, b, c) in sums.items()}


def test_local_ends_of_a_settled_day_come_from_its_running_totals_exactly(
    org: Org,
) -> None:
    """Quarter ranges inside settled days (Kolkata's 18:30-24:00, Kathmandu's
    00:00-18:15, a Berlin hour, the whole day, one quarter), and ranges across days:
    the products' running totals answer those inside a dense settled day, the
    quarters the rest; the sums are the events' own, before settling, after, after
    a write to a settled day and after a void."""
    store, access = org.store, org.access
    events = make_events(access.org_id, 2_400, seed=33)
    first = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()) // 900
    ranges = [
        (first + 74, first + 96),  # Kolkata: a local day's end in the UTC day
        (first + 96, first + 96 + 73),  # Kathmandu: its start
        (first + 96 + 88, first + 96 + 92),  # an hour
        (first + 192, first + 288),  # a whole day
        (first + 192 + 5, first + 192 + 6),  # one quarter
        (first + 80, first + 96 + 10),  # across midnight: the quarters
        (first + 96 + 30, first + 96 + 30),  # empty
    ]
    record_raw(store, events)
    before = _by_quarter(store, access.org_id, ranges)
    assert before == _quarters_of(events, ranges)
    settle(store)
    assert running_total_days(store, access.org_id) >= {
        "2026-03-01", "2026-03-02", "2026-03-03"
    }  # fmt: skip
    assert _by_quarter(store, access.org_id, ranges) == before
    assert _by_quarter(store, access.org_id, ranges, ("parse", "edit")) == _quarters_of(
        events, ranges, ("parse", "edit")
    )
    # A write to a settled day: read from its quarters until settled again.
    late = {**events[0], "id": "late", "timestamp": "2026-03-01T23:50:00Z", "credits": 7}
    record_raw(store, [late])
    assert _by_quarter(store, access.org_id, ranges) == _quarters_of([*events, late], ranges)
    void(store, VoidRequest(access.org_id, [events[1]["id"]], "test"), Author("cli"))
    kept = [late, *events[2:], events[0]]
    assert _by_quarter(store, access.org_id, ranges) == _quarters_of(kept, ranges)
    settle(store)
    assert _by_quarter(store, access.org_id, ranges) == _quarters_of(kept, ranges)


def test_a_sparse_day_gets_no_running_totals(org: Org) -> None:
    """A day with a few events keeps no running totals (96 rows per product for a few
    quarters); its ends are read from its quarters, exactly."""
    store, access = org.store, org.access
    events = make_events(access.org_id, 30, seed=34)
    record_raw(store, events)
    settle(store)
    assert running_total_days(store, access.org_id) == set()
    first = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()) // 900
    ranges = [(first + 74, first + 96), (first + 96, first + 169)]
    assert _by_quarter(store, access.org_id, ranges) == _quarters_of(events, ranges)


def test_a_busy_server_still_settles_every_day(org: Org) -> None:
    """While the server answers requests the pass rests after each transaction (a
    sixth of a core at most), but it goes on: every day is settled in the end."""
    store, access = org.store, org.access
    events = _with_keys(make_events(access.org_id, 300, seed=35))
    record_raw(store, events)
    asked: list[bool] = []

    def busy() -> bool:
        asked.append(True)
        return True

    done = settle(store, busy=busy)
    assert asked and done.days == len(_settled_days(store, access.org_id))
    assert set(_settled_days(store, access.org_id).values()) == {True}
    assert _stored_pairs(store, access.org_id) == _summed(events)


def test_a_day_with_a_total_and_no_rollups_settles_with_nothing_to_build(org: Org) -> None:
    """A total whose day holds no quarter rollups (written by hand, as an operator or
    an older tool might): the day settles with no pairs and no running totals, and
    the days after it settle too."""
    store, access = org.store, org.access
    events = _with_keys(make_events(access.org_id, 100, seed=36))
    with store.write() as connection:
        mark = dialect_of(connection).mark
        connection.exec_driver_sql(
            "INSERT INTO usage_daily_totals (org_id, day, credits_micro, request_count) "
            f"VALUES ({mark}, {mark}, 5, 1)",
            (access.org_id, dialect_of(connection).bind_day(date(2026, 2, 1))),
        )
    record_raw(store, events)
    with patch.object(pairs, "_RUNNING_TOTALS_MOST", 10**6):  # running totals for any day
        settle(store)
    states = _settled_days(store, access.org_id)
    assert states[date(2026, 2, 1)] and all(states.values())
    assert date(2026, 2, 1) not in {key[1] for key in _stored_pairs(store, access.org_id)}
    assert "2026-02-01" not in running_total_days(store, access.org_id)
