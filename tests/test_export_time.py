"""Local time, bucket widths, several dimensions, pages: the export contract's extension.

``export-time-and-dimensions.md`` over real HTTP, on every store. Each numbered
"Edge case, decided" has its own ``test_edge_<NN>_…``; the "Rows", "Document"
and "Pages" sections have descriptively named tests. Expected offsets and
instants are worked out by hand from the tz database (the comments say how)
and written out, never computed by the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import socket
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest

from creditmeter import cursors
from creditmeter.events import Event
from creditmeter.export_query import ExportQuery, query_fingerprint
from creditmeter.ingest import record
from creditmeter.timestamps import parse_instant_us
from creditmeter.zones import closest_zone, zone_names
from tests.conftest import Service, Tenant
from tests.test_export_api import (
    CSV_TYPE,
    EXPORT,
    Params,
    _close_clients,  # noqa: F401  (the autouse fixture closing each test's clients)
    add_member,
    assert_error,
    csv_body,
    event,
    export,
    get,
    json_document,
    reader,
    remove_member,
    send,
)

# -- helpers -------------------------------------------------------------------------


def r(day: str, credits: str, requests: int, *, start: str | None = None, **dims: Any) -> dict:
    """An expected row, keys in the contract's order: date, start, dimensions, totals."""
    out: dict[str, Any] = {"date": day}
    if start is not None:
        out["start"] = start
    out.update(dims)
    out["credits"] = credits
    out["requestCount"] = requests
    return out


def assert_rows(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Rows equal, each with its keys in the same order."""
    assert [list(row.items()) for row in actual] == [list(row.items()) for row in expected]


def rows_of(tenant: Tenant, params: Params | dict[str, str]) -> list[dict[str, Any]]:
    return json_document(get(reader(tenant), params))["data"]


def csv_lines(response: httpx.Response) -> list[list[str]]:
    body = csv_body(response)
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def at(timestamp: str, eid: str, product: str = "parse", credits: float = 1, **fields: Any) -> dict:
    return event(eid, timestamp, product=product, credits=credits, **fields)


def walk(
    client: httpx.Client, params: Params, limit: int | str, *, most: int = 200
) -> list[dict[str, Any]]:
    """Every page of the query, following nextPage; checks each page's size rule."""
    documents: list[dict[str, Any]] = []
    cursor: str | None = None
    size = int(limit)
    for _ in range(most):
        asked = [*params, ("limit", str(limit))] + ([("page", cursor)] if cursor else [])
        document = json_document(get(client, asked))
        assert "nextPage" in document
        documents.append(document)
        cursor = document["nextPage"]
        if cursor is None:
            assert len(document["data"]) <= size
            return documents
        assert len(document["data"]) == size, "a page with a cursor holds exactly limit rows"
    raise AssertionError("the pages never ended")


def first_page(client: httpx.Client, params: Params, limit: int) -> dict[str, Any]:
    return json_document(get(client, [*params, ("limit", str(limit))]))


def now_in(hours: int) -> date:
    """Today in a zone whose offset is ``hours`` (no daylight saving)."""
    return (datetime.now(UTC) + timedelta(hours=hours)).date()


def store_raw(service: Service, tenant: Tenant, timestamp: str, eid: str, credits: int) -> None:
    """Record one event through the ingest library (for instants ingest over HTTP refuses
    as too far ahead of the clock)."""
    instant = parse_instant_us(timestamp)
    stored = Event(
        org_id=tenant.org_id,
        id=eid,
        timestamp_us=instant,
        product="parse",
        feature=None,
        api_key=None,
        file_type=None,
        credits_micro=credits * 1_000_000,
        request_count=1,
    )
    record(service.store, [stored], received_us=instant)


DAY = "2026-05-19"
ONE_DAY = [("startDate", DAY), ("endDate", DAY)]


# -- the Rows example, the Time section ----------------------------------------------------


def test_rows_example_of_the_contract(tenant: Tenant) -> None:
    # Europe/Berlin leaves CEST (+02:00) for CET (+01:00) at 2026-10-25T01:00:00Z:
    # 02:00-03:00 local happens twice, at 00:00Z (+02:00) and at 01:00Z (+01:00).
    send(
        tenant,
        [
            at("2026-10-25T00:00:00Z", "a", credits=0.5),
            at("2026-10-25T00:30:00Z", "b", credits=0.5, requestCount=2),
            at("2026-10-25T00:59:59Z", "c", credits=0.5, requestCount=0),
            at("2026-10-25T01:00:00Z", "d", credits=0.5),
        ],
    )
    response = get(
        reader(tenant),
        {
            "startDate": "2026-10-25",
            "endDate": "2026-10-25",
            "groupBy": "product,feature",
            "timeZone": "Europe/Berlin",
            "bucketWidth": "hour",
        },
    )
    document = json_document(response)
    assert list(document.items()) == [
        ("orgId", tenant.org_id),
        ("startDate", "2026-10-25"),
        ("endDate", "2026-10-25"),
        ("groupBy", "product,feature"),
        ("timeZone", "Europe/Berlin"),
        ("bucketWidth", "hour"),
        ("data", document["data"]),
    ]
    assert_rows(
        document["data"],
        [
            r(
                "2026-10-25",
                "1.5",
                3,
                start="2026-10-25T02:00:00+02:00",
                product="parse",
                feature=None,
            ),
            r(
                "2026-10-25",
                "0.5",
                1,
                start="2026-10-25T02:00:00+01:00",
                product="parse",
                feature=None,
            ),
        ],
    )


def test_day_buckets_follow_the_local_day_to_the_minute(tenant: Tenant) -> None:
    # 2026-05-19 starts at 18:30Z the day before in Asia/Kolkata (+05:30), at
    # 18:15Z in Asia/Kathmandu (+05:45), at 15:15Z in Australia/Eucla (+08:45).
    cases = {
        "Asia/Kolkata": ("2026-05-18T18:29:59Z", "2026-05-18T18:30:00Z"),
        "Asia/Kathmandu": ("2026-05-18T18:14:59Z", "2026-05-18T18:15:00Z"),
        "Australia/Eucla": ("2026-05-18T15:14:59Z", "2026-05-18T15:15:00Z"),
    }
    for zone, (before, first) in cases.items():
        other = tenant.service.tenant()
        send(other, [at(before, "before", credits=1), at(first, "first", credits=2)])
        params = {"startDate": "2026-05-18", "endDate": "2026-05-19", "timeZone": zone}
        assert_rows(
            rows_of(other, params),
            [r("2026-05-18", "1.0", 1, group="parse"), r("2026-05-19", "2.0", 1, group="parse")],
        )


def test_day_buckets_of_23_and_25_hours(tenant: Tenant) -> None:
    # Berlin: 2026-03-29 is 23 hours (23:00Z on the 28th to 22:00Z), 2026-10-25
    # is 25 hours (22:00Z on the 24th to 23:00Z).
    send(
        tenant,
        [
            at("2026-03-28T22:59:59Z", "m0", credits=1),
            at("2026-03-28T23:00:00Z", "m1", credits=2),
            at("2026-03-29T21:59:59Z", "m2", credits=2),
            at("2026-03-29T22:00:00Z", "m3", credits=4),
            at("2026-10-24T21:59:59Z", "o0", credits=1),
            at("2026-10-24T22:00:00Z", "o1", credits=2),
            at("2026-10-25T22:59:59Z", "o2", credits=2),
            at("2026-10-25T23:00:00Z", "o3", credits=4),
        ],
    )
    spring = {"startDate": "2026-03-28", "endDate": "2026-03-30", "timeZone": "Europe/Berlin"}
    assert_rows(
        rows_of(tenant, spring),
        [
            r("2026-03-28", "1.0", 1, group="parse"),
            r("2026-03-29", "4.0", 2, group="parse"),
            r("2026-03-30", "4.0", 1, group="parse"),
        ],
    )
    fall = {"startDate": "2026-10-24", "endDate": "2026-10-26", "timeZone": "Europe/Berlin"}
    assert_rows(
        rows_of(tenant, fall),
        [
            r("2026-10-24", "1.0", 1, group="parse"),
            r("2026-10-25", "4.0", 2, group="parse"),
            r("2026-10-26", "4.0", 1, group="parse"),
        ],
    )


def test_hour_buckets_skip_the_spring_forward_hour(tenant: Tenant) -> None:
    # Berlin 2026-03-29: 01:00+01:00 is 00:00Z; at 01:00Z the clock reads 03:00+02:00.
    send(
        tenant,
        [
            at("2026-03-29T00:59:59Z", "a", credits=1),
            at("2026-03-29T01:00:00Z", "b", credits=2),
        ],
    )
    params = {
        "startDate": "2026-03-29",
        "endDate": "2026-03-29",
        "timeZone": "Europe/Berlin",
        "bucketWidth": "hour",
    }
    assert_rows(
        rows_of(tenant, params),
        [
            r("2026-03-29", "1.0", 1, start="2026-03-29T01:00:00+01:00", group="parse"),
            r("2026-03-29", "2.0", 1, start="2026-03-29T03:00:00+02:00", group="parse"),
        ],
    )


def test_an_hour_that_an_offset_change_skipped_into_starts_at_the_change(tenant: Tenant) -> None:
    # Asia/Rangoon 1942-05-01: at 00:00+06:30 (1942-04-30T17:30Z) the clock jumped to
    # 02:30+09:00, so the local hour 02:00-03:00+09:00 begins at 02:30 (the oracle of
    # tests/test_export_time_oracle.py once took its top, 02:00, at the offset before).
    send(
        tenant,
        [
            at("1942-04-30T17:29:59Z", "a", credits=1),
            at("1942-04-30T17:30:00Z", "b", credits=2),
            at("1942-04-30T17:59:59Z", "c", credits=4),
        ],
    )
    params = {
        "startDate": "1942-04-30",
        "endDate": "1942-05-01",
        "timeZone": "Asia/Rangoon",
        "bucketWidth": "hour",
    }
    assert_rows(
        rows_of(tenant, params),
        [
            r("1942-04-30", "1.0", 1, start="1942-04-30T23:00:00+06:30", group="parse"),
            r("1942-05-01", "6.0", 2, start="1942-05-01T02:30:00+09:00", group="parse"),
        ],
    )


def test_hour_buckets_at_quarter_hour_offsets(tenant: Tenant) -> None:
    # Kathmandu +05:45: 2026-05-19T00:00+05:45 is 2026-05-18T18:15Z.
    send(tenant, [at("2026-05-18T18:15:00Z", "a"), at("2026-05-18T19:14:59Z", "b")])
    params = {
        "startDate": "2026-05-19",
        "endDate": "2026-05-19",
        "timeZone": "Asia/Kathmandu",
        "bucketWidth": "hour",
    }
    assert_rows(
        rows_of(tenant, params),
        [r("2026-05-19", "2.0", 2, start="2026-05-19T00:00:00+05:45", group="parse")],
    )


def _pinned_zone(name: str) -> ZoneInfo:
    """The zone from the pinned tzdata package (not the host's files), read here directly."""
    with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


def _transitions(zone: ZoneInfo, start: datetime, stop: datetime) -> list[datetime]:
    """The instants in [start, stop) where the zone's offset changes, to the second."""
    found = []
    step = timedelta(minutes=15)
    at_ = start
    while at_ < stop:
        if (at_ + step).astimezone(zone).utcoffset() != at_.astimezone(zone).utcoffset():
            low, high = at_, at_ + step
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high)
        at_ += step
    return found


