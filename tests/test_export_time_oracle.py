"""The export in local time, by bucket width and by several dimensions, against an oracle.

Hypothesis draws events around the days the clocks change (Europe/Berlin,
America/New_York and Australia/Lord_Howe in 2025 and 2026), around local
midnights of Asia/Kathmandu and Asia/Kolkata, and at random, records them over
real HTTP into a fresh organization, then asks for random exports: a zone, a
bucket width, a ``groupBy`` list of one to four dimensions, filters, dates
around the events. The oracle here recomputes each answer from the events
alone, with :mod:`zoneinfo` (on the pinned tzdata) and :class:`~decimal.Decimal`,
following ``export-time-and-dimensions.md``; it uses nothing of creditmeter's
export, buckets or rendering. The JSON answer must equal it, the CSV must say
the same rows, and pages of a random ``limit`` must put the answer back together.

The same oracle then meets buckets off the quarter hour (offsets before 1980,
Goose Bay's 00:01 changes), days that never were, any zone of the database
around its changes (the zone files are read by ``tests/test_buckets.py``,
not by creditmeter), usage recorded between two pages (edge case 17) and
while a large answer streams (edge case 19).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from creditmeter.settling import settle
from creditmeter.store import pairs as settled_rollups
from tests.conftest import Service, Tenant
from tests.test_buckets import file_offset, offset_changes

EXPORT = "/api/v1/usage/export"
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Asia/Calcutta",  # a link, echoed as given (edge case 1)
    "Etc/GMT+5",  # five hours behind UTC
    "Pacific/Kiritimati",  # +14:00: today there is often tomorrow in UTC (edge case 5)
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Instants where the clocks change (checked below), and local midnights of odd offsets.
CHANGES = [
    utc("2025-03-30T01:00:00"),  # Berlin +01:00 → +02:00
    utc("2025-10-26T01:00:00"),  # Berlin +02:00 → +01:00
    utc("2026-03-29T01:00:00"),
    utc("2026-10-25T01:00:00"),
    utc("2025-03-09T07:00:00"),  # New York -05:00 → -04:00
    utc("2025-11-02T06:00:00"),  # New York -04:00 → -05:00
    utc("2026-03-08T07:00:00"),
    utc("2026-11-01T06:00:00"),
    utc("2025-04-05T15:00:00"),  # Lord Howe +11:00 → +10:30 (02:00 → 01:30)
    utc("2025-10-04T15:30:00"),  # Lord Howe +10:30 → +11:00 (02:00 → 02:30)
    utc("2026-04-04T15:00:00"),
    utc("2026-10-03T15:30:00"),
]
MIDNIGHTS = [
    utc("2025-06-30T18:15:00"),  # 2025-07-01 in Kathmandu (+05:45)
    utc("2025-12-31T18:15:00"),  # 2026-01-01 in Kathmandu
    utc("2026-02-28T18:30:00"),  # 2026-03-01 in Kolkata (+05:30)
    utc("2026-07-31T18:15:00"),  # 2026-08-01 in Kathmandu
]
ANCHORS = CHANGES + MIDNIGHTS
FIRST_RANDOM = utc("2025-01-01T00:00:00")
# Events may be up to 24 h ahead; keep the random ones safely in the past.
LAST_RANDOM = datetime.now(UTC) - timedelta(days=2)

PRODUCTS = ["parse", "Parse", "extract", "a,b", "\u00e9dit"]
FEATURES = ["agentic", "standard", "null", 'say "hi"']
API_KEYS = ["key_1", "KEY_1", "key_2"]
FILE_TYPES = ["pdf", "docx", "null"]
# groupBy name → the row field (and filter) of that dimension, and its values.
DIMENSIONS = {
    "product": "product",
    "feature": "feature",
    "api_key": "apiKey",
    "file_type": "fileType",
}
FILTER_VALUES = {
    "product": PRODUCTS,
    "feature": FEATURES,
    "apiKey": API_KEYS,
    "fileType": FILE_TYPES,
}
MICRO = Decimal("0.000001")
LONGEST = {"hour": 31, "day": 366, "month": 366}


@cache
def zone(name: str) -> ZoneInfo:
    """The zone from the pinned tzdata package (never the host's /usr/share/zoneinfo)."""
    path = resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with path.open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


@dataclass(frozen=True)
class RawEvent:
    id: str
    instant: datetime  # UTC, to the microsecond
    timestamp_text: str
    dimensions: dict[str, str | None]  # by field name: product, feature, apiKey, fileType
    credits: Decimal
    request_count: int | None  # None: left out (counts 1)

    def json_text(self, org_id: str) -> str:
        """The event as JSON, credits written exactly (``1.250000``)."""
        body: dict[str, Any] = {"id": self.id, "orgId": org_id, "timestamp": self.timestamp_text}
        body.update({name: value for name, value in self.dimensions.items() if value is not None})
        if self.request_count is not None:
            body["requestCount"] = self.request_count
        return json.dumps(body)[:-1] + f',"credits":{format(self.credits, "f")}}}'


# -- what hypothesis draws ---------------------------------------------------------------------


@st.composite
def instants(draw: st.DrawFn, anchors: Sequence[datetime]) -> datetime:
    """Near an anchor, often just at a local hour or quarter hour around it."""
    anchor = draw(st.sampled_from(anchors))
    seconds = draw(
        st.one_of(
            st.integers(-36 * 3600, 36 * 3600),
            st.integers(-144, 144).map(lambda quarters: quarters * 900),
            st.sampled_from([-3601, -3600, -1801, -1, 0, 1, 1799, 1800, 3599, 3600]),
        )
    )
    micro = draw(st.sampled_from([0, 0, 0, 1, 999_999]))
    return anchor + timedelta(seconds=seconds, microseconds=micro)


@st.composite
def raw_events(draw: st.DrawFn, anchors: Sequence[datetime], least: int = 1) -> list[RawEvent]:
    events = []
    for _ in range(draw(st.integers(least, 30))):
        instant = draw(instants(anchors))
        written = draw(st.sampled_from([0, 0, 120, -300, 345, 630, -570]))
        local = instant.astimezone(timezone(timedelta(minutes=written)))
        text = local.isoformat()
        if written == 0 and draw(st.booleans()):
            text = text.removesuffix("+00:00") + "Z"
        events.append(
            RawEvent(
                id=draw(st.uuids()).hex,
                instant=instant,
                timestamp_text=text,
                dimensions={
                    "product": draw(st.sampled_from(PRODUCTS)),
                    "feature": draw(st.one_of(st.none(), st.sampled_from(FEATURES))),
                    "apiKey": draw(st.one_of(st.none(), st.sampled_from(API_KEYS))),
                    "fileType": draw(st.one_of(st.none(), st.sampled_from(FILE_TYPES))),
                },
                credits=Decimal(
                    draw(st.one_of(st.integers(0, 5_000_000), st.integers(0, 10**15)))
                ).scaleb(-6),
                request_count=draw(st.one_of(st.none(), st.integers(0, 5), st.just(1_000_000))),
            )
        )
    return events


@dataclass(frozen=True)
class Ask:
    """One export request: its parameters (in a random order), a page size to try, and the
    same parameters in another order for the pages after the first (edge case 16)."""

    params: list[tuple[str, str]]
    limit: int
    reordered: list[tuple[str, str]] | None = None


@st.composite
def asks(draw: st.DrawFn, anchors: Sequence[datetime], zones: Sequence[str]) -> Ask:
    params: list[tuple[str, str]] = []
    zone_name = draw(st.one_of(st.none(), st.sampled_from(zones)))
    width = draw(st.one_of(st.none(), st.sampled_from(["hour", "day", "month"])))
    if zone_name is not None:
        params.append(("timeZone", zone_name))
    if width is not None:
        params.append(("bucketWidth", width))
    if draw(st.integers(0, 9)) < 9:  # else the default dates, ending today
        around = draw(st.sampled_from(anchors)).astimezone(zone(zone_name or "UTC")).date()
        start = around - timedelta(days=draw(st.integers(0, 1)))
        longest = LONGEST[width or "day"]
        length = draw(st.one_of(st.integers(0, 3), st.integers(0, longest - 1)))
        params.append(("startDate", start.isoformat()))
        params.append(("endDate", (start + timedelta(days=length)).isoformat()))
    if draw(st.integers(0, 4)) < 4:
        names = draw(st.permutations(list(DIMENSIONS)))[: draw(st.integers(1, 4))]
        params.append(("groupBy", ",".join(names)))
    for name, values in FILTER_VALUES.items():
        if draw(st.integers(0, 4)) == 4:
            chosen = draw(st.lists(st.sampled_from([*values, "no-such"]), min_size=1, max_size=4))
            params.extend((name, value) for value in chosen)
    limit = draw(st.one_of(st.integers(1, 4), st.integers(1, 40), st.just(10_000)))
    return Ask(draw(st.permutations(params)), limit, draw(st.permutations(params)))


# -- the oracle ------------------------------------------------------------------------------


def credits_text(total: Decimal) -> str:
    """The contract's credits text: a fractional part, no trailing zeros beyond one."""
    text = format(total.quantize(MICRO), "f").rstrip("0")
    return text + "0" if text.endswith(".") else text


def seconds_of(instant: datetime) -> int:
    return int((instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1))


def at(seconds: int, where: ZoneInfo) -> datetime:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).astimezone(where)