# (zone, first day, last day): windows around offset changes, pre-1980 odd offsets
# included (Monrovia), a 15-minute shift (Kathmandu 1986), two-hour DST (Troll), a
# skipped day (Apia 2011-12-30), :45 offsets (Chatham), negative DST (Dublin).
ORACLE_WINDOWS = [
    ("Africa/Monrovia", "1971-12-25", "1972-01-20"),
    ("Asia/Kathmandu", "1985-12-20", "1986-01-15"),
    ("Australia/Lord_Howe", "2025-03-25", "2025-04-20"),
    ("America/Sao_Paulo", "2018-10-25", "2018-11-20"),
    ("Europe/Berlin", "2026-10-10", "2026-11-05"),
    ("Antarctica/Troll", "2026-03-20", "2026-04-10"),
    ("Pacific/Chatham", "2026-03-25", "2026-04-20"),
    ("America/St_Johns", "2026-10-20", "2026-11-15"),
    ("Pacific/Apia", "2011-12-20", "2012-01-10"),
    ("Europe/Dublin", "2026-10-15", "2026-11-05"),
    ("Pacific/Kiritimati", "1994-12-20", "1995-01-10"),
    ("Asia/Colombo", "1996-05-15", "1996-06-05"),
    ("Asia/Colombo", "1996-10-15", "1996-11-05"),
    ("Asia/Pyongyang", "2018-04-25", "2018-05-15"),
    ("America/Caracas", "2007-12-01", "2007-12-20"),
    ("Australia/Eucla", "2008-03-20", "2008-04-10"),
    ("UTC", "2026-02-15", "2026-03-15"),
    ("Etc/GMT-14", "2026-02-15", "2026-03-15"),
]


@pytest.mark.parametrize(("zone_name", "first", "last"), ORACLE_WINDOWS)
def test_buckets_equal_an_oracle_over_the_tz_database(
    service: Service, zone_name: str, first: str, last: str
) -> None:
    """Events at every offset change (and a second, a quarter and half an hour either
    side) and at random instants: each export row equals the events whose local time
    in the zone falls in it, computed here with zoneinfo."""
    tenant = service.tenant()
    zone = _pinned_zone(zone_name)
    start_day, end_day = date.fromisoformat(first), date.fromisoformat(last)
    window_start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC) - timedelta(
        days=1
    )
    window_stop = datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC) + timedelta(days=2)
    instants = set()
    for change in _transitions(zone, window_start, window_stop):
        for seconds in (0, 1, -1, 900, -900, 1800, -1800, 3599, -3600):
            instants.add(change + timedelta(seconds=seconds))
    chance = random.Random(zone_name)
    span = int((window_stop - window_start).total_seconds())
    instants.update(window_start + timedelta(seconds=chance.randrange(span)) for _ in range(300))
    events = []
    for n, instant in enumerate(sorted(instants)):
        text = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
        feature = {} if n % 3 == 0 else {"feature": ("x", "y")[n % 3 - 1]}
        events.append(at(text, f"o{n}", product=("a", "b")[n % 2], credits=1 + n % 5, **feature))
    send(tenant, events)

    def expected(width: str, split: bool = False) -> dict[tuple[Any, ...], tuple[int, int]]:
        """By product; or (``split``) by feature and product, product a only."""
        sums: dict[tuple[Any, ...], tuple[int, int]] = {}
        for item in events:
            if split and item["product"] != "a":
                continue
            instant = datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00"))
            local = instant.astimezone(zone)
            if not start_day <= local.date() <= end_day:
                continue
            if width == "hour":
                offset = local.utcoffset()
                assert offset is not None
                key: tuple[Any, ...] = (local.date(), local.hour, int(offset.total_seconds()))
            elif width == "day":
                key = (local.date(),)
            else:
                key = (max(local.date().replace(day=1), start_day),)
            key = (*key, item.get("feature"), item["product"]) if split else (*key, item["product"])
            credits, count = sums.get(key, (0, 0))
            sums[key] = (credits + item["credits"], count + 1)
        return sums

    for width in ("hour", "day", "month"):
        params = {"startDate": first, "endDate": last, "timeZone": zone_name, "bucketWidth": width}
        rows = rows_of(tenant, params)
        found: dict[tuple[Any, ...], tuple[int, int]] = {}
        starts = []
        for row in rows:
            day = date.fromisoformat(row["date"])
            if width == "hour":
                start = datetime.fromisoformat(row["start"])
                offset = start.utcoffset()
                assert offset is not None
                assert start.date() == day
                starts.append(start)
                key = (day, start.hour, int(offset.total_seconds()), row["group"])
            else:
                key = (day, row["group"])
            assert key not in found, key
            assert row["credits"].endswith(".0")
            found[key] = (int(row["credits"][:-2]), row["requestCount"])
        assert found == expected(width), width
        assert starts == sorted(starts)

        # Two dimensions and a filter, read from the same rollups.
        split = [*params.items(), ("groupBy", "feature,product"), ("product", "a")]
        found = {}
        for row in rows_of(tenant, split):
            key = (date.fromisoformat(row["date"]),)
            if width == "hour":
                start = datetime.fromisoformat(row["start"])
                offset = start.utcoffset()
                assert offset is not None
                key = (*key, start.hour, int(offset.total_seconds()))
            found[(*key, row["feature"], row["product"])] = (
                int(row["credits"][:-2]),
                row["requestCount"],
            )
        assert found == expected(width, split=True), width


# -- edge cases, decided -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "timestamp", "day", "start"),
    [
        # Europe/Berlin in May: CEST, +02:00.
        ("Europe/Berlin", "2026-05-18T22:30:00Z", "2026-05-19", "2026-05-19T00:00:00+02:00"),
        # A link, echoed as given: Asia/Calcutta → Asia/Kolkata, +05:30.
        ("Asia/Calcutta", "2026-05-18T19:00:00Z", "2026-05-19", "2026-05-19T00:00:00+05:30"),
        # US/Eastern in May: EDT, -04:00.
        ("US/Eastern", "2026-05-19T03:59:59Z", "2026-05-18", "2026-05-18T23:00:00-04:00"),
        # Etc/GMT+5 is five hours *behind* UTC.
        ("Etc/GMT+5", "2026-05-19T03:00:00Z", "2026-05-18", "2026-05-18T22:00:00-05:00"),
        ("UTC", "2026-05-18T23:59:59Z", "2026-05-18", "2026-05-18T23:00:00+00:00"),
    ],
)
def test_edge_01_zone_names_and_links_are_used_and_echoed_as_given(
    tenant: Tenant, zone: str, timestamp: str, day: str, start: str
) -> None:
    send(tenant, [at(timestamp, "one", credits=3)])
    for width in ("day", "hour"):
        params = {
            "startDate": "2026-05-18",
            "endDate": "2026-05-19",
            "timeZone": zone,
            "bucketWidth": width,
        }
        document = json_document(get(reader(tenant), params))
        assert document["timeZone"] == zone
        expected = r(day, "3.0", 1, start=start if width == "hour" else None, group="parse")
        assert_rows(document["data"], [expected])


@pytest.mark.parametrize(
    "value",
    [
        "utc",
        "Utc",
        "+05:30",
        "UTC+05:30",
        "localtime",
        "/usr/share/zoneinfo/Europe/Berlin",
        "../../../../etc/passwd",
        "Europe/../Europe/Berlin",
        "Europe/Berlin/",
        "Europe/Berlin ",
        " Europe/Berlin",
        "europe/berlin",
        "Europe",
        "zone.tab",
        "tzdata.zi",
        "posixrules",
        "Europe/Berlin\x00",
        "",
    ],
)
def test_edge_01_zone_names_anything_else_is_400_naming_time_zone(
    tenant: Tenant, value: str
) -> None:
    assert_error(get(reader(tenant), {"timeZone": value}), 400, "invalid_parameter", "timeZone")
    # Also as a bare name without '='.
    if value == "":
        assert_error(reader(tenant).get(f"{EXPORT}?timeZone"), 400, "invalid_parameter", "timeZone")


@pytest.mark.parametrize(
    ("value", "meant"),
    [
        ("europe/berlin", "Europe/Berlin"),
        ("EUROPE/BERLIN", "Europe/Berlin"),
        ("America/New York", "America/New_York"),
        ("Kolkata", "Asia/Kolkata"),
        ("Europe/Berln", "Europe/Berlin"),
        ("utc", "UTC"),
        ("Lord Howe", "Australia/Lord_Howe"),
        ("Kolkatta", "Asia/Kolkata"),
        ("/usr/share/zoneinfo/Europe/Berlin", "Europe/Berlin"),
        ("etc/gmt", "Etc/GMT"),
        ("Etc/GMT+05", "Etc/GMT+5"),
        # An offset written as a name: Etc/GMT-5 is five hours *ahead* of UTC.
        ("UTC+5", "Etc/GMT-5"),
        ("GMT-03:00", "Etc/GMT+3"),
    ],
)
def test_edge_01_zone_names_suggest_the_closest_real_name(
    tenant: Tenant, value: str, meant: str
) -> None:
    error = assert_error(
        get(reader(tenant), {"timeZone": value}), 400, "invalid_parameter", "timeZone"
    )
    assert f"Did you mean '{meant}'?" in error["message"]


def test_edge_01_every_zone_name_misspelt_by_case_or_spaces_suggests_itself() -> None:
    for name in zone_names():
        for variant in (name.lower(), name.upper(), name.replace("_", " ")):
            if variant != name:
                assert closest_zone(variant) == name, variant


def test_edge_02_offsets_to_the_second(tenant: Tenant) -> None:
    # Africa/Monrovia was -00:44:30 until 1972-01-07T00:44:30Z, then GMT:
    # 1971-06-01T00:00:00 local is 00:44:30Z; the last hour at -00:44:30 ends at
    # 1972-01-07T00:44:30Z, so that day's first hour bucket is 15 min 30 s long.
    send(
        tenant,
        [
            at("1971-06-01T00:44:29Z", "before", credits=1),
            at("1971-06-01T00:44:30Z", "first", credits=2),
            at("1971-06-01T01:44:29Z", "first-end", credits=2),
            at("1972-01-07T00:44:29Z", "old-offset", credits=4),
            at("1972-01-07T00:44:30Z", "gmt", credits=8),
            at("1972-01-07T00:59:59Z", "gmt-end", credits=8),
            at("1972-01-07T01:00:00Z", "gmt-next", credits=16),
        ],
    )
    hours = [("timeZone", "Africa/Monrovia"), ("bucketWidth", "hour")]
    assert_rows(
        rows_of(tenant, [("startDate", "1971-05-31"), ("endDate", "1971-06-01"), *hours]),
        [
            r("1971-05-31", "1.0", 1, start="1971-05-31T23:00:00-00:44:30", group="parse"),
            r("1971-06-01", "4.0", 2, start="1971-06-01T00:00:00-00:44:30", group="parse"),
        ],
    )
    assert_rows(
        rows_of(tenant, [("startDate", "1972-01-06"), ("endDate", "1972-01-07"), *hours]),
        [
            r("1972-01-06", "4.0", 1, start="1972-01-06T23:00:00-00:44:30", group="parse"),
            r("1972-01-07", "16.0", 2, start="1972-01-07T00:44:30+00:00", group="parse"),
            r("1972-01-07", "16.0", 1, start="1972-01-07T01:00:00+00:00", group="parse"),
        ],
    )
    days = [("startDate", "1971-05-31"), ("endDate", "1971-06-01"), ("timeZone", "Africa/Monrovia")]
    assert_rows(
        rows_of(tenant, days),
        [r("1971-05-31", "1.0", 1, group="parse"), r("1971-06-01", "4.0", 2, group="parse")],
    )


def test_edge_02_start_is_hh_mm_plus_00_00_for_utc_never_z_nor_fractions(tenant: Tenant) -> None:
    send(
        tenant,
        [
            at("2026-05-19T12:34:56.789123Z", "frac", credits=1),
            at("2026-05-19T13:00:00.000001Z", "frac2", credits=2),
        ],
    )
    for zone, starts in (
        ("UTC", ["2026-05-19T12:00:00+00:00", "2026-05-19T13:00:00+00:00"]),
        ("Etc/GMT+5", ["2026-05-19T07:00:00-05:00", "2026-05-19T08:00:00-05:00"]),
        # 12:34:56Z and 13:00:00Z are 21:19:56 and 21:45:00 at +08:45: one hour.
        ("Australia/Eucla", ["2026-05-19T21:00:00+08:45"]),
    ):
        document = json_document(
            get(reader(tenant), [*ONE_DAY, ("timeZone", zone), ("bucketWidth", "hour")])
        )
        assert [row["start"] for row in document["data"]] == starts
    # Without timeZone, hours are UTC's, written +00:00 too.
    document = json_document(get(reader(tenant), [*ONE_DAY, ("bucketWidth", "hour")]))
    assert [row["start"] for row in document["data"]] == [
        "2026-05-19T12:00:00+00:00",
        "2026-05-19T13:00:00+00:00",
    ]
    raw = get(reader(tenant), [*ONE_DAY, ("bucketWidth", "hour")]).content
    assert re.findall(rb'"start":"([^"]*)"', raw) == [
        b"2026-05-19T12:00:00+00:00",
        b"2026-05-19T13:00:00+00:00",
    ]


def test_edge_03_days_without_a_midnight(tenant: Tenant) -> None:
    # America/Sao_Paulo went from -03:00 to -02:00 at 2018-11-04T03:00:00Z:
    # local 00:00 never happened, 2018-11-04 began at 01:00-02:00.
    send(
        tenant,
        [
            at("2018-11-04T02:59:59Z", "last-of-3rd", credits=1),
            at("2018-11-04T03:00:00Z", "first-of-4th", credits=2),
            at("2018-11-04T03:59:59Z", "first-hour-end", credits=4),
            at("2018-11-04T04:00:00Z", "second-hour", credits=8),
        ],
    )
    zone = [
        ("startDate", "2018-11-03"),
        ("endDate", "2018-11-04"),
        ("timeZone", "America/Sao_Paulo"),
    ]
    assert_rows(
        rows_of(tenant, [*zone, ("bucketWidth", "hour")]),
        [
            r("2018-11-03", "1.0", 1, start="2018-11-03T23:00:00-03:00", group="parse"),
            r("2018-11-04", "6.0", 2, start="2018-11-04T01:00:00-02:00", group="parse"),
            r("2018-11-04", "8.0", 1, start="2018-11-04T02:00:00-02:00", group="parse"),
        ],
    )
    assert_rows(
        rows_of(tenant, zone),
        [r("2018-11-03", "1.0", 1, group="parse"), r("2018-11-04", "14.0", 3, group="parse")],
    )
    only_4th = [("startDate", "2018-11-04"), ("endDate", "2018-11-04")]
    document = json_document(
        get(
            reader(tenant),
            [*only_4th, ("timeZone", "America/Sao_Paulo"), ("bucketWidth", "hour")],
        )
    )
    assert document["data"][0]["start"] == "2018-11-04T01:00:00-02:00"


def test_edge_04_half_hour_shifts(tenant: Tenant) -> None:
    # Australia/Lord_Howe, 2025-04-06: at 15:00Z (02:00+11:00) the clock goes
    # back to 01:30+10:30. Hour buckets: 01:00+11:00 = 14:00Z-15:00Z,
    # 01:30+10:30 = 15:00Z-15:30Z, 02:00+10:30 = 15:30Z-16:30Z.
    # 2025-10-05: at 15:30Z (02:00+10:30) it jumps to 02:30+11:00.
    # 01:00+10:30 = 14:30Z-15:30Z, 02:30+11:00 = 15:30Z-16:00Z, 03:00+11:00 from 16:00Z.
    send(
        tenant,
        [
            at("2025-04-05T14:00:00Z", "a1", credits=1),
            at("2025-04-05T14:59:59Z", "a2", credits=1),
            at("2025-04-05T15:00:00Z", "a3", credits=2),
            at("2025-04-05T15:29:59Z", "a4", credits=2),
            at("2025-04-05T15:30:00Z", "a5", credits=4),
            at("2025-10-04T15:29:59Z", "b1", credits=1),
            at("2025-10-04T15:30:00Z", "b2", credits=2),
            at("2025-10-04T15:59:59Z", "b3", credits=2),
            at("2025-10-04T16:00:00Z", "b4", credits=4),
        ],
    )
    hours = [("timeZone", "Australia/Lord_Howe"), ("bucketWidth", "hour")]
    april = rows_of(tenant, [("startDate", "2025-04-06"), ("endDate", "2025-04-06"), *hours])
    assert_rows(
        april,
        [
            r("2025-04-06", "2.0", 2, start="2025-04-06T01:00:00+11:00", group="parse"),
            r("2025-04-06", "4.0", 2, start="2025-04-06T01:30:00+10:30", group="parse"),
            r("2025-04-06", "4.0", 1, start="2025-04-06T02:00:00+10:30", group="parse"),
        ],
    )
    october = rows_of(tenant, [("startDate", "2025-10-05"), ("endDate", "2025-10-05"), *hours])
    assert_rows(
        october,
        [
            r("2025-10-05", "1.0", 1, start="2025-10-05T01:00:00+10:30", group="parse"),
            r("2025-10-05", "4.0", 2, start="2025-10-05T02:30:00+11:00", group="parse"),
            r("2025-10-05", "4.0", 1, start="2025-10-05T03:00:00+11:00", group="parse"),
        ],
    )


@pytest.mark.parametrize(("zone", "hours"), [("Pacific/Kiritimati", 14), ("Etc/GMT+12", -12)])
def test_edge_05_default_end_date_is_today_in_the_zone(
    tenant: Tenant, zone: str, hours: int
) -> None:
    # +14 and -12 are 26 hours apart: at any moment at least one of the two
    # dates differs from UTC's, so a server using UTC's today fails here.
    before = now_in(hours)
    document = json_document(export(tenant, timeZone=zone))
    after = now_in(hours)
    end = date.fromisoformat(document["endDate"])
    assert end in (before, after)
    assert document["startDate"] == (end - timedelta(days=30)).isoformat()
    assert (document["timeZone"], document["bucketWidth"]) == (zone, "day")

    start = (before - timedelta(days=5)).isoformat()
    only_start = json_document(export(tenant, timeZone=zone, startDate=start))
    assert only_start["endDate"] in (before.isoformat(), now_in(hours).isoformat())


def test_edge_05_a_bare_hour_width_covers_31_days_and_passes(tenant: Tenant) -> None:
    before = now_in(0)
    document = json_document(export(tenant, bucketWidth="hour"))
    end = date.fromisoformat(document["endDate"])
    assert end in (before, now_in(0))
    assert document["startDate"] == (end - timedelta(days=30)).isoformat()
    assert (document["timeZone"], document["bucketWidth"]) == ("UTC", "hour")
    kiritimati = json_document(export(tenant, bucketWidth="hour", timeZone="Pacific/Kiritimati"))
    assert kiritimati["bucketWidth"] == "hour"


def test_edge_06_range_limits_count_local_days(tenant: Tenant) -> None:
    for zone in ("UTC", "Pacific/Kiritimati", "Etc/GMT+12"):
        json_document(
            export(
                tenant,
                startDate="2026-01-01",
                endDate="2026-01-31",
                bucketWidth="hour",
                timeZone=zone,
            )
        )
        error = assert_error(
            export(
                tenant,
                startDate="2026-01-01",
                endDate="2026-02-01",
                bucketWidth="hour",
                timeZone=zone,
            ),
            400,
            "range_too_long",
            None,
        )
        assert "31 days" in error["message"]
    for width in ("day", "month"):
        json_document(
            export(tenant, startDate="2024-01-01", endDate="2024-12-31", bucketWidth=width)
        )
        error = assert_error(
            export(tenant, startDate="2024-01-01", endDate="2025-01-01", bucketWidth=width),
            400,
            "range_too_long",
            None,
        )
        assert "366 days" in error["message"]


def test_edge_06_the_hourly_maximum_applies_instead_of_the_range_maximum(
    make_service: Callable[..., Service],
) -> None:
    server = make_service(max_range_days=10, max_hourly_range_days=40, export_rate_limit=0)
    tenant = server.tenant()
    json_document(export(tenant, startDate="2026-01-01", endDate="2026-02-09", bucketWidth="hour"))
    error = assert_error(
        export(tenant, startDate="2026-01-01", endDate="2026-02-10", bucketWidth="hour"),
        400,
        "range_too_long",
        None,
    )
    assert "40 days" in error["message"]
    json_document(export(tenant, startDate="2026-01-01", endDate="2026-01-10", bucketWidth="day"))
    for width in ("day", "month"):
        error = assert_error(
            export(tenant, startDate="2026-01-01", endDate="2026-01-11", bucketWidth=width),
            400,
            "range_too_long",
            None,
        )
        assert "10 days" in error["message"]