def hour_key(local: datetime) -> tuple[date, int, timedelta | None]:
    return (local.date(), local.hour, local.utcoffset())


def first_of_hour(instant: datetime, where: ZoneInfo) -> int:
    """The first instant of the local hour bucket (date, hour, offset) holding ``instant``:
    the top of that hour at that offset when it existed, else the first second after it
    whose key is the same (where the offset changed within the hour)."""
    local = instant.astimezone(where)
    key = hour_key(local)
    # The top of the hour at the instant's own offset. (Not the wall time's: where an
    # offset change skipped into this hour, e.g. Asia/Rangoon's +06:30 -> +09:00 at
    # 1942-05-01 00:00, 02:00 lies in the gap and resolves to the offset before it,
    # after the instant.)
    low, high = seconds_of(instant) - (local.minute * 60 + local.second), seconds_of(instant)
    if hour_key(at(low, where)) == key:
        return low
    while high - low > 1:  # key(low) differs, key(high) is the bucket's
        middle = (low + high) // 2
        if hour_key(at(middle, where)) == key:
            high = middle
        else:
            low = middle
    return high


def value_order(values: tuple[str | None, ...]) -> tuple[tuple[bool, bytes], ...]:
    return tuple((value is not None, (value or "").encode("utf-8")) for value in values)