def test_edge_07_calendar_edges(service: Service, tenant: Tenant) -> None:
    # Asia/Tokyo's first offset is its local mean time, +09:18:59: its 0001-01-01
    # began at 0000-12-31T14:41:01Z, before year 1 in UTC. Etc/GMT-14 (+14:00):
    # 0001-01-01 began at 0000-12-31T10:00Z. America/New_York's 9999-12-31 (EST,
    # -05:00) ends at 10000-01-01T05:00Z, Etc/GMT+12's at 10000-01-01T12:00Z.
    send(
        tenant,
        [
            at("0001-01-01T00:00:00Z", "first-instant", credits=1),
            at("0001-01-01T14:41:00Z", "tokyo-last", credits=2),
            at("0001-01-01T14:41:01Z", "tokyo-next-day", credits=4),
        ],
    )
    store_raw(service, tenant, "9999-12-31T23:59:59Z", "last-instant", 8)

    def rows(zone: str, start: str, end: str, width: str = "day") -> list[dict[str, Any]]:
        params = {"startDate": start, "endDate": end, "timeZone": zone, "bucketWidth": width}
        return rows_of(tenant, params)

    assert_rows(
        rows("Asia/Tokyo", "0001-01-01", "0001-01-02"),
        [r("0001-01-01", "3.0", 2, group="parse"), r("0001-01-02", "4.0", 1, group="parse")],
    )
    assert_rows(
        rows("Asia/Tokyo", "0001-01-01", "0001-01-01", "hour"),
        [
            r("0001-01-01", "1.0", 1, start="0001-01-01T09:00:00+09:18:59", group="parse"),
            r("0001-01-01", "2.0", 1, start="0001-01-01T23:00:00+09:18:59", group="parse"),
        ],
    )
    assert_rows(
        rows("Asia/Tokyo", "0001-01-01", "0001-01-31", "month"),
        [r("0001-01-01", "7.0", 3, group="parse")],
    )
    assert_rows(
        rows("Etc/GMT-14", "0001-01-01", "0001-01-01", "hour"),
        [r("0001-01-01", "1.0", 1, start="0001-01-01T14:00:00+14:00", group="parse")],
    )
    assert_rows(
        rows("America/New_York", "9999-12-31", "9999-12-31"),
        [r("9999-12-31", "8.0", 1, group="parse")],
    )
    assert_rows(
        rows("America/New_York", "9999-12-31", "9999-12-31", "hour"),
        [r("9999-12-31", "8.0", 1, start="9999-12-31T18:00:00-05:00", group="parse")],
    )
    assert_rows(
        rows("America/New_York", "9999-12-01", "9999-12-31", "month"),
        [r("9999-12-01", "8.0", 1, group="parse")],
    )
    assert_rows(
        rows("Etc/GMT+12", "9999-12-31", "9999-12-31", "hour"),
        [r("9999-12-31", "8.0", 1, start="9999-12-31T11:00:00-12:00", group="parse")],
    )
    # Zones whose days fall inside the years in UTC, and empty ranges at both ends.
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12", "Asia/Tokyo", "America/New_York", "UTC"):
        for width in ("hour", "day", "month"):
            for start, end in (("0001-01-01", "0001-01-01"), ("9999-12-31", "9999-12-31")):
                document = json_document(
                    export(tenant, startDate=start, endDate=end, timeZone=zone, bucketWidth=width)
                )
                assert (document["startDate"], document["endDate"]) == (start, end)
    assert_rows(
        rows("Pacific/Kiritimati", "9999-12-31", "9999-12-31"),
        [],  # 9999-12-31T23:59:59Z is 10000-01-01 there: not a day that can be asked for
    )


def test_edge_08_month_clipping(tenant: Tenant) -> None:
    send(
        tenant,
        [
            at("2026-01-14T23:59:59Z", "before", credits=100),
            at("2026-01-15T00:00:00Z", "jan-first", credits=1),
            at("2026-01-31T23:59:59Z", "jan-last", credits=1),
            at("2026-02-01T00:00:00Z", "feb-first", credits=2),
            at("2026-02-28T23:59:59Z", "feb-last", credits=2),
            at("2026-03-01T00:00:00Z", "mar-first", credits=4),
            at("2026-03-10T23:59:59Z", "mar-last", credits=4),
            at("2026-03-11T00:00:00Z", "after", credits=100),
        ],
    )
    params = {"startDate": "2026-01-15", "endDate": "2026-03-10", "bucketWidth": "month"}
    assert_rows(
        rows_of(tenant, params),
        [
            r("2026-01-15", "2.0", 2, group="parse"),
            r("2026-02-01", "4.0", 2, group="parse"),
            r("2026-03-01", "8.0", 2, group="parse"),
        ],
    )
    # In Asia/Kolkata (+05:30) the months start 5 h 30 min earlier: 2026-01-31T23:59:59Z
    # is already February there, 2026-01-14T23:59:59Z already the 15th of January,
    # 2026-03-10T23:59:59Z the 11th of March (outside).
    assert_rows(
        rows_of(tenant, {**params, "timeZone": "Asia/Kolkata"}),
        [
            r("2026-01-15", "101.0", 2, group="parse"),
            r("2026-02-01", "3.0", 2, group="parse"),
            r("2026-03-01", "6.0", 2, group="parse"),
        ],
    )
    # A range inside one month is one row dated startDate.
    inside = {"startDate": "2026-02-10", "endDate": "2026-02-28", "bucketWidth": "month"}
    assert_rows(rows_of(tenant, inside), [r("2026-02-10", "2.0", 1, group="parse")])


GROUPED = [
    at(f"{DAY}T01:00:00Z", "g1", product="parse", credits=1, feature="agentic", apiKey="key_a"),
    at(f"{DAY}T02:00:00Z", "g2", product="parse", credits=2, fileType="pdf"),
    at(f"{DAY}T03:00:00Z", "g3", product="extract", credits=4, feature="agentic", fileType="pdf"),
    at(f"{DAY}T04:00:00Z", "g4", product="parse", credits=8, feature="agentic", apiKey="key_b"),
]


def test_edge_09_group_by_lists(tenant: Tenant) -> None:
    send(tenant, GROUPED)
    assert_rows(
        rows_of(tenant, [*ONE_DAY, ("groupBy", "product,feature")]),
        [
            r(DAY, "4.0", 1, product="extract", feature="agentic"),
            r(DAY, "2.0", 1, product="parse", feature=None),
            r(DAY, "9.0", 2, product="parse", feature="agentic"),
        ],
    )
    assert_rows(
        rows_of(tenant, [*ONE_DAY, ("groupBy", "feature,product")]),
        [
            r(DAY, "2.0", 1, feature=None, product="parse"),
            r(DAY, "4.0", 1, feature="agentic", product="extract"),
            r(DAY, "9.0", 2, feature="agentic", product="parse"),
        ],
    )
    assert_rows(
        rows_of(tenant, [*ONE_DAY, ("groupBy", "file_type,api_key,feature,product")]),
        [
            r(DAY, "1.0", 1, fileType=None, apiKey="key_a", feature="agentic", product="parse"),
            r(DAY, "8.0", 1, fileType=None, apiKey="key_b", feature="agentic", product="parse"),
            r(DAY, "2.0", 1, fileType="pdf", apiKey=None, feature=None, product="parse"),
            r(DAY, "4.0", 1, fileType="pdf", apiKey=None, feature="agentic", product="extract"),
        ],
    )
    # A list of one is the seed's groupBy, with "group".
    assert_rows(
        rows_of(tenant, [*ONE_DAY, ("groupBy", "api_key"), ("timeZone", "UTC")]),
        [
            r(DAY, "6.0", 2, group=None),
            r(DAY, "1.0", 1, group="key_a"),
            r(DAY, "8.0", 1, group="key_b"),
        ],
    )


@pytest.mark.parametrize(
    ("value", "culprit"),
    [
        ("product,", None),
        (",product", None),
        ("product,,feature", None),
        (",", None),
        ("product, feature", None),
        ("product ,feature", None),
        ("product,nope", "nope"),
        ("product,Feature", "Feature"),
        ("product,feature,product", None),
        ("product,product", None),
        ("product,feature,api_key,file_type,product", None),
        ("product,feature,api_key,file_type,nope", None),
        ("product;feature", None),
        ("product|feature", None),
    ],
)
def test_edge_09_bad_group_by_lists_are_400_naming_group_by(
    tenant: Tenant, value: str, culprit: str | None
) -> None:
    error = assert_error(
        get(reader(tenant), {"groupBy": value}), 400, "invalid_parameter", "groupBy"
    )
    if culprit is not None:
        assert f"'{culprit}'" in error["message"]


def test_edge_09_group_by_suggests_a_close_name(tenant: Tenant) -> None:
    error = assert_error(
        get(reader(tenant), {"groupBy": "product,Feature"}), 400, "invalid_parameter", "groupBy"
    )
    assert "Did you mean 'feature'?" in error["message"]
    error = assert_error(
        get(reader(tenant), {"groupBy": "apiKey,product"}), 400, "invalid_parameter", "groupBy"
    )
    assert "'api_key'" in error["message"]


def test_edge_10_dimension_values(tenant: Tenant) -> None:
    send(
        tenant,
        [
            at(f"{DAY}T01:00:00Z", "none", credits=1),
            at(f"{DAY}T02:00:00Z", "literal", credits=2, feature="null"),
            at(f"{DAY}T03:00:00Z", "real", credits=4, feature="agentic", apiKey="key_a"),
            at(f"{DAY}T04:00:00Z", "other", product="split", credits=8, feature="null"),
        ],
    )
    grouped = [*ONE_DAY, ("groupBy", "product,feature")]
    assert_rows(
        rows_of(tenant, grouped),
        [
            r(DAY, "1.0", 1, product="parse", feature=None),
            r(DAY, "4.0", 1, product="parse", feature="agentic"),
            r(DAY, "2.0", 1, product="parse", feature="null"),
            r(DAY, "8.0", 1, product="split", feature="null"),
        ],
    )
    csv_text = csv_body(get(reader(tenant), [*grouped, ("format", "csv")]))
    assert csv_text == (
        b"date,product,feature,credits,requestCount\r\n"
        b"2026-05-19,parse,,1.0,1\r\n"
        b"2026-05-19,parse,agentic,4.0,1\r\n"
        b"2026-05-19,parse,null,2.0,1\r\n"
        b"2026-05-19,split,null,8.0,1\r\n"
    )
    # A filter on a grouped dimension and on one that is not.
    assert_rows(
        rows_of(tenant, [*grouped, ("feature", "null")]),
        [
            r(DAY, "2.0", 1, product="parse", feature="null"),
            r(DAY, "8.0", 1, product="split", feature="null"),
        ],
    )
    assert_rows(
        rows_of(tenant, [*ONE_DAY, ("groupBy", "product,api_key"), ("feature", "null")]),
        [
            r(DAY, "2.0", 1, product="parse", apiKey=None),
            r(DAY, "8.0", 1, product="split", apiKey=None),
        ],
    )
    assert_rows(
        rows_of(tenant, [*ONE_DAY, ("groupBy", "product,api_key"), ("apiKey", "key_a")]),
        [r(DAY, "4.0", 1, product="parse", apiKey="key_a")],
    )
    assert_rows(
        rows_of(tenant, [*grouped, ("product", "split"), ("feature", "null"), ("feature", "x")]),
        [r(DAY, "8.0", 1, product="split", feature="null")],
    )
    # Still no filter for null.
    assert rows_of(tenant, [*grouped, ("feature", "None")]) == []
    assert_error(
        get(reader(tenant), [*grouped, ("feature", "")]), 400, "invalid_parameter", "feature"
    )


@pytest.mark.parametrize(("value", "meant"), [("Hour", "hour"), ("DAY", "day"), ("Month", "month")])
def test_edge_11_bucket_width_is_case_sensitive(tenant: Tenant, value: str, meant: str) -> None:
    error = assert_error(
        get(reader(tenant), {"bucketWidth": value}), 400, "invalid_parameter", "bucketWidth"
    )
    assert f"'{meant}'" in error["message"]


@pytest.mark.parametrize("value", ["week", "minute", "year", "hours", "1h", "", " day", "day "])
def test_edge_11_other_bucket_widths_list_the_three(tenant: Tenant, value: str) -> None:
    error = assert_error(
        get(reader(tenant), {"bucketWidth": value}), 400, "invalid_parameter", "bucketWidth"
    )
    if value:
        for width in ("hour", "day", "month"):
            assert width in error["message"]


def test_edge_12_time_zone_utc_alone_adds_only_the_two_keys(tenant: Tenant) -> None:
    send(tenant, GROUPED)
    seed = get(reader(tenant), ONE_DAY)
    assert seed.status_code == 200
    assert b'"timeZone"' not in seed.content
    assert b'"bucketWidth"' not in seed.content
    assert b'"nextPage"' not in seed.content
    marker = b'"groupBy":"product",'
    assert seed.content.count(marker) == 1
    expected = seed.content.replace(marker, marker + b'"timeZone":"UTC","bucketWidth":"day",')
    for extra in (
        [("timeZone", "UTC")],
        [("bucketWidth", "day")],
        [("timeZone", "UTC"), ("bucketWidth", "day")],
    ):
        response = get(reader(tenant), [*ONE_DAY, *extra])
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == expected

    # Either one brings both, with the values used.
    kolkata = json_document(get(reader(tenant), [*ONE_DAY, ("timeZone", "Asia/Kolkata")]))
    assert (kolkata["timeZone"], kolkata["bucketWidth"]) == ("Asia/Kolkata", "day")
    hour = json_document(get(reader(tenant), [*ONE_DAY, ("bucketWidth", "hour")]))
    assert (hour["timeZone"], hour["bucketWidth"]) == ("UTC", "hour")
    month = json_document(get(reader(tenant), [*ONE_DAY, ("bucketWidth", "month")]))
    assert (month["timeZone"], month["bucketWidth"]) == ("UTC", "month")

    # The CSV of day rows is the seed's CSV.
    seed_csv = csv_body(get(reader(tenant), [*ONE_DAY, ("format", "csv")]))
    assert seed_csv.startswith(b"date,group,credits,requestCount\r\n")
    assert csv_body(get(reader(tenant), [*ONE_DAY, ("format", "csv"), ("timeZone", "UTC")])) == (
        seed_csv
    )


@pytest.mark.parametrize(("text", "size"), [("1", 1), ("0010", 10), ("10", 10), ("10000", 10_000)])
def test_edge_13_limit_digits_only(tenant: Tenant, text: str, size: int) -> None:
    send(tenant, [at(f"{DAY}T00:00:00Z", f"e{i}", product=f"p{i:02d}") for i in range(12)])
    document = json_document(get(reader(tenant), [*ONE_DAY, ("limit", text)]))
    assert len(document["data"]) == min(size, 12)
    assert (document["nextPage"] is None) == (size >= 12)


def test_edge_13_leading_zeros_continue_as_the_same_limit(tenant: Tenant) -> None:
    send(tenant, [at(f"{DAY}T00:00:00Z", f"e{i}", product=f"p{i:02d}") for i in range(12)])
    first = json_document(get(reader(tenant), [*ONE_DAY, ("limit", "0010")]))
    for same in ("0010", "10"):
        second = json_document(
            get(reader(tenant), [*ONE_DAY, ("limit", same), ("page", first["nextPage"])])
        )
        assert [row["group"] for row in second["data"]] == ["p10", "p11"]
        assert second["nextPage"] is None


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "00",
        "10001",
        "-1",
        "1.5",
        "abc",
        "+5",
        "1" * 30,
        "",
        " 5",
        "5 ",
        "1e3",
        "0x10",
        "1_000",
        "\uff11\uff10",  # fullwidth digits
        "\u0665",  # Arabic-Indic five
        "10.0",
    ],
)
def test_edge_13_limit_anything_else_is_400_naming_limit(tenant: Tenant, value: str) -> None:
    assert_error(get(reader(tenant), {"limit": value}), 400, "invalid_parameter", "limit")


def test_edge_14_last_page(tenant: Tenant) -> None:
    empty = get(reader(tenant), [*ONE_DAY, ("limit", "10")])
    assert json_document(empty)["data"] == []
    assert empty.content.endswith(b'"data":[],"nextPage":null}')

    send(tenant, [at(f"{DAY}T00:00:00Z", f"e{i}", product=f"p{i}") for i in range(4)])
    whole = json_document(get(reader(tenant), ONE_DAY))["data"]
    assert len(whole) == 4
    # limit equal to the row count is one page.
    one = json_document(get(reader(tenant), [*ONE_DAY, ("limit", "4")]))
    assert (one["data"], one["nextPage"]) == (whole, None)
    # A limit that divides the rows: the last full page says null, no empty page follows.
    pages = walk(reader(tenant), ONE_DAY, 2)
    assert [len(page["data"]) for page in pages] == [2, 2]
    assert pages[-1]["nextPage"] is None
    pages = walk(reader(tenant), ONE_DAY, 3)
    assert [len(page["data"]) for page in pages] == [3, 1]
    assert json_document(get(reader(tenant), [*ONE_DAY, ("limit", "5")]))["nextPage"] is None


@pytest.fixture
def paged(tenant: Tenant) -> Tenant:
    """A tenant whose 2026-05-19 by product has six rows."""
    send(tenant, [at(f"{DAY}T00:00:00Z", f"e{i}", product=f"p{i}") for i in range(6)])
    return tenant


_CURSOR_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_edge_15_cursors_are_url_safe_and_tamper_evident(paged: Tenant) -> None:
    client = reader(paged)
    cursor = first_page(client, ONE_DAY, 2)["nextPage"]
    assert isinstance(cursor, str)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor), cursor
    # It works as given...
    assert (
        len(json_document(get(client, [*ONE_DAY, ("limit", "2"), ("page", cursor)]))["data"]) == 2
    )

    def refused(text: str) -> None:
        assert_error(
            get(client, [*ONE_DAY, ("limit", "2"), ("page", text)]),
            400,
            "invalid_parameter",
            "page",
        )

    tampered: set[str] = set()
    for i, char in enumerate(cursor):
        # One character changed (two ways), removed, or added.
        for other in (
            _CURSOR_ALPHABET[(_CURSOR_ALPHABET.index(char) + 1) % 64],
            char.swapcase() if char.swapcase() != char else "0" if char != "0" else "1",
        ):
            tampered.add(cursor[:i] + other + cursor[i + 1 :])
        tampered.add(cursor[:i] + cursor[i + 1 :])
        tampered.add(cursor[:i] + "A" + cursor[i:])
    # Every other last character (base64's unused bits included).
    tampered.update(cursor[:-1] + other for other in _CURSOR_ALPHABET)
    tampered.update((cursor + "A", cursor + "=", cursor + "==", cursor + "!", "x" + cursor))
    tampered.discard(cursor)
    for text in sorted(tampered):
        refused(text)
    for text in ("x", "AAAA", "not a cursor", cursor.upper(), cursor[::-1], "%00", "null"):
        if text != cursor:
            refused(text)


def test_edge_16_same_query_variants_that_continue(service: Service, paged: Tenant) -> None:
    client = reader(paged)
    base: Params = [
        ("startDate", DAY),
        ("endDate", DAY),
        ("groupBy", "product"),
        ("product", "p1"),
        ("product", "p2"),
        ("product", "p3"),
        ("timeZone", "UTC"),
        ("bucketWidth", "day"),
    ]
    first = first_page(client, base, 2)
    assert [row["group"] for row in first["data"]] == ["p1", "p2"]
    cursor = first["nextPage"]
    variants: dict[str, Params] = {
        "as-given": base,
        "reordered": list(reversed(base)),
        "filter-values-reordered": [
            *base[:3],
            ("product", "p3"),
            ("product", "p1"),
            ("product", "p2"),
            *base[6:],
        ],
        "filter-value-repeated": [*base, ("product", "p1")],
        "format-json-added": [*base, ("format", "json")],
        "time-zone-default-left-out": [p for p in base if p[0] != "timeZone"],
        "bucket-width-default-left-out": [p for p in base if p[0] != "bucketWidth"],
        "both-defaults-left-out": [p for p in base if p[0] not in ("timeZone", "bucketWidth")],
        "group-by-default-left-out": [p for p in base if p[0] != "groupBy"],
        "org-id-given": [*base, ("orgId", paged.org_id)],
    }
    for name, params in variants.items():
        document = json_document(get(client, [*params, ("limit", "2"), ("page", cursor)]))
        assert [row["group"] for row in document["data"]] == ["p3"], name
        assert document["nextPage"] is None, name

    # format=json on the first page, dropped on the next.
    with_format = first_page(client, [*base, ("format", "json")], 2)["nextPage"]
    assert [
        row["group"] for row in rows_of(paged, [*base, ("limit", "2"), ("page", with_format)])
    ] == ["p3"]

    # Defaulted dates keep the first page's values; in a zone too.
    for zone in ("UTC", "Pacific/Kiritimati"):
        other = service.tenant()
        today = now_in(14 if zone != "UTC" else 0)
        send(
            other,
            [
                at(f"{today - timedelta(days=2)}T12:00:00Z", f"d{i}", product=f"p{i}")
                for i in range(3)
            ],
        )
        defaulted = json_document(get(reader(other), [("timeZone", zone), ("limit", "2")]))
        assert len(defaulted["data"]) == 2
        follow = json_document(
            get(
                reader(other), [("timeZone", zone), ("limit", "2"), ("page", defaulted["nextPage"])]
            )
        )
        assert (follow["startDate"], follow["endDate"]) == (
            defaulted["startDate"],
            defaulted["endDate"],
        )
        assert [row["group"] for row in follow["data"]] == ["p2"]
        assert follow["nextPage"] is None


@pytest.mark.parametrize(("zone", "hours"), [(None, 0), ("Pacific/Kiritimati", 14)])
def test_edge_16_a_range_that_ended_today_still_ends_on_that_day(
    tenant: Tenant, zone: str | None, hours: int
) -> None:
    # A first page asked three days ago, dates defaulted. Cursors carry no secret
    # (a cursor grants nothing), so the test writes that page's cursor as the server
    # would have: the clock cannot be turned back over HTTP.
    end = now_in(hours) - timedelta(days=3)
    start = end - timedelta(days=30)
    send(tenant, [at(f"{end}T00:00:00Z", f"e{i}", product=f"p{i}") for i in range(3)])
    asked = ExportQuery(
        start_date=start,
        end_date=end,
        time_zone=zone,
        limit=2,
        defaulted_start=True,
        defaulted_end=True,
    )
    local_end = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(hours=hours)
    cursor = cursors.encode(
        cursors.Cursor(
            query=query_fingerprint(asked, tenant.org_id),
            default_start=start,
            default_end=end,
            after_instant_us=int(local_end.timestamp()) * 1_000_000,
            after_values=("p0",),
        )
    )
    params: Params = [("limit", "2"), ("page", cursor)]
    if zone is not None:
        params.append(("timeZone", zone))
    document = json_document(get(reader(tenant), params))
    assert (document["startDate"], document["endDate"]) == (start.isoformat(), end.isoformat())
    assert [row["group"] for row in document["data"]] == ["p1", "p2"]
    assert document["nextPage"] is None
    # The same cursor with the dates spelt out is the same query; other dates are not.
    spelt = [("startDate", start.isoformat()), ("endDate", end.isoformat()), *params]
    assert json_document(get(reader(tenant), spelt))["data"] == document["data"]
    today = [("endDate", now_in(hours).isoformat()), *params]
    assert_error(get(reader(tenant), today), 400, "invalid_parameter", "page")