def expected_answer(
    events: list[RawEvent], params: list[tuple[str, str]], org_id: str, today: date
) -> tuple[list[tuple[str, Any]], list[list[tuple[str, Any]]]]:
    """The document's head (key, value) pairs and its rows (each as (key, value) pairs)."""
    head, placed = expected_rows(events, params, org_id, today)
    return head, [row for _, row in placed]


def expected_rows(
    events: list[RawEvent], params: list[tuple[str, str]], org_id: str, today: date
) -> tuple[list[tuple[str, Any]], list[tuple[Any, list[tuple[str, Any]]]]]:
    """The document's head, and its rows each with its position in the answer's order."""
    asked: dict[str, list[str]] = defaultdict(list)
    for name, value in params:
        asked[name].append(value)
    zone_name = asked["timeZone"][0] if "timeZone" in asked else "UTC"
    width = asked["bucketWidth"][0] if "bucketWidth" in asked else "day"
    where = zone(zone_name)
    end = date.fromisoformat(asked["endDate"][0]) if "endDate" in asked else today
    start = (
        date.fromisoformat(asked["startDate"][0])
        if "startDate" in asked
        else end - timedelta(days=30)
    )
    group_by = asked["groupBy"][0].split(",") if "groupBy" in asked else ["product"]
    fields = [DIMENSIONS[name] for name in group_by]

    # (order, date, start text, values) → [credits, requests]
    totals: dict[tuple[Any, ...], list[Any]] = {}
    for raw in events:
        if any(name in asked and raw.dimensions[name] not in asked[name] for name in FILTER_VALUES):
            continue
        local = raw.instant.astimezone(where)
        day = local.date()
        if not start <= day <= end:
            continue
        values = tuple(raw.dimensions[field] for field in fields)
        if width == "hour":
            first = first_of_hour(raw.instant, where)
            bucket: tuple[Any, ...] = (first, day, at(first, where).isoformat())
        elif width == "day":
            bucket = (day.toordinal(), day, None)
        else:
            bucket = (day.year * 12 + day.month, max(day.replace(day=1), start), None)
        sums = totals.setdefault((*bucket, values), [Decimal(0), 0])
        sums[0] += raw.credits
        sums[1] += 1 if raw.request_count is None else raw.request_count

    rows = []
    for (order, day, start_text, values), (amount, requests) in sorted(
        totals.items(), key=lambda item: (item[0][0], value_order(item[0][3]))
    ):
        row: list[tuple[str, Any]] = [("date", day.isoformat())]
        if width == "hour":
            row.append(("start", start_text))
        if len(fields) == 1:
            row.append(("group", values[0]))
        else:
            row.extend(zip(fields, values, strict=True))
        row += [("credits", credits_text(amount)), ("requestCount", requests)]
        rows.append(((order, value_order(values)), row))

    head: list[tuple[str, Any]] = [
        ("orgId", org_id),
        ("startDate", start.isoformat()),
        ("endDate", end.isoformat()),
        ("groupBy", ",".join(group_by)),
    ]
    if "timeZone" in asked or "bucketWidth" in asked:
        head += [("timeZone", zone_name), ("bucketWidth", width)]
    return head, rows


def csv_of(rows: list[list[tuple[str, Any]]], header: list[str]) -> bytes:
    def field(value: Any) -> str:
        if value is None:
            return ""
        text = str(value)
        if any(c in text for c in ',"\r\n'):
            return '"' + text.replace('"', '""') + '"'
        return text

    lines = [",".join(header) + "\r\n"]
    lines += [",".join(field(value) for _, value in row) + "\r\n" for row in rows]
    return "".join(lines).encode("utf-8")


# -- over HTTP -------------------------------------------------------------------------------


def send(http: httpx.Client, tenant: Tenant, batch: list[RawEvent]) -> None:
    text = '{"events":[' + ",".join(raw.json_text(tenant.org_id) for raw in batch) + "]}"
    response = http.post(
        "/api/v1/usage/events",
        content=text.encode("utf-8"),
        headers={
            "Authorization": f"Bearer {tenant.writer_secret}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text


def pairs(text: str) -> Any:
    """JSON with every object as its list of (key, value) pairs, credits as their text."""
    return json.loads(text, object_pairs_hook=list, parse_float=str)


def today_in(zone_name: str) -> date:
    return datetime.now(zone(zone_name)).date()


def check_ask(http: httpx.Client, kept: list[RawEvent], ask: Ask, org_id: str) -> int:
    params = ask.params
    zone_name = dict(params).get("timeZone", "UTC")
    before = today_in(zone_name)
    answer = http.get(EXPORT, params=params)
    after = today_in(zone_name)
    assert answer.status_code == 200, (params, answer.text)
    assert answer.headers["content-type"] == "application/json"
    document = pairs(answer.text)
    stated_end = dict(document).get("endDate")
    today = before if stated_end == before.isoformat() else after
    head, rows = expected_answer(kept, params, org_id, today)
    assert document == [*head, ("data", rows)], params
    document_rows = [list(map(tuple, row)) for row in dict(document)["data"]]

    # CSV: the same rows, the row keys as header.
    header = [key for key, _ in rows[0]] if rows else None
    as_csv = http.get(EXPORT, params=[*params, ("format", "csv")])
    assert as_csv.status_code == 200, (params, as_csv.text)
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    if header is None:
        width = dict(params).get("bucketWidth", "day")
        group_by = dict(params).get("groupBy", "product").split(",")
        fields = ["group"] if len(group_by) == 1 else [DIMENSIONS[name] for name in group_by]
        header = ["date", *(["start"] if width == "hour" else []), *fields]
        header += ["credits", "requestCount"]
    assert as_csv.content == csv_of(rows, header), params
    assert as_csv.content == csv_of(document_rows, header)  # JSON and CSV say the same

    # Pages of ask.limit rows put the answer back together.
    paged = [*params, ("limit", str(ask.limit))]
    later = [("limit", str(ask.limit)), *(ask.reordered or params)]
    gathered: list[Any] = []
    cursor: str | None = None
    for _ in range(len(rows) // ask.limit + 2):
        page = http.get(EXPORT, params=paged if cursor is None else [*later, ("page", cursor)])
        assert page.status_code == 200, (paged, cursor, page.text)
        parts = pairs(page.text)
        keys = [key for key, _ in parts]
        assert keys == [*(key for key, _ in head), "data", "nextPage"], keys
        assert parts[: len(head)] == head
        data, cursor = dict(parts)["data"], dict(parts)["nextPage"]
        gathered += data
        if cursor is None:
            assert len(data) <= ask.limit
            break
        assert isinstance(cursor, str)
        assert len(data) == ask.limit, (paged, len(data))
    assert cursor is None, "more pages than rows"
    assert gathered == rows, paged
    return len(rows)


def run_case(
    service: Service,
    events: list[RawEvent],
    split: int,
    questions: list[Ask],
    settled_after: int | None = None,
) -> None:
    """Record the events in two batches (split at ``split``), settling the days after
    batch ``settled_after`` (0, 1, or never): settled days answer from their pair
    rollups, and those the second batch changed again from their quarters."""
    tenant = service.tenant()
    with httpx.Client(base_url=service.url, timeout=30) as http:
        for number, batch in enumerate((events[:split], events[split:])):
            send(http, tenant, batch)
            if number == settled_after:
                # Every day gets its running totals, however few its events.
                with patch.object(settled_rollups, "_RUNNING_TOTALS_MOST", 10**6):
                    settle(service.store)
        http.headers["Authorization"] = f"Bearer {tenant.key}"
        for ask in questions:
            count = check_ask(http, events, ask, tenant.org_id)
            width = dict(ask.params).get("bucketWidth", "day")
            event(f"{width}: {'no rows' if not count else '1 row' if count == 1 else 'rows'}")


@st.composite
def cases(
    draw: st.DrawFn, anchors: Sequence[datetime], zones: Sequence[str]
) -> tuple[list[RawEvent], int, list[Ask], int | None]:
    chosen = draw(st.lists(st.sampled_from(anchors), min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):  # and one anywhere from 2025 on
        span = int((LAST_RANDOM - FIRST_RANDOM).total_seconds())
        chosen.append(FIRST_RANDOM + timedelta(seconds=draw(st.integers(0, span))))
    events = draw(raw_events(chosen))
    split = draw(st.integers(0, len(events)))
    questions = draw(st.lists(asks(chosen, zones), min_size=1, max_size=3))
    return events, split, questions, draw(st.sampled_from([None, 0, 1]))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases(ANCHORS, ZONES))
def test_export_in_local_time_matches_the_oracle(
    service: Service, case: tuple[list[RawEvent], int, list[Ask], int | None]
) -> None:
    run_case(service, *case)


# Buckets that do not begin and end on a quarter hour: offsets before 1980 (edge case 2),
# and Goose Bay's changes at 00:01, the one going back splitting a day in two.
OLD_ANCHORS = [
    utc("1893-03-31T23:06:32"),  # Berlin LMT +00:53:28 → +01:00
    utc("1972-01-07T00:44:30"),  # Monrovia -00:44:30 → +00:00
    utc("1942-08-31T18:30:00"),  # Kolkata +05:30 → +06:30
    utc("1985-12-31T18:30:00"),  # Kathmandu +05:30 → +05:45
    utc("2006-10-29T03:01:00"),  # Goose Bay 10-29 00:01 -03:00 → 10-28 23:01 -04:00
    utc("2007-03-11T04:01:00"),  # Goose Bay 00:01 -04:00 → 01:01 -03:00
]
OLD_ZONES = [
    "UTC",
    "Europe/Berlin",
    "Africa/Monrovia",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/Goose_Bay",
]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases(OLD_ANCHORS, OLD_ZONES))
def test_edge_2_buckets_off_the_quarter_hour_match_the_oracle(
    service: Service, case: tuple[list[RawEvent], int, list[Ask], int | None]
) -> None:
    run_case(service, *case)


# Days that never were: Kiritimati skipped 1994-12-31 (-10:00 → +14:00), Apia 2011-12-30.
SKIPS = [utc("1994-12-31T10:00:00"), utc("2011-12-30T10:00:00")]
SKIP_ZONES = ["Pacific/Kiritimati", "Pacific/Apia", "UTC"]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases(SKIPS, SKIP_ZONES))
def test_skipped_days_match_the_oracle(
    service: Service, case: tuple[list[RawEvent], int, list[Ask], int | None]
) -> None:
    run_case(service, *case)


def all_zone_names() -> list[str]:
    """Every zone and link name of the pinned tzdata package, from its own list."""
    listing = resources.files("tzdata").joinpath("zones").read_text("utf-8")
    return sorted(line.strip() for line in listing.splitlines() if line.strip())


@cache
def zones_off_the_hour() -> list[str]:
    """The zones whose offset since 1980 was not always a whole hour (+05:45, -03:30, ...):
    their days begin on a quarter hour of the UTC day."""
    since = seconds_of(utc("1980-01-01T00:00:00"))
    return [
        name
        for name in all_zone_names()
        if file_offset(name, since) % 3600
        or any(after % 3600 for at, _, after in offset_changes(name, 2026) if at >= since)
    ]


@st.composite
def any_zone_cases(draw: st.DrawFn) -> tuple[list[RawEvent], int, list[Ask]]:
    """A zone of the whole database, and events around its changes of offset since 1900."""
    name = draw(st.one_of(st.sampled_from(all_zone_names()), st.sampled_from(zones_off_the_hour())))
    low, high = seconds_of(utc("1900-01-01T00:00:00")), seconds_of(LAST_RANDOM)
    changes = [
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=instant)
        for instant, _, _ in offset_changes(name, 2026)
        if low <= instant < high
    ]
    span = high - low
    chosen = draw(st.lists(st.sampled_from(changes), min_size=1, max_size=2)) if changes else []
    chosen.append(utc("1900-01-01T00:00:00") + timedelta(seconds=draw(st.integers(0, span))))
    events = draw(raw_events(chosen))
    split = draw(st.integers(0, len(events)))
    questions = draw(st.lists(asks(chosen, [name]), min_size=1, max_size=2))
    return events, split, questions


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=any_zone_cases())
def test_any_zone_matches_the_oracle(
    service: Service, case: tuple[list[RawEvent], int, list[Ask], int | None]
) -> None:
    run_case(service, *case)