def test_edge_16_same_query_anything_else_is_400_naming_page(
    service: Service, paged: Tenant
) -> None:
    client = reader(paged)
    base: Params = [
        ("startDate", DAY),
        ("endDate", DAY),
        ("groupBy", "product,feature"),
        ("product", "p1"),
        ("product", "p2"),
        ("product", "p3"),
        ("timeZone", "UTC"),
        ("bucketWidth", "day"),
    ]
    cursor = first_page(client, base, 2)["nextPage"]
    assert cursor is not None
    elsewhere = service.tenant()
    add_member(service, elsewhere.org_id, paged.user_id)

    def replaced(name: str, value: str) -> Params:
        return [(n, value if n == name else v) for n, v in base]

    variants: dict[str, Params] = {
        "start-date": replaced("startDate", "2026-05-18"),
        "end-date": replaced("endDate", "2026-05-20"),
        "group-by-order": replaced("groupBy", "feature,product"),
        "group-by-other": replaced("groupBy", "product"),
        "time-zone": replaced("timeZone", "Europe/Berlin"),
        "bucket-width": replaced("bucketWidth", "month"),
        "filter-value-dropped": [p for p in base if p != ("product", "p3")],
        "filter-value-added": [*base, ("product", "p4")],
        "filter-added": [*base, ("feature", "x")],
        "org-id": [*base, ("orgId", elsewhere.org_id)],
    }
    for name, params in variants.items():
        response = get(client, [*params, ("limit", "2"), ("page", cursor)])
        assert response.status_code == 400, name
        assert_error(response, 400, "invalid_parameter", "page")
    assert_error(
        get(client, [*base, ("limit", "3"), ("page", cursor)]), 400, "invalid_parameter", "page"
    )
    assert_error(get(client, [*base, ("page", cursor)]), 400, "invalid_parameter", "page")


def test_edge_16_a_cursor_grants_nothing(service: Service, paged: Tenant) -> None:
    cursor = first_page(reader(paged), ONE_DAY, 2)["nextPage"]
    # Another member continues it, naming the organization.
    colleague = service.tenant()
    add_member(service, paged.org_id, colleague.user_id)
    continued = json_document(
        get(
            reader(colleague), [*ONE_DAY, ("orgId", paged.org_id), ("limit", "2"), ("page", cursor)]
        )
    )
    assert [row["group"] for row in continued["data"]] == ["p2", "p3"]
    # Without orgId it is another query (the colleague's own organization).
    assert_error(
        get(reader(colleague), [*ONE_DAY, ("limit", "2"), ("page", cursor)]),
        400,
        "invalid_parameter",
        "page",
    )
    # A stranger holding the cursor is forbidden, like any non-member.
    stranger = service.tenant()
    assert_error(
        get(
            reader(stranger), [*ONE_DAY, ("orgId", paged.org_id), ("limit", "2"), ("page", cursor)]
        ),
        403,
        "forbidden",
        "orgId",
    )
    # Membership is checked on every page: once removed, the cursor is no use.
    remove_member(service, paged.org_id, colleague.user_id)
    assert_error(
        get(
            reader(colleague), [*ONE_DAY, ("orgId", paged.org_id), ("limit", "2"), ("page", cursor)]
        ),
        403,
        "forbidden",
        "orgId",
    )


def test_edge_17_data_that_changes_between_pages(tenant: Tenant) -> None:
    later = "2026-05-20"
    send(
        tenant,
        [
            at(f"{DAY}T01:00:00Z", "a", product="a", credits=1),
            at(f"{DAY}T01:00:00Z", "c", product="c", credits=1),
            at(f"{later}T01:00:00Z", "a2", product="a", credits=1),
        ],
    )
    params: Params = [("startDate", DAY), ("endDate", later)]
    first = first_page(reader(tenant), params, 2)
    assert_rows(first["data"], [r(DAY, "1.0", 1, group="a"), r(DAY, "1.0", 1, group="c")])
    send(
        tenant,
        [
            at(f"{DAY}T02:00:00Z", "a-more", product="a", credits=10),  # into a returned row
            at(f"{DAY}T02:00:00Z", "b-new", product="b", credits=10),  # new, before the position
            at(f"{DAY}T02:00:00Z", "d-new", product="d", credits=2),  # new, after it
            at(f"{later}T02:00:00Z", "a2-more", product="a", credits=2),  # after it
        ],
    )
    second = json_document(
        get(reader(tenant), [*params, ("limit", "2"), ("page", first["nextPage"])])
    )
    assert_rows(second["data"], [r(DAY, "2.0", 1, group="d"), r(later, "3.0", 2, group="a")])
    assert second["nextPage"] is None

    # The same with several dimensions and a null position.
    other = tenant.service.tenant()
    send(
        other,
        [
            at(f"{DAY}T01:00:00Z", "x1", product="a", credits=1),
            at(f"{DAY}T01:00:00Z", "x2", product="a", feature="f", credits=1),
            at(f"{DAY}T01:00:00Z", "x3", product="b", credits=1),
        ],
    )
    grouped: Params = [*ONE_DAY, ("groupBy", "product,feature")]
    page = first_page(reader(other), grouped, 1)
    assert_rows(page["data"], [r(DAY, "1.0", 1, product="a", feature=None)])
    send(
        other,
        [
            at(f"{DAY}T02:00:00Z", "y1", product="a", credits=5),  # the returned (a, null)
            at(f"{DAY}T02:00:00Z", "y2", product="a", feature="e", credits=5),  # after it
        ],
    )
    seen: list[dict[str, Any]] = []
    cursor = page["nextPage"]
    while cursor is not None:
        step = json_document(get(reader(other), [*grouped, ("limit", "1"), ("page", cursor)]))
        seen.extend(step["data"])
        cursor = step["nextPage"]
    assert_rows(
        seen,
        [
            r(DAY, "5.0", 1, product="a", feature="e"),
            r(DAY, "1.0", 1, product="a", feature="f"),
            r(DAY, "1.0", 1, product="b", feature=None),
        ],
    )


def test_edge_17_data_that_changes_between_pages_of_local_hours(tenant: Tenant) -> None:
    # Asia/Kolkata hours: 01:10Z is in 06:00+05:30, 02:10Z in 07:00+05:30.
    send(
        tenant,
        [
            at(f"{DAY}T01:10:00Z", "a", product="a"),
            at(f"{DAY}T01:10:00Z", "c", product="c"),
            at(f"{DAY}T02:10:00Z", "a2", product="a"),
        ],
    )
    params: Params = [*ONE_DAY, ("timeZone", "Asia/Kolkata"), ("bucketWidth", "hour")]
    six, seven = f"{DAY}T06:00:00+05:30", f"{DAY}T07:00:00+05:30"
    first = first_page(reader(tenant), params, 2)
    assert_rows(
        first["data"],
        [r(DAY, "1.0", 1, start=six, group="a"), r(DAY, "1.0", 1, start=six, group="c")],
    )
    send(
        tenant,
        [
            at(f"{DAY}T01:20:00Z", "a-more", product="a", credits=10),  # a returned row
            at(f"{DAY}T01:20:00Z", "b-new", product="b", credits=10),  # before the position
            at(f"{DAY}T00:20:00Z", "earlier", product="z", credits=10),  # an earlier bucket
            at(f"{DAY}T01:20:00Z", "d-new", product="d", credits=2),  # after it
            at(f"{DAY}T02:20:00Z", "a2-more", product="a", credits=2),  # after it
        ],
    )
    second = json_document(
        get(reader(tenant), [*params, ("limit", "2"), ("page", first["nextPage"])])
    )
    assert_rows(
        second["data"],
        [r(DAY, "2.0", 1, start=six, group="d"), r(DAY, "3.0", 2, start=seven, group="a")],
    )
    assert second["nextPage"] is None


def test_edge_18_csv_and_pages(paged: Tenant) -> None:
    client = reader(paged)
    cursor = first_page(client, ONE_DAY, 2)["nextPage"]
    asks: list[tuple[Params, dict[str, str]]] = [
        ([("format", "csv")], {}),
        ([], {"Accept": "text/csv"}),
        ([], {"Accept": "text/csv, application/json"}),
    ]
    for extra, headers in asks:
        assert_error(
            get(client, [*ONE_DAY, *extra, ("limit", "2")], **headers),
            400,
            "invalid_parameter",
            "limit",
        )
        assert_error(
            get(client, [*ONE_DAY, *extra, ("limit", "2"), ("page", cursor)], **headers),
            400,
            "invalid_parameter",
            "limit",
        )
        assert_error(
            get(client, [*ONE_DAY, *extra, ("page", cursor)], **headers),
            400,
            "invalid_parameter",
            "page",
        )
    # An explicit format=json wins over Accept: pages work.
    document = json_document(
        get(client, [*ONE_DAY, ("format", "json"), ("limit", "2")], Accept="text/csv")
    )
    assert len(document["data"]) == 2
    # The whole CSV, unpaginated.
    lines = csv_lines(get(client, [*ONE_DAY, ("format", "csv")]))
    assert [line[1] for line in lines[1:]] == [f"p{i}" for i in range(6)]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_edge_19_a_large_answer_is_streamed(tenant: Tenant, fmt: str) -> None:
    count = 1_200
    send(
        tenant,
        [at(f"{DAY}T00:00:00Z", f"e{i}", product=f"p{i:05d}", credits=0.5) for i in range(count)],
    )
    with reader(tenant).stream("GET", EXPORT, params=[*ONE_DAY, ("format", fmt)]) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        assert response.headers.get("transfer-encoding") == "chunked"
        body = response.read()
    if fmt == "json":
        assert response.headers["content-type"] == "application/json"
        document = json.loads(body, parse_float=str)
        assert document["data"] == [r(DAY, "0.5", 1, group=f"p{i:05d}") for i in range(count)]
    else:
        assert response.headers["content-type"] == CSV_TYPE
        assert body == b"date,group,credits,requestCount\r\n" + b"".join(
            f"{DAY},p{i:05d},0.5,1\r\n".encode() for i in range(count)
        )
    # The same bytes as a non-streaming read, and paged with limit: not streamed
    # (nothing pins that), but the pages make up the whole.
    whole = get(reader(tenant), [*ONE_DAY, ("format", fmt)])
    assert whole.content == body
    if fmt == "json":
        pages = walk(reader(tenant), ONE_DAY, 1000)
        assert [row for page in pages for row in page["data"]] == json.loads(body, parse_float=str)[
            "data"
        ]


def test_edge_19_hourly_answer_of_many_dimensions_is_streamed(tenant: Tenant) -> None:
    # 31 days x 24 hours x 2 values: 1,488 rows in hour buckets, CSV.
    start = date(2026, 5, 1)
    send(
        tenant,
        [
            at(
                f"{start + timedelta(days=d)}T{h:02d}:30:00Z",
                f"h{d}-{h}-{k}",
                product="parse",
                feature=k,
            )
            for d in range(31)
            for h in range(24)
            for k in ("a", "b")
        ],
    )
    params = [
        ("startDate", "2026-05-01"),
        ("endDate", "2026-05-31"),
        ("bucketWidth", "hour"),
        ("groupBy", "product,feature"),
        ("format", "csv"),
    ]
    with reader(tenant).stream("GET", EXPORT, params=params) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        assert response.headers.get("transfer-encoding") == "chunked"
        lines = response.read().split(b"\r\n")
    assert lines[0] == b"date,start,product,feature,credits,requestCount"
    assert lines[1] == b"2026-05-01,2026-05-01T00:00:00+00:00,parse,a,1.0,1"
    assert lines[-2] == b"2026-05-31,2026-05-31T23:00:00+00:00,parse,b,1.0,1"
    assert lines[-1] == b""
    assert len(lines) == 1 + 1_488 + 1


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("time_zone", "timeZone"),
        ("timezone", "timeZone"),
        ("bucket_width", "bucketWidth"),
        ("granularity", "bucketWidth"),
        ("page_size", "limit"),
        ("pageSize", "limit"),
        ("per_page", "limit"),
        ("cursor", "page"),
        ("nextPage", "page"),
    ],
)
def test_edge_20_order_of_checks_unknown_names_suggest_the_new_ones(
    tenant: Tenant, name: str, meant: str
) -> None:
    error = assert_error(
        get(reader(tenant), [(name, "x"), ("timeZone", "nope"), ("limit", "0")]),
        400,
        "unknown_parameter",
        name,
    )
    assert f"Did you mean '{meant}'?" in error["message"]


def test_edge_20_order_of_checks_unknown_name_message_lists_the_new_names(tenant: Tenant) -> None:
    error = assert_error(get(reader(tenant), {"zzz": "1"}), 400, "unknown_parameter", "zzz")
    for known in ("startDate", "format", "timeZone", "bucketWidth", "limit", "page"):
        assert f"'{known}'" in error["message"]


@pytest.mark.parametrize("name", ["timeZone", "bucketWidth", "limit", "page"])
def test_edge_20_order_of_checks_duplicates(tenant: Tenant, name: str) -> None:
    value = {"timeZone": "UTC", "bucketWidth": "day", "limit": "5", "page": "x"}[name]
    assert_error(
        get(reader(tenant), [(name, value), (name, value)]), 400, "duplicate_parameter", name
    )
    # Names twice before any value is looked at.
    assert_error(
        get(reader(tenant), [("groupBy", "nope"), (name, value), (name, value)]),
        400,
        "duplicate_parameter",
        name,
    )


def test_edge_20_order_of_checks(service: Service, paged: Tenant) -> None:
    client = reader(paged)
    cursor = first_page(client, ONE_DAY, 2)["nextPage"]
    stranger = service.tenant()
    long_range = [("startDate", "2020-01-01"), ("endDate", "2026-01-01")]
    backwards = [("startDate", "2026-05-10"), ("endDate", "2026-05-01")]
    hour_range = [("startDate", "2026-01-01"), ("endDate", "2026-02-01"), ("bucketWidth", "hour")]
    cases: list[tuple[str, Params, str, str | None]] = [
        (
            "unknown-before-duplicates",
            [("tz", "x"), ("limit", "1"), ("limit", "2")],
            "unknown_parameter",
            "tz",
        ),
        (
            "duplicate-before-values",
            [("timeZone", "nope"), ("page", "a"), ("page", "b")],
            "duplicate_parameter",
            "page",
        ),
        (
            "format-before-time-zone",
            [("timeZone", "nope"), ("format", "xml")],
            "invalid_parameter",
            "format",
        ),
        (
            "filters-before-time-zone",
            [("timeZone", "nope"), ("fileType", "")],
            "invalid_parameter",
            "fileType",
        ),
        (
            "group-by-before-time-zone",
            [("timeZone", "nope"), ("groupBy", "product,")],
            "invalid_parameter",
            "groupBy",
        ),
        (
            "time-zone-before-bucket-width",
            [("bucketWidth", "week"), ("timeZone", "nope")],
            "invalid_parameter",
            "timeZone",
        ),
        (
            "bucket-width-before-limit",
            [("limit", "0"), ("bucketWidth", "week")],
            "invalid_parameter",
            "bucketWidth",
        ),
        ("limit-before-page", [("page", "junk"), ("limit", "0")], "invalid_parameter", "limit"),
        (
            "unissued-page-before-start-after-end",
            [*backwards, ("limit", "2"), ("page", "junk")],
            "invalid_parameter",
            "page",
        ),
        (
            "unissued-page-with-csv",
            [("format", "csv"), ("page", "junk")],
            "invalid_parameter",
            "page",
        ),
        (
            "unissued-page-before-range",
            [*long_range, ("limit", "2"), ("page", "junk")],
            "invalid_parameter",
            "page",
        ),
        (
            "start-after-end-before-range",
            [("startDate", "2026-05-10"), ("endDate", "2020-01-01")],
            "invalid_parameter",
            None,
        ),
        (
            "start-after-end-before-csv-limit",
            [*backwards, ("format", "csv"), ("limit", "2")],
            "invalid_parameter",
            None,
        ),
        (
            "range-before-csv-limit",
            [*long_range, ("format", "csv"), ("limit", "2")],
            "range_too_long",
            None,
        ),
        (
            "hour-range-before-csv-limit",
            [*hour_range, ("format", "csv"), ("limit", "2")],
            "range_too_long",
            None,
        ),
        (
            "range-before-cursor-of-another-query",
            [*long_range, ("limit", "2"), ("page", cursor)],
            "range_too_long",
            None,
        ),
        (
            "csv-limit-before-cursor-of-another-query",
            [("format", "csv"), ("limit", "2"), ("page", cursor)],
            "invalid_parameter",
            "limit",
        ),
        (
            "cursor-of-another-query-before-membership",
            [("orgId", stranger.org_id), *ONE_DAY, ("limit", "2"), ("page", cursor)],
            "invalid_parameter",
            "page",
        ),
        (
            "range-before-membership",
            [("orgId", stranger.org_id), *hour_range],
            "range_too_long",
            None,
        ),
        (
            "time-zone-before-membership",
            [("orgId", stranger.org_id), ("timeZone", "nope")],
            "invalid_parameter",
            "timeZone",
        ),
    ]
    for name, params, code, param in cases:
        response = get(client, params)
        assert response.status_code == 400, (name, response.text)
        assert_error(response, 400, code, param)
    # Membership last: a clean request for a stranger's organization is 403.
    assert_error(
        get(client, [("orgId", stranger.org_id), ("timeZone", "Europe/Berlin"), ("limit", "2")]),
        403,
        "forbidden",
        "orgId",
    )


# -- Document, Rows, Pages -----------------------------------------------------------------


def test_document_keys_in_order_and_nextpage_only_with_limit(tenant: Tenant) -> None:
    send(tenant, GROUPED)
    hourly: Params = [
        *ONE_DAY,
        ("groupBy", "product,feature"),
        ("timeZone", "Europe/Berlin"),
        ("bucketWidth", "hour"),
    ]
    paged = json_document(get(reader(tenant), [*hourly, ("limit", "2")]))
    assert list(paged) == [
        "orgId",
        "startDate",
        "endDate",
        "groupBy",
        "timeZone",
        "bucketWidth",
        "data",
        "nextPage",
    ]
    assert paged["groupBy"] == "product,feature"
    for row in paged["data"]:
        assert list(row) == ["date", "start", "product", "feature", "credits", "requestCount"]
    whole = json_document(get(reader(tenant), hourly))
    assert list(whole) == [
        "orgId",
        "startDate",
        "endDate",
        "groupBy",
        "timeZone",
        "bucketWidth",
        "data",
    ]

    limit_only = json_document(get(reader(tenant), [*ONE_DAY, ("limit", "2")]))
    assert list(limit_only) == ["orgId", "startDate", "endDate", "groupBy", "data", "nextPage"]
    for row in limit_only["data"]:
        assert list(row) == ["date", "group", "credits", "requestCount"]

    days = json_document(
        get(reader(tenant), [*ONE_DAY, ("groupBy", "product,api_key"), ("bucketWidth", "day")])
    )
    for row in days["data"]:
        assert list(row) == ["date", "product", "apiKey", "credits", "requestCount"]
    months = json_document(
        get(reader(tenant), [*ONE_DAY, ("groupBy", "file_type,feature"), ("bucketWidth", "month")])
    )
    for row in months["data"]:
        assert list(row) == ["date", "fileType", "feature", "credits", "requestCount"]
    assert months["data"]


def test_csv_header_is_the_row_keys(tenant: Tenant) -> None:
    send(tenant, GROUPED)
    hourly: Params = [
        *ONE_DAY,
        ("groupBy", "product,feature"),
        ("bucketWidth", "hour"),
        ("timeZone", "Asia/Kolkata"),
        ("format", "csv"),
    ]
    assert csv_body(get(reader(tenant), hourly)) == (
        b"date,start,product,feature,credits,requestCount\r\n"
        b"2026-05-19,2026-05-19T06:00:00+05:30,parse,agentic,1.0,1\r\n"
        b"2026-05-19,2026-05-19T07:00:00+05:30,parse,,2.0,1\r\n"
        b"2026-05-19,2026-05-19T08:00:00+05:30,extract,agentic,4.0,1\r\n"
        b"2026-05-19,2026-05-19T09:00:00+05:30,parse,agentic,8.0,1\r\n"
    )
    one = [*ONE_DAY, ("groupBy", "feature"), ("bucketWidth", "hour"), ("format", "csv")]
    assert csv_body(get(reader(tenant), one)) == (
        b"date,start,group,credits,requestCount\r\n"
        b"2026-05-19,2026-05-19T01:00:00+00:00,agentic,1.0,1\r\n"
        b"2026-05-19,2026-05-19T02:00:00+00:00,,2.0,1\r\n"
        b"2026-05-19,2026-05-19T03:00:00+00:00,agentic,4.0,1\r\n"
        b"2026-05-19,2026-05-19T04:00:00+00:00,agentic,8.0,1\r\n"
    )
    months = [
        *ONE_DAY,
        ("groupBy", "api_key,file_type"),
        ("bucketWidth", "month"),
        ("format", "csv"),
    ]
    assert csv_body(get(reader(tenant), months)) == (
        b"date,apiKey,fileType,credits,requestCount\r\n"
        b"2026-05-19,,pdf,6.0,2\r\n"
        b"2026-05-19,key_a,,1.0,1\r\n"
        b"2026-05-19,key_b,,8.0,1\r\n"
    )


def test_rows_order_by_bucket_then_each_dimension_in_byte_order_null_first(tenant: Tenant) -> None:
    # Byte order: "Z" < "a" < "é" (0xC3 0xA9) < "😀"; null before any value.
    values = ["a", "Z", "\u00e9", "\U0001f600", None]
    events = []
    for h in (2, 1):
        for i, product in enumerate(values):
            for j, feature in enumerate(["b", None, "B"]):
                fields: dict[str, Any] = {"feature": feature} if feature else {}
                events.append(
                    at(
                        f"{DAY}T{h:02d}:00:00Z",
                        f"o{h}-{i}-{j}",
                        product=product or "x",
                        **fields,
                    )
                )
    send(tenant, events)
    document = json_document(
        get(
            reader(tenant),
            [*ONE_DAY, ("groupBy", "product,feature"), ("bucketWidth", "hour")],
        )
    )
    keys = [(row["start"], row["product"], row["feature"]) for row in document["data"]]
    products = ["Z", "a", "x", "\u00e9", "\U0001f600"]
    features = [None, "B", "b"]
    assert keys == [
        (f"{DAY}T{h:02d}:00:00+00:00", p, f) for h in (1, 2) for p in products for f in features
    ]