def test_the_anchors_are_what_they_say() -> None:
    """Each change anchor is an instant where one of the zones changes its offset."""
    for anchor in CHANGES + OLD_ANCHORS + SKIPS:
        changed = [
            name
            for name in ZONES + OLD_ZONES + SKIP_ZONES
            if (anchor - timedelta(seconds=1)).astimezone(zone(name)).utcoffset()
            != anchor.astimezone(zone(name)).utcoffset()
        ]
        assert changed, anchor
    for anchor in MIDNIGHTS:
        assert any(
            anchor.astimezone(zone(name)).time().isoformat() == "00:00:00"
            for name in ("Asia/Kathmandu", "Asia/Kolkata")
        )


def test_edge_19_streamed_answer_matches_the_oracle(service: Service) -> None:
    """An answer of more than 1,000 rows comes streamed (chunked, no Content-Length), JSON
    and CSV alike, and holds the oracle's rows; pages of it put it back together."""
    draw = random.Random(19)
    first = utc("2026-10-09T22:00:00")  # 2026-10-10 in Berlin
    events = [
        RawEvent(
            id=f"e{hour}-{n}",
            instant=first + timedelta(hours=hour, seconds=draw.randrange(3600)),
            timestamp_text="",
            dimensions={
                "product": PRODUCTS[n],
                "feature": draw.choice([None, *FEATURES]),
                "apiKey": None,
                "fileType": draw.choice([None, *FILE_TYPES]),
            },
            credits=Decimal(draw.randrange(5_000_000)).scaleb(-6),
            request_count=draw.choice([None, 0, 1, 7]),
        )
        for hour in range(31 * 24 + 1)
        for n in range(2)
    ]
    events = [
        RawEvent(**{**raw.__dict__, "timestamp_text": raw.instant.isoformat()}) for raw in events
    ]
    params = [
        ("timeZone", "Europe/Berlin"),
        ("bucketWidth", "hour"),
        ("startDate", "2026-10-10"),
        ("endDate", "2026-11-09"),
        ("groupBy", "product"),
    ]
    tenant = service.tenant()
    with httpx.Client(base_url=service.url, timeout=60) as http:
        send(http, tenant, events)
        http.headers["Authorization"] = f"Bearer {tenant.key}"
        _, rows = expected_answer(events, params, tenant.org_id, date.today())
        assert len(rows) > 1_000
        for extra in ([], [("format", "csv")]):
            with http.stream("GET", EXPORT, params=[*params, *extra]) as answer:
                assert answer.status_code == 200
                assert "content-length" not in answer.headers
                assert answer.headers.get("transfer-encoding") == "chunked"
        check_ask(http, events, Ask(params, 400), tenant.org_id)


def test_edge_7_first_day_of_the_calendar_east_of_utc(service: Service) -> None:
    """0001-01-01 in Asia/Tokyo (local mean time, +09:18:59) begins before year 1 in UTC:
    usage of that day is still found, and ``start`` writes the offset's seconds. Worked
    out by hand: zoneinfo cannot name these instants."""
    tenant = service.tenant()
    tenant.record(
        [
            {"id": "a", "timestamp": "0001-01-01T00:00:00Z", "credits": 1, "product": "p"},
            {"id": "b", "timestamp": "0001-01-01T14:40:59Z", "credits": 2, "product": "p"},
            {"id": "c", "timestamp": "0001-01-01T14:41:01Z", "credits": 4, "product": "p"},
        ]
    )
    day = {"timeZone": "Asia/Tokyo", "startDate": "0001-01-01", "endDate": "0001-01-01"}
    hours = tenant.export(**day, bucketWidth="hour")
    assert hours.status_code == 200, hours.text
    assert [(row["start"], row["credits"]) for row in hours.json()["data"]] == [
        ("0001-01-01T09:00:00+09:18:59", 1.0),  # 09:18:59 local
        ("0001-01-01T23:00:00+09:18:59", 2.0),  # 23:59:58 local
    ]
    days = tenant.export(**day, bucketWidth="day")
    assert [(row["date"], row["credits"]) for row in days.json()["data"]] == [("0001-01-01", 3.0)]
    both = tenant.export(**{**day, "endDate": "0001-01-02"}, bucketWidth="month")
    assert [(row["date"], row["credits"]) for row in both.json()["data"]] == [("0001-01-01", 7.0)]
    last = tenant.export(
        timeZone="Etc/GMT+12", startDate="9999-12-31", endDate="9999-12-31", bucketWidth="hour"
    )
    assert last.status_code == 200, last.text
    assert last.json()["data"] == []