def test_pages_concatenate_to_the_whole_answer(tenant: Tenant) -> None:
    # The fall-back day in Berlin (two buckets at 02:00), nulls in each dimension.
    events = []
    for n, timestamp in enumerate(
        [
            "2026-10-24T23:10:00Z",
            "2026-10-25T00:10:00Z",
            "2026-10-25T01:10:00Z",
            "2026-10-25T02:10:00Z",
        ]
    ):
        for product in ("b", "a"):
            for feature in (None, "y", "x"):
                fields: dict[str, Any] = {"feature": feature} if feature else {}
                events.append(at(timestamp, f"{n}-{product}-{feature}", product=product, **fields))
    send(tenant, events)
    params: Params = [
        ("startDate", "2026-10-25"),
        ("endDate", "2026-10-25"),
        ("timeZone", "Europe/Berlin"),
        ("bucketWidth", "hour"),
        ("groupBy", "feature,product"),
    ]
    whole = json_document(get(reader(tenant), params))["data"]
    assert len(whole) == 24
    assert [row["start"] for row in whole[::6]] == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    for limit in (1, 2, 5, 6, 7, 23, 24, 25, 10_000):
        pages = walk(reader(tenant), params, limit)
        assert [row for page in pages for row in page["data"]] == whole, limit
        assert len(pages) == max(1, -(-len(whole) // limit))
        for page in pages:
            assert {k: v for k, v in page.items() if k not in ("data", "nextPage")} == {
                "orgId": tenant.org_id,
                "startDate": "2026-10-25",
                "endDate": "2026-10-25",
                "groupBy": "feature,product",
                "timeZone": "Europe/Berlin",
                "bucketWidth": "hour",
            }


def test_no_new_parameter_answers_as_before(tenant: Tenant) -> None:
    send(tenant, GROUPED)
    document = get(reader(tenant), ONE_DAY)
    assert (
        document.content
        == (
            f'{{"orgId":"{tenant.org_id}","startDate":"{DAY}","endDate":"{DAY}",'
            '"groupBy":"product","data":['
            f'{{"date":"{DAY}","group":"extract","credits":4.0,"requestCount":1}},'
            f'{{"date":"{DAY}","group":"parse","credits":11.0,"requestCount":3}}]}}'
        ).encode()
    )
    # A single groupBy error keeps the seed's status, code and param.
    assert_error(get(reader(tenant), {"groupBy": "nope"}), 400, "invalid_parameter", "groupBy")
    assert_error(get(reader(tenant), {"start_date": DAY}), 400, "unknown_parameter", "start_date")


# -- edge case 19 over a raw socket: the snapshot, and a failure mid-stream ------------------
#
# The client's receive buffer is kept small and the client stops reading after
# the first bytes, so the server is held mid-answer (its writes wait) while the
# test changes the data or breaks the database connection under it.

_STREAMED_DAYS = 31
# Larger than the sockets can hold between a slow client and the server (Linux lets
# a send buffer grow to 4 MiB), so the server is still streaming when a test looks.
_STREAMED_PRODUCTS = 80
_STREAMED = [
    ("startDate", "2026-05-01"),
    ("endDate", "2026-05-31"),
    ("bucketWidth", "hour"),
]


def _record_streamed(tenant: Tenant) -> None:
    """31 days x 24 hours x 80 products: 59,520 hour rows (about 6 MB of JSON)."""
    events = [
        at(
            f"{date(2026, 5, 1) + timedelta(days=d)}T{h:02d}:00:00Z",
            f"s{d}-{h}-{p}",
            product=f"p{p:02d}",
        )
        for d in range(_STREAMED_DAYS)
        for h in range(24)
        for p in range(_STREAMED_PRODUCTS)
    ]
    for at_most in range(0, len(events), 10_000):
        send(tenant, events[at_most : at_most + 10_000])


def _open_slow_reader(tenant: Tenant, params: Params) -> socket.socket:
    """A GET whose client reads slowly: a 4 KiB receive buffer, nothing read yet."""
    url = httpx.URL(tenant.service.url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect((url.host, url.port))
    target = f"{EXPORT}?{urlencode(params)}"
    sock.sendall(
        (
            f"GET {target} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            f"Authorization: Bearer {tenant.key}\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
    )
    return sock


def _read_at_least(sock: socket.socket, buffer: bytearray, size: int) -> None:
    while len(buffer) < size:
        data = sock.recv(4096)
        if not data:
            return
        buffer += data


def _read_to_end(sock: socket.socket, buffer: bytearray) -> None:
    while data := sock.recv(65536):
        buffer += data


def _dechunked(raw: bytes) -> tuple[bytes, bool]:
    """The body of a chunked HTTP answer, and whether its final (empty) chunk came."""
    body = bytearray()
    at_ = 0
    while True:
        line_end = raw.find(b"\r\n", at_)
        if line_end < 0:
            return bytes(body), False
        size = int(raw[at_:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(body), raw[line_end + 2 : line_end + 4] == b"\r\n"
        start = line_end + 2
        if len(raw) < start + size + 2:
            body += raw[start : start + size]
            return bytes(body), False
        body += raw[start : start + size]
        at_ = start + size + 2


def _head_and_rest(buffer: bytes) -> tuple[str, bytes]:
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head.decode("latin-1").lower(), rest


def test_edge_19_a_streamed_answer_is_one_snapshot(tenant: Tenant) -> None:
    _record_streamed(tenant)
    sock = _open_slow_reader(tenant, _STREAMED)
    try:
        buffer = bytearray()
        _read_at_least(sock, buffer, 16_384)
        head, _ = _head_and_rest(bytes(buffer))
        assert head.startswith("http/1.1 200"), head
        assert "transfer-encoding: chunked" in head
        assert "content-length" not in head
        # One batch (one transaction) into the first row and the last one, and a
        # new row at the end: the answer has all of it or none.
        send(
            tenant,
            [
                at("2026-05-01T00:30:00Z", "late-first", product="p00", credits=100),
                at("2026-05-31T23:30:00Z", "late-last", product="p00", credits=100),
                at("2026-05-31T23:30:00Z", "late-new", product="q", credits=100),
            ],
        )
        _read_to_end(sock, buffer)
    finally:
        sock.close()
    body, complete = _dechunked(_head_and_rest(bytes(buffer))[1])
    assert complete
    rows = json.loads(body, parse_float=str)["data"]
    first, last = rows[0], rows[-_STREAMED_PRODUCTS]
    assert (first["start"], first["group"], first["credits"]) == (
        "2026-05-01T00:00:00+00:00",
        "p00",
        "1.0",
    )
    assert "q" not in {row["group"] for row in rows[-_STREAMED_PRODUCTS - 1 :]}
    assert (last["start"], last["group"], last["credits"]) == (
        "2026-05-31T23:00:00+00:00",
        "p00",
        "1.0",
    ), "rows read after the batch landed must not see it"
    assert len(rows) == _STREAMED_DAYS * 24 * _STREAMED_PRODUCTS
    # The batch did land: a new answer has it.
    after = rows_of(tenant, _STREAMED)
    assert len(after) == len(rows) + 1
    assert (after[0]["credits"], after[-_STREAMED_PRODUCTS - 1]["credits"]) == ("101.0", "101.0")


#: A server whose background work (settling days, looking at the webhook outbox)
#: stays out of a test's way once it has started: for tests that look at the
#: server's own database sessions or connection pool while it streams.
_QUIET = {"export_rate_limit": 0, "settle_after_seconds": 10**9, "webhook_poll_seconds": 3600}


def test_edge_19_a_failure_after_the_first_byte_aborts_the_connection(
    store_kind: str, make_service: Callable[..., Service]
) -> None:
    if store_kind != "postgresql":
        pytest.skip(
            "breaking a SQLite read mid-stream needs a mock; on PostgreSQL the test ends "
            "the export's own database session"
        )
    # A server of its own, whose background work stays out of the way: on the shared
    # one, a settling pass over earlier tests' days or a look at the webhook outbox is
    # also a session idle in a transaction now and then, and ending that one instead
    # let the export finish whole (a failure seen once in CI).
    server = make_service(**_QUIET)
    tenant = server.tenant()
    _record_streamed(tenant)
    # The export's read transaction, once the server has filled the socket and waits
    # for the client: a session idle in its transaction for a while (until then it may
    # be reading its next rows, "active", or between two statements for a moment).
    waiting = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state = 'idle in transaction' "
        "AND clock_timestamp() - state_change > interval '300 milliseconds'"
    )
    with server.store.engine.connect() as connection:
        before = {pid for (pid,) in connection.exec_driver_sql(waiting)}
    sock = _open_slow_reader(tenant, _STREAMED)
    try:
        buffer = bytearray()
        _read_at_least(sock, buffer, 16_384)
        head, _ = _head_and_rest(bytes(buffer))
        assert head.startswith("http/1.1 200"), head
        deadline = time.monotonic() + 10
        while True:
            # A new transaction each time: PostgreSQL keeps one snapshot of its
            # activity statistics per transaction.
            with server.store.engine.connect() as connection:
                export_session = {pid for (pid,) in connection.exec_driver_sql(waiting)} - before
            if export_session or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        with server.store.engine.connect() as connection:
            assert len(export_session) == 1
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(%s)", (export_session.pop(),)
            ).all()
        _read_to_end(sock, buffer)
    finally:
        sock.close()
    body, complete = _dechunked(_head_and_rest(bytes(buffer))[1])
    assert not complete, "a broken answer must not end like a whole one"
    with pytest.raises(ValueError):
        json.loads(body)
    # The server still answers.
    assert len(rows_of(tenant, [*ONE_DAY, ("limit", "1")])) == 1


def test_edge_19_a_client_that_goes_away_mid_stream_frees_its_snapshot(
    make_service: Callable[..., Service],
) -> None:
    # The server runs in this process, so its connection pool can be looked at:
    # the stream holds one connection (its read transaction) while it lasts, and
    # must give it back when the client leaves, not at some later garbage collection.
    # (Its background work would check out connections of the same pool.)
    server = make_service(**_QUIET)
    tenant = server.tenant()
    _record_streamed(tenant)
    pool = server.store.engine.pool
    sock = _open_slow_reader(tenant, _STREAMED)
    try:
        buffer = bytearray()
        _read_at_least(sock, buffer, 16_384)
        assert _head_and_rest(bytes(buffer))[0].startswith("http/1.1 200")
        assert pool.checkedout() == 1
    finally:
        sock.close()
    deadline = time.monotonic() + 5
    while pool.checkedout() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.checkedout() == 0, "the stream's read transaction outlived its client"


def _peak_bytes_while_streaming(client: httpx.Client, params: Params) -> tuple[int, int]:
    """(answer bytes, peak memory traced in this process, the server included, while
    the answer is read and thrown away)."""
    tracemalloc.start()
    try:
        size = 0
        with client.stream("GET", EXPORT, params=params) as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers
            for chunk in response.iter_raw():
                size += len(chunk)
        return size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("zone", [None, "Europe/Berlin"])
def test_edge_19_the_server_never_holds_the_whole_answer(tenant: Tenant, zone: str | None) -> None:
    # 336 days x 150 products. The server runs in this process, so its memory is
    # traced: reading twelve times the rows must not take about twelve times the
    # memory (a whole answer read into a list does).
    products, days = 150, 336
    first = date(2025, 6, 1)
    events = [
        at(f"{first + timedelta(days=d)}T12:00:00Z", f"m{d}-{p}", product=f"p{p:03d}")
        for d in range(days)
        for p in range(products)
    ]
    for at_most in range(0, len(events), 10_000):
        send(tenant, events[at_most : at_most + 10_000])
    zoned: Params = [("timeZone", zone)] if zone else []
    short: Params = [("startDate", str(first)), ("endDate", str(first + timedelta(days=27)))]
    whole: Params = [("startDate", str(first)), ("endDate", str(first + timedelta(days=days - 1)))]
    small_size, small_peak = _peak_bytes_while_streaming(reader(tenant), [*short, *zoned])
    large_size, large_peak = _peak_bytes_while_streaming(reader(tenant), [*whole, *zoned])
    assert large_size > 10 * small_size
    assert large_peak < 3 * small_peak, (
        f"{large_size:,} bytes took {large_peak:,} bytes of memory; "
        f"{small_size:,} bytes took {small_peak:,}"
    )