@st.composite
def paging_cases(draw: st.DrawFn) -> tuple[list[RawEvent], Ask, list[RawEvent]]:
    """Events, a question asked in small pages, and events recorded after its first page,
    near the same anchors."""
    chosen = draw(st.lists(st.sampled_from(ANCHORS), min_size=1, max_size=2, unique=True))
    events = draw(raw_events(chosen, least=10))
    ask = draw(asks(chosen, ZONES))
    later = draw(raw_events(chosen))
    return events, Ask(ask.params, draw(st.integers(1, 3))), later


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=paging_cases())
def test_edge_17_pages_continue_after_their_position_when_usage_changes(
    service: Service, case: tuple[list[RawEvent], Ask, list[RawEvent]]
) -> None:
    """Usage recorded between two pages: the next page starts after the last row's
    (bucket, values); rows after it have their totals as of the page that returns them,
    rows before it (old or new) are not revisited, and none comes twice."""
    events, ask, later = case
    tenant = service.tenant()
    with httpx.Client(base_url=service.url, timeout=30) as http:
        send(http, tenant, events)
        http.headers["Authorization"] = f"Bearer {tenant.key}"
        paged = [*ask.params, ("limit", str(ask.limit))]
        first = dict(pairs(http.get(EXPORT, params=paged).text))
        today = date.fromisoformat(first["endDate"])  # used only when endDate is left out
        _, before = expected_rows(events, ask.params, tenant.org_id, today)
        assert first["data"] == [row for _, row in before[: ask.limit]]
        cursor = first["nextPage"]
        event("one page" if cursor is None else "more pages")
        if cursor is None:
            return
        position = before[ask.limit - 1][0]
        send(http, tenant, later)
        _, after = expected_rows([*events, *later], ask.params, tenant.org_id, today)
        expected = [row for at, row in after if at > position]
        changed = expected != [row for at, row in before if at > position]
        event("usage changed after the position" if changed else "no change after the position")
        gathered: list[Any] = []
        for _ in range(len(expected) // ask.limit + 2):
            page = dict(pairs(http.get(EXPORT, params=[*paged, ("page", cursor)]).text))
            gathered += page["data"]
            cursor = page["nextPage"]
            if cursor is None:
                break
            assert len(page["data"]) == ask.limit
        assert cursor is None
        assert gathered == expected


def test_edge_19_streamed_answer_is_one_snapshot(service: Service) -> None:
    """Usage recorded while a large answer streams: the answer is the oracle's for the
    events before it or for all of them, never a mix."""
    draw = random.Random(1919)
    first = utc("2026-10-09T22:00:00")  # 2026-10-10 in Berlin

    def hourly(prefix: str, hours: Sequence[int]) -> list[RawEvent]:
        made = []
        for hour in hours:
            for product in PRODUCTS[:3]:
                for feature in (None, *FEATURES[:3]):
                    instant = first + timedelta(hours=hour, seconds=draw.randrange(3600))
                    made.append(
                        RawEvent(
                            id=f"{prefix}{hour}-{product}-{feature}",
                            instant=instant,
                            timestamp_text=instant.isoformat(),
                            dimensions={
                                "product": product,
                                "feature": feature,
                                "apiKey": None,
                                "fileType": None,
                            },
                            credits=Decimal(draw.randrange(5_000_000)).scaleb(-6),
                            request_count=None,
                        )
                    )
        return made

    events = hourly("e", range(0, 31 * 24, 4))
    later = hourly("l", [0, 1, 31 * 24 - 2, 31 * 24 - 1])
    params = [
        ("timeZone", "Europe/Berlin"),
        ("bucketWidth", "hour"),
        ("startDate", "2026-10-10"),
        ("endDate", "2026-11-09"),
        ("groupBy", "product,feature"),
    ]
    tenant = service.tenant()
    with (
        httpx.Client(base_url=service.url, timeout=60) as http,
        httpx.Client(base_url=service.url, timeout=60) as writer,
    ):
        send(writer, tenant, events)
        head, before = expected_answer(events, params, tenant.org_id, date.today())
        _, after = expected_answer([*events, *later], params, tenant.org_id, date.today())
        assert len(before) > 2_000
        body = b""
        headers = {"Authorization": f"Bearer {tenant.key}"}
        with http.stream("GET", EXPORT, params=params, headers=headers) as answer:
            assert answer.status_code == 200
            pieces = answer.iter_raw(4096)
            body += next(pieces)
            send(writer, tenant, later)
            for piece in pieces:
                body += piece
    document = pairs(body.decode("utf-8"))
    assert document in ([*head, ("data", before)], [*head, ("data", after)])
