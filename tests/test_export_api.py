"""The Usage Export API over real HTTP: every rule of its contract, on every store.

Each numbered "Edge case, decided" of the contract has its own
``test_edge_case_<N>_…``; the other rules have descriptively named tests.
Data lives on past days (2026-05-xx) so "today" matters only where defaults
are tested, and there today is read from the UTC clock.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import ssl
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from creditmeter.events import Event
from creditmeter.ingest import record
from creditmeter.timestamps import parse_instant_us
from tests.conftest import Service, Tenant

EXPORT = "/api/v1/usage/export"
CSV_TYPE = "text/csv; charset=utf-8"
CSV_HEADER = b"date,group,credits,requestCount\r\n"
Params = list[tuple[str, str]]
_ABSENT = object()


# -- helpers -------------------------------------------------------------------------

# A new httpx client builds a TLS context (about 20 ms); these tests open hundreds
# of clients of a plain-HTTP server, so they share one context, and each test's
# clients are closed when it ends.
_TLS = ssl.create_default_context()
_open_clients: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()


def connect(service: Service, secret: str | None = None) -> httpx.Client:
    """A client of ``service`` sending ``secret`` as the bearer token."""
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    client = httpx.Client(base_url=service.url, headers=headers, timeout=30, verify=_TLS)
    _open_clients.append(client)
    return client


def admin(service: Service) -> httpx.Client:
    return connect(service, service.admin_secret)


def reader(tenant: Tenant) -> httpx.Client:
    return connect(tenant.service, tenant.key)


def export(tenant: Tenant, **params: str) -> httpx.Response:
    return reader(tenant).get(EXPORT, params=params)


def send(tenant: Tenant, events: list[dict[str, Any]]) -> None:
    """Record events (orgId filled in) through the ingest endpoint."""
    body = {"events": [{"orgId": tenant.org_id, **e} for e in events]}
    answer = connect(tenant.service, tenant.writer_secret).post("/api/v1/usage/events", json=body)
    assert answer.status_code == 200, answer.text


def event(
    event_id: str,
    timestamp: str = "2026-05-19T12:00:00Z",
    product: str = "parse",
    credits: float = 1,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "id": event_id,
        "timestamp": timestamp,
        "product": product,
        "credits": credits,
        **fields,
    }


def get(
    client: httpx.Client, params: Params | dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return client.get(EXPORT, params=params, headers=headers)


def json_document(response: httpx.Response) -> dict[str, Any]:
    """The 200 JSON document, with every credits number kept as its exact text."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return json.loads(response.text, parse_float=str)


def json_rows(response: httpx.Response) -> list[dict[str, Any]]:
    return json_document(response)["data"]


def row(day: str, group: str | None, credits: str, requests: int) -> dict[str, Any]:
    return {"date": day, "group": group, "credits": credits, "requestCount": requests}


def csv_body(response: httpx.Response) -> bytes:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CSV_TYPE
    return response.content


def csv_rows(response: httpx.Response) -> list[list[str]]:
    body = csv_body(response)
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    param: str | object | None = _ABSENT,
) -> dict[str, Any]:
    """The contract's error shape; ``param=None`` means the key must be absent."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) <= {"status", "code", "message", "param", "details"}
    assert error["status"] == status
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"].strip()
    if param is None:
        assert "param" not in error, error
    elif param is not _ABSENT:
        assert error.get("param") == param, error
    for leak in ("Traceback", 'File "', "sqlalchemy", "sqlite", "SELECT ", ".py", "/work/"):
        assert leak not in response.text
    return error


def add_member(service: Service, org_id: str, user_id: str) -> None:
    answer = admin(service).put(
        f"/api/v1/admin/orgs/{org_id}/members/{user_id}", json={"role": "member"}
    )
    assert answer.status_code == 200, answer.text


def remove_member(service: Service, org_id: str, user_id: str) -> None:
    answer = admin(service).delete(f"/api/v1/admin/orgs/{org_id}/members/{user_id}")
    assert answer.status_code == 204, answer.text


def new_key(service: Service, user_id: str, org_id: str, **fields: Any) -> dict[str, Any]:
    answer = admin(service).post(
        f"/api/v1/admin/users/{user_id}/keys", json={"orgId": org_id, **fields}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def utc_today() -> date:
    return datetime.now(UTC).date()


# One small data set that every dimension groups differently.
DIMENSIONS = [
    event("d1", product="parse", feature="agentic", apiKey="key_a", fileType="pdf", credits=1),
    event("d2", product="extract", feature="standard", apiKey="key_b", fileType="docx", credits=2),
    event("d3", product="parse", feature="agentic", credits=4),
    event("d4", product="split", apiKey="key_a", fileType="pdf", credits=8),
]
DAY = "2026-05-19"
ONE_DAY = {"startDate": DAY, "endDate": DAY}


# -- defaults and echo ------------------------------------------------------------------


def test_edge_case_1_defaults(tenant: Tenant) -> None:
    before = utc_today()
    document = json_document(export(tenant))
    after = utc_today()
    end = date.fromisoformat(document["endDate"])
    assert end in (before, after)
    assert document == {
        "orgId": tenant.org_id,
        "startDate": (end - timedelta(days=30)).isoformat(),
        "endDate": end.isoformat(),
        "groupBy": "product",
        "data": [],
    }

    only_end = json_document(export(tenant, endDate="2026-01-31"))
    assert (only_end["startDate"], only_end["endDate"]) == ("2026-01-01", "2026-01-31")
    leap = json_document(export(tenant, endDate="2024-03-01"))
    assert leap["startDate"] == "2024-01-31"

    start = before - timedelta(days=5)
    only_start = json_document(export(tenant, startDate=start.isoformat()))
    assert only_start["startDate"] == start.isoformat()
    assert only_start["endDate"] in (before.isoformat(), utc_today().isoformat())


def test_export_default_range_covers_the_last_31_days(tenant: Tenant) -> None:
    today = utc_today()
    send(
        tenant,
        [
            event(f"ago-{days}", f"{today - timedelta(days=days)}T00:00:00Z", requestCount=days)
            for days in (0, 1, 30, 31, 45)
        ],
    )
    document = json_document(export(tenant))
    start = date.fromisoformat(document["startDate"])
    end = date.fromisoformat(document["endDate"])
    expected = [
        row((today - timedelta(days=days)).isoformat(), "parse", "1.0", days)
        for days in (30, 1, 0)
        if start <= today - timedelta(days=days) <= end
    ]
    assert document["data"] == expected
    assert len(expected) >= 2


def test_export_echoes_the_parameters_it_used(tenant: Tenant) -> None:
    document = json_document(
        export(tenant, startDate="2026-05-01", endDate="2026-05-31", groupBy="file_type")
    )
    assert {k: v for k, v in document.items() if k != "data"} == {
        "orgId": tenant.org_id,
        "startDate": "2026-05-01",
        "endDate": "2026-05-31",
        "groupBy": "file_type",
    }
    explicit = json_document(export(tenant, orgId=tenant.org_id, **ONE_DAY))
    assert explicit["orgId"] == tenant.org_id


# -- grouping, filters, ordering ---------------------------------------------------------


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("product", [("extract", "2.0", 1), ("parse", "5.0", 2), ("split", "8.0", 1)]),
        ("feature", [(None, "8.0", 1), ("agentic", "5.0", 2), ("standard", "2.0", 1)]),
        ("api_key", [(None, "4.0", 1), ("key_a", "9.0", 2), ("key_b", "2.0", 1)]),
        ("file_type", [(None, "4.0", 1), ("docx", "2.0", 1), ("pdf", "9.0", 2)]),
    ],
)
def test_export_groups_by_each_dimension(
    tenant: Tenant, group_by: str, expected: list[tuple[str | None, str, int]]
) -> None:
    send(tenant, DIMENSIONS)
    document = json_document(export(tenant, groupBy=group_by, **ONE_DAY))
    assert document["groupBy"] == group_by
    assert document["data"] == [row(DAY, group, c, n) for group, c, n in expected]


def test_export_groups_by_product_by_default(tenant: Tenant) -> None:
    send(tenant, DIMENSIONS)
    assert json_rows(export(tenant, **ONE_DAY)) == json_rows(
        export(tenant, groupBy="product", **ONE_DAY)
    )


@pytest.mark.parametrize(
    ("filters", "group_by", "expected"),
    [
        pytest.param(
            [("product", "parse"), ("product", "split")],
            "product",
            [("parse", "5.0", 2), ("split", "8.0", 1)],
            id="repeated-filter-is-or",
        ),
        pytest.param(
            [("product", "parse"), ("product", "extract"), ("fileType", "pdf")],
            "product",
            [("parse", "1.0", 1)],
            id="different-filters-are-and",
        ),
        pytest.param(
            [("feature", "agentic"), ("apiKey", "key_a")],
            "file_type",
            [("pdf", "1.0", 1)],
            id="feature-and-api-key",
        ),
        pytest.param(
            [("apiKey", "key_a"), ("apiKey", "key_b")],
            "api_key",
            [("key_a", "9.0", 2), ("key_b", "2.0", 1)],
            id="api-key-or-leaves-out-keyless-usage",
        ),
        pytest.param(
            [("fileType", "pdf")],
            "file_type",
            [("pdf", "9.0", 2)],
            id="filter-leaves-out-the-null-group",
        ),
        pytest.param(
            [("product", "parse"), ("product", "parse")],
            "product",
            [("parse", "5.0", 2)],
            id="same-value-twice-counts-once",
        ),
        pytest.param([("product", "nothing")], "product", [], id="no-match-is-empty"),
        pytest.param([("product", "Parse")], "product", [], id="values-are-case-sensitive"),
        pytest.param(
            [("product", "parse"), ("fileType", "docx")], "product", [], id="and-can-be-empty"
        ),
    ],
)
def test_export_filters(
    tenant: Tenant,
    filters: Params,
    group_by: str,
    expected: list[tuple[str | None, str, int]],
) -> None:
    send(tenant, DIMENSIONS)
    params = [("startDate", DAY), ("endDate", DAY), ("groupBy", group_by), *filters]
    assert json_rows(get(reader(tenant), params)) == [
        row(DAY, group, c, n) for group, c, n in expected
    ]


# Every value in UTF-8 byte order (= code point order), which differs from
# case-insensitive, locale and UTF-16 orders: U+FF5A sorts before U+1F600 in
# bytes but after it in UTF-16.
BYTE_ORDER = [
    "Parse",
    "Zeta",
    "a,b",
    "alpha",
    "parse",
    "parse2",
    "z",
    "\u00c4rger",
    "\u00e9clair",
    "\uff5a",
    "\U0001f600",
]


def test_export_orders_by_date_then_group_in_byte_order(tenant: Tenant) -> None:
    values: list[str | None] = [None, *BYTE_ORDER]
    scrambled = values[:]
    random.Random(7).shuffle(scrambled)
    events = [
        event(f"e{i}", "2026-05-20T08:00:00Z", feature=value) for i, value in enumerate(scrambled)
    ]
    events += [
        event("late-z", "2026-05-19T09:00:00Z", feature="\U0001f600"),
        event("late-null", "2026-05-19T10:00:00Z"),
    ]
    send(tenant, events)
    params = {"startDate": "2026-05-19", "endDate": "2026-05-20", "groupBy": "feature"}
    expected = [
        row("2026-05-19", None, "1.0", 1),
        row("2026-05-19", "\U0001f600", "1.0", 1),
        *(row("2026-05-20", value, "1.0", 1) for value in values),
    ]
    assert json_rows(export(tenant, **params)) == expected
    assert csv_rows(export(tenant, format="csv", **params))[1:] == [
        [r["date"], r["group"] or "", r["credits"], str(r["requestCount"])] for r in expected
    ]


def test_export_reports_a_missing_dimension_as_the_null_group(tenant: Tenant) -> None:
    send(
        tenant,
        [
            event("absent", credits=1),
            event("null", credits=2, fileType=None),
            event("pdf", credits=4, fileType="pdf"),
            event("literal", credits=8, fileType="null"),
        ],
    )
    response = export(tenant, groupBy="file_type", **ONE_DAY)
    assert json_rows(response) == [
        row(DAY, None, "3.0", 2),
        row(DAY, "null", "8.0", 1),
        row(DAY, "pdf", "4.0", 1),
    ]
    assert '"group":null' in response.text.replace(" ", "")


def test_export_counts_each_event_on_its_utc_date(tenant: Tenant) -> None:
    send(
        tenant,
        [
            event("before", "2026-05-18T23:59:59Z", product="before-range"),
            event("west", "2026-05-19T23:30:00-02:00", product="west"),
            event("east", "2026-05-20T01:00:00+03:00", product="east"),
            event("last-instant", "2026-05-19T23:59:59.999999999Z", product="truncated"),
            event("midnight", "2026-05-20T00:00:00Z", product="midnight"),
            event("after", "2026-05-21T00:00:00+00:00", product="after-range"),
            event("after-local", "2026-05-20T22:00:00-03:00", product="after-range"),
        ],
    )
    assert json_rows(export(tenant, startDate="2026-05-19", endDate="2026-05-20")) == [
        row("2026-05-19", "east", "1.0", 1),
        row("2026-05-19", "truncated", "1.0", 1),
        row("2026-05-20", "midnight", "1.0", 1),
        row("2026-05-20", "west", "1.0", 1),
    ]


def test_export_sums_credits_exactly(tenant: Tenant) -> None:
    send(tenant, [event(f"tenth-{i}", credits=0.1) for i in range(10_000)])
    response = export(tenant, **ONE_DAY)
    assert json_rows(response) == [row(DAY, "parse", "1000.0", 10_000)]
    assert csv_body(export(tenant, format="csv", **ONE_DAY)) == (
        CSV_HEADER + b"2026-05-19,parse,1000.0,10000\r\n"
    )


def test_export_does_not_count_a_resent_event_twice(tenant: Tenant) -> None:
    send(tenant, [event("same", credits=2.5)])
    send(tenant, [event("same", credits=2.5), event("same", credits=2.5)])
    assert json_rows(export(tenant, **ONE_DAY)) == [row(DAY, "parse", "2.5", 1)]


def test_edge_case_5_zero_usage_still_appears(tenant: Tenant) -> None:
    send(
        tenant,
        [
            event("zero-a", product="free", credits=0, requestCount=0),
            event("zero-b", product="free", credits=0.0, requestCount=0),
        ],
    )
    response = export(tenant, **ONE_DAY)
    assert json_rows(response) == [row(DAY, "free", "0.0", 0)]
    assert '"credits":0.0' in response.text.replace(" ", "")
    assert csv_body(export(tenant, format="csv", **ONE_DAY)) == (
        CSV_HEADER + b"2026-05-19,free,0.0,0\r\n"
    )


def test_edge_case_6_credits_text(tenant: Tenant) -> None:
    amounts = {
        "a-hundred-fifty": [100, 50],
        "b-three-tenths": [0.1, 0.2],
        "c-millionths": [2, 0.000125],
        "d-whole-from-halves": [1.5, 1.5],
        "e-one-millionth": [0.000001],
        "f-whole-from-fractions": [0.123456, 0.876544],
        "g-billions": [1_000_000_000] * 9,
        "h-large-and-small": [999_999_999.999999, 0.000001],
    }
    expected = {
        "a-hundred-fifty": "150.0",
        "b-three-tenths": "0.3",
        "c-millionths": "2.000125",
        "d-whole-from-halves": "3.0",
        "e-one-millionth": "0.000001",
        "f-whole-from-fractions": "1.0",
        "g-billions": "9000000000.0",
        "h-large-and-small": "1000000000.0",
    }
    send(
        tenant,
        [
            event(f"{product}-{i}", product=product, credits=credits)
            for product, values in amounts.items()
            for i, credits in enumerate(values)
        ],
    )
    json_texts = {r["group"]: r["credits"] for r in json_rows(export(tenant, **ONE_DAY))}
    assert json_texts == expected
    csv_texts = {line[1]: line[2] for line in csv_rows(export(tenant, format="csv", **ONE_DAY))[1:]}
    assert csv_texts == expected


# -- CSV -------------------------------------------------------------------------------


def test_edge_case_7_csv_bytes(tenant: Tenant) -> None:
    send(
        tenant,
        [
            event("plain", fileType="pdf", credits=1.5),
            event("comma", fileType="a,b", credits=2),
            event("quote", fileType='say "hi"', credits=0.25),
            event("none", credits=3),
            event("space", fileType="has space; semi'colon", credits=1),
            event("unicode", fileType="\u00e9t\u00e9", credits=1),
            event("next-day", "2026-05-20T00:00:00Z", fileType="pdf", requestCount=3),
        ],
    )
    params = {"startDate": "2026-05-19", "endDate": "2026-05-20", "groupBy": "file_type"}
    body = csv_body(export(tenant, format="csv", **params))
    assert body == (
        b"date,group,credits,requestCount\r\n"
        b"2026-05-19,,3.0,1\r\n"
        b'2026-05-19,"a,b",2.0,1\r\n'
        b"2026-05-19,has space; semi'colon,1.0,1\r\n"
        b"2026-05-19,pdf,1.5,1\r\n"
        b'2026-05-19,"say ""hi""",0.25,1\r\n'
        + "2026-05-19,\u00e9t\u00e9,1.0,1\r\n".encode()
        + b"2026-05-20,pdf,1.0,3\r\n"
    )
    assert not body.startswith(b"\xef\xbb\xbf")
    assert body.count(b"\n") == body.count(b"\r\n") == body.count(b"\r")


def test_export_csv_of_no_usage_is_the_header_alone(tenant: Tenant) -> None:
    response = export(tenant, format="csv", **ONE_DAY)
    assert csv_body(response) == CSV_HEADER


def test_export_csv_quotes_values_holding_line_breaks(service: Service, tenant: Tenant) -> None:
    # Ingest refuses control characters, so such values can only come from data
    # stored by other means; the CSV must still be valid RFC 4180.
    values = ["two\nlines", "carriage\rreturn", "both\r\nends", 'line\nand "quote"']
    instant = parse_instant_us("2026-05-19T12:00:00Z")
    stored = [
        Event(
            org_id=tenant.org_id,
            id=f"raw-{i}",
            timestamp_us=instant,
            product="parse",
            feature=value,
            api_key=None,
            file_type=None,
            credits_micro=1_000_000,
            request_count=1,
        )
        for i, value in enumerate(values)
    ]
    record(service.store, stored, received_us=instant)
    response = export(tenant, format="csv", groupBy="feature", **ONE_DAY)
    assert csv_body(response) == (
        CSV_HEADER
        + b'2026-05-19,"both\r\nends",1.0,1\r\n'
        + b'2026-05-19,"carriage\rreturn",1.0,1\r\n'
        + b'2026-05-19,"line\nand ""quote""",1.0,1\r\n'
        + b'2026-05-19,"two\nlines",1.0,1\r\n'
    )
    assert [r[1] for r in csv_rows(response)[1:]] == sorted(values)
    assert [r["group"] for r in json_rows(export(tenant, groupBy="feature", **ONE_DAY))] == sorted(
        values
    )


MIXED = [
    event("m1", "2026-05-19T01:00:00Z", product="parse", feature="agentic", credits=0.1),
    event("m2", "2026-05-19T02:00:00Z", product="parse", credits=0.2, requestCount=4),
    event("m3", "2026-05-20T03:00:00Z", product="extract", feature="x,y", credits=7),
    event("m4", "2026-05-20T04:00:00Z", product='q"t', feature="agentic", credits=0.000125),
    event("m5", "2026-05-21T05:00:00Z", product="\u00e9dit", credits=12.5, requestCount=0),
]
MIXED_RANGE = {"startDate": "2026-05-19", "endDate": "2026-05-21"}


@pytest.fixture(scope="module")
def mixed(service: Service) -> Tenant:
    """One tenant holding MIXED, shared by the tests that only read."""
    shared = service.tenant()
    send(shared, MIXED)
    return shared


@pytest.mark.parametrize("group_by", ["product", "feature", "api_key", "file_type"])
def test_export_csv_has_the_same_rows_as_json(mixed: Tenant, group_by: str) -> None:
    from_json = json_rows(export(mixed, groupBy=group_by, **MIXED_RANGE))
    from_csv = csv_rows(export(mixed, groupBy=group_by, format="csv", **MIXED_RANGE))
    assert from_csv[0] == ["date", "group", "credits", "requestCount"]
    assert from_csv[1:] == [
        [r["date"], "" if r["group"] is None else r["group"], r["credits"], str(r["requestCount"])]
        for r in from_json
    ]
    assert len(from_json) >= 3


def test_export_is_byte_identical_across_calls(tenant: Tenant) -> None:
    send(tenant, MIXED[3:])
    send(tenant, MIXED[:3])
    for params in ({"format": "csv"}, {"format": "json"}, {"groupBy": "feature"}):
        first = export(tenant, **MIXED_RANGE, **params)
        second = export(tenant, **MIXED_RANGE, **params)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        assert first.headers["content-type"] == second.headers["content-type"]


# -- content negotiation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "answer"),
    [
        (None, "json"),
        ("application/json", "json"),
        ("text/csv", "csv"),
        ("TEXT/CSV", "csv"),
        ("text/csv; charset=utf-8", "csv"),
        ("text/csv, application/json", "csv"),
        ("application/json, text/csv", "csv"),
        ("application/json, text/csv;q=0.9", "json"),
        ("text/csv;q=0.9, application/json;q=0.8", "csv"),
        ("text/csv;q=0.5, application/json;q=0.5", "csv"),
        ("text/csv;q=0", "json"),
        ("text/csv;q=0.0, */*", "json"),
        ("text/csv;q=0.5, */*", "json"),
        ("text/csv;q=0.5, */*;q=0.1", "csv"),
        ("text/csv;q=0.5, application/*;q=0.4", "csv"),
        ("text/csv;q=0.5, application/*;q=0.6", "json"),
        ("text/csv;q=0.5, application/*;q=0.6, application/json;q=0.1", "csv"),
        ("text/html, text/csv;q=0.1", "csv"),
        ("application/json;q=0, text/csv;q=0.1", "csv"),
        ("*/*", "json"),
        ("text/*", "json"),
        ("application/xml", "json"),
        ("text/csv;q=abc", "json"),
        ("text/csv;q=nan", "json"),
    ],
)
def test_export_chooses_csv_or_json_from_accept(
    mixed: Tenant, accept: str | None, answer: str
) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    response = get(reader(mixed), MIXED_RANGE, **headers)
    if answer == "csv":
        assert csv_body(response).startswith(CSV_HEADER)
    else:
        assert json_document(response)["data"]


@pytest.mark.parametrize(
    ("fmt", "accept", "answer"),
    [
        ("json", "text/csv", "json"),
        ("csv", "application/json", "csv"),
        ("csv", "text/csv;q=0", "csv"),
        ("csv", "application/xml", "csv"),
        ("json", "*/*", "json"),
    ],
)
def test_export_format_overrides_accept(mixed: Tenant, fmt: str, accept: str, answer: str) -> None:
    response = get(reader(mixed), {**MIXED_RANGE, "format": fmt}, Accept=accept)
    if answer == "csv":
        assert csv_body(response).startswith(CSV_HEADER)
    else:
        assert json_document(response)["data"]


def test_export_errors_stay_json_when_csv_is_asked(service: Service, tenant: Tenant) -> None:
    asks: list[dict[str, str]] = [{"Accept": "text/csv"}, {}]
    for headers in asks:
        assert_error(
            get(reader(tenant), {"groupBy": "nope", "format": "csv"}, **headers),
            400,
            "invalid_parameter",
            "groupBy",
        )
        assert_error(
            get(reader(tenant), {"format": "csv", "start_date": DAY}, **headers),
            400,
            "unknown_parameter",
        )
        assert_error(
            get(reader(tenant), {"format": "csv", "orgId": "org_nobody"}, **headers),
            403,
            "forbidden",
        )
        assert_error(get(connect(service), {"format": "csv"}, **headers), 401, "unauthenticated")
        assert_error(
            get(connect(service, tenant.writer_secret), {"format": "csv"}, **headers),
            403,
            "forbidden",
        )
        assert_error(
            reader(tenant).post(EXPORT, params={"format": "csv"}, headers=headers),
            405,
            "method_not_allowed",
        )
    assert_error(
        get(reader(tenant), {"format": "xml"}, Accept="text/csv"), 400, "invalid_parameter"
    )


# -- credentials -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "{key}",
        "Basic {key}",
        "Token {key}",
        "Bearer",
        "Bearer {key} extra",
        "Bearer {key}x",
        "Bearer cmk_0000000000000000000000000000000000000000",
        "Bearer not-a-key",
        "Bearer: {key}",
    ],
)
def test_export_rejects_a_request_without_a_valid_personal_key(
    service: Service, mixed: Tenant, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header.format(key=mixed.key)}
    response = connect(service).get(EXPORT, params=ONE_DAY, headers=headers)
    assert_error(response, 401, "unauthenticated")
    assert mixed.key not in response.text


def test_edge_case_8_authorization_scheme_is_case_insensitive(
    service: Service, tenant: Tenant
) -> None:
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        response = connect(service).get(
            EXPORT, params=ONE_DAY, headers={"Authorization": f"{scheme} {tenant.key}"}
        )
        assert json_document(response)["orgId"] == tenant.org_id
    for header in (f"Bearer\t{tenant.key}", f"Bearers {tenant.key}", f"Bearer,{tenant.key}"):
        response = connect(service).get(EXPORT, params=ONE_DAY, headers={"Authorization": header})
        assert_error(response, 401, "unauthenticated")


def test_export_rejects_a_revoked_key(service: Service, tenant: Tenant) -> None:
    assert json_document(export(tenant, **ONE_DAY))["orgId"] == tenant.org_id
    revoked = admin(service).delete(f"/api/v1/admin/keys/{tenant.key_id}")
    assert revoked.status_code == 204, revoked.text
    error = assert_error(export(tenant, **ONE_DAY), 401, "unauthenticated")
    assert "revoked" in error["message"]


def test_export_rejects_an_expired_key(service: Service, tenant: Tenant) -> None:
    past_day = new_key(service, tenant.user_id, tenant.org_id, expiresAt="2026-01-01")
    past_instant = new_key(
        service,
        tenant.user_id,
        tenant.org_id,
        expiresAt=(datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    )
    future = new_key(
        service,
        tenant.user_id,
        tenant.org_id,
        expiresAt=(utc_today() + timedelta(days=2)).isoformat(),
    )
    for key in (past_day, past_instant):
        error = assert_error(get(connect(service, key["secret"]), ONE_DAY), 401, "unauthenticated")
        assert "expired" in error["message"]
    assert json_document(get(connect(service, future["secret"]), ONE_DAY))["orgId"] == tenant.org_id


def test_export_rejects_an_expired_key_made_in_the_directory(
    service: Service, tenant: Tenant
) -> None:
    _, secret = service.directory.create_key(
        tenant.user_id, tenant.org_id, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert_error(get(connect(service, secret), ONE_DAY), 401, "unauthenticated")


def test_export_forbids_service_tokens(service: Service, tenant: Tenant) -> None:
    _, reader_token = service.directory.create_token("all scopes", ["admin", "usage:write"])
    for secret in (tenant.writer_secret, service.admin_secret, reader_token):
        client = connect(service, secret)
        error = assert_error(get(client, ONE_DAY), 403, "forbidden", None)
        assert "personal" in error["message"]
        # The credential is judged before the parameters.
        assert_error(get(client, {"start_date": "x", "groupBy": ""}), 403, "forbidden", None)


def test_export_unauthenticated_and_malformed_is_401(service: Service) -> None:
    bad = [("start_date", "x"), ("groupBy", "nope"), ("groupBy", "again"), ("orgId", "org_x")]
    assert_error(get(connect(service), bad), 401, "unauthenticated")
    assert_error(get(connect(service, "cmk_unknown"), bad), 401, "unauthenticated")


# -- parameter errors --------------------------------------------------------------------


def test_export_rejects_unknown_parameter(mixed: Tenant) -> None:
    error = assert_error(
        get(reader(mixed), {"start_date": "2026-05-01"}), 400, "unknown_parameter", "start_date"
    )
    assert error["message"] == "Unknown query parameter 'start_date'. Did you mean 'startDate'?"


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("end_date", "endDate"),
        ("group_by", "groupBy"),
        ("org_id", "orgId"),
        ("api_key", "apiKey"),
        ("file_type", "fileType"),
        ("StartDate", "startDate"),
        ("products", "product"),
        ("Format", "format"),
    ],
)
def test_export_suggests_the_right_parameter_name(
    mixed: Tenant, name: str, suggestion: str
) -> None:
    error = assert_error(get(reader(mixed), {name: "x"}), 400, "unknown_parameter", name)
    assert name in error["message"]
    assert f"'{suggestion}'" in error["message"]


def test_export_lists_every_unknown_parameter(mixed: Tenant) -> None:
    params = [("start_date", "x"), ("group_by", "product"), ("zzz", "1"), ("start_date", "y")]
    error = assert_error(get(reader(mixed), params), 400, "unknown_parameter", "start_date")
    for mentioned in ("start_date", "startDate", "group_by", "groupBy", "zzz"):
        assert mentioned in error["message"]
    assert error["message"].count("'start_date'") == 1


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("startDate", ("2026-05-01", "2026-05-02")),
        ("endDate", ("2026-05-03", "2026-05-03")),
        ("groupBy", ("product", "feature")),
        ("orgId", ("org_a", "org_b")),
        ("format", ("csv", "csv")),
    ],
)
def test_export_rejects_a_single_valued_parameter_given_twice(
    mixed: Tenant, name: str, values: tuple[str, str]
) -> None:
    params = [(name, value) for value in values]
    error = assert_error(get(reader(mixed), params), 400, "duplicate_parameter", name)
    assert name in error["message"]


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ("Product", "product"),
        ("PRODUCT", "product"),
        ("apiKey", "api_key"),
        ("fileType", "file_type"),
        ("featur", "feature"),
        ("date", None),
        # "product,feature" was refused here until groupBy became a list (issue 13;
        # its refusals are tests/test_export_time.py's edge case 9).
        (" product", None),
    ],
)
def test_export_rejects_an_invalid_group_by(
    mixed: Tenant, value: str, suggestion: str | None
) -> None:
    error = assert_error(
        get(reader(mixed), {"groupBy": value}), 400, "invalid_parameter", "groupBy"
    )
    if suggestion is not None:
        assert f"'{suggestion}'" in error["message"]
    for allowed in ("product", "feature", "api_key", "file_type"):
        assert allowed in error["message"]


@pytest.mark.parametrize("name", ["startDate", "endDate"])
@pytest.mark.parametrize(
    "value",
    [
        "2026-02-30",
        "2025-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "2026-5-01",
        "2026-05-1",
        "20260501",
        "2026/05/01",
        "2026-05-01T00:00:00Z",
        "2026-05-01 ",
        " 2026-05-01",
        "0000-01-01",
        "yesterday",
        "\uff12\uff10\uff12\uff16-05-01",
        "\u0662\u0660\u0662\u0666-05-01",
    ],
)
def test_export_rejects_a_date_that_is_not_a_real_yyyy_mm_dd(
    mixed: Tenant, name: str, value: str
) -> None:
    other = "endDate" if name == "startDate" else "startDate"
    error = assert_error(
        get(reader(mixed), {name: value, other: "2026-02-10"}), 400, "invalid_parameter", name
    )
    assert "yyyy-mm-dd" in error["message"]


def test_export_accepts_a_leap_day(tenant: Tenant) -> None:
    document = json_document(export(tenant, startDate="2024-02-29", endDate="2024-02-29"))
    assert (document["startDate"], document["endDate"]) == ("2024-02-29", "2024-02-29")


def test_export_rejects_start_after_end(tenant: Tenant) -> None:
    error = assert_error(
        export(tenant, startDate="2026-05-20", endDate="2026-05-19"), 400, "invalid_parameter", None
    )
    assert "2026-05-20" in error["message"]
    assert "2026-05-19" in error["message"]
    later = (utc_today() + timedelta(days=3)).isoformat()
    assert_error(export(tenant, startDate=later), 400, "invalid_parameter", None)
    assert json_document(export(tenant, startDate=DAY, endDate=DAY))["startDate"] == DAY


@pytest.mark.parametrize("value", ["xml", "CSV", "Json", "csv ", "text/csv"])
def test_export_rejects_an_unknown_format(mixed: Tenant, value: str) -> None:
    error = assert_error(get(reader(mixed), {"format": value}), 400, "invalid_parameter", "format")
    assert "json" in error["message"]
    assert "csv" in error["message"]


def test_export_end_date_in_year_one_does_not_fail(tenant: Tenant) -> None:
    # endDate - 30 days falls before the first representable day: the default
    # start stops at 0001-01-01 rather than failing.
    document = json_document(export(tenant, endDate="0001-01-15"))
    assert (document["startDate"], document["endDate"]) == ("0001-01-01", "0001-01-15")
    assert json_document(export(tenant, endDate="0001-01-31"))["startDate"] == "0001-01-01"
    assert json_document(export(tenant, endDate="0001-02-01"))["startDate"] == "0001-01-02"
    last = json_document(export(tenant, startDate="9999-12-01", endDate="9999-12-31"))
    assert last["endDate"] == "9999-12-31"


def test_edge_case_2_range_limit_counts_days_inclusively(tenant: Tenant) -> None:
    leap_year = json_document(export(tenant, startDate="2024-01-01", endDate="2024-12-31"))
    assert leap_year["endDate"] == "2024-12-31"
    json_document(export(tenant, startDate="2025-01-01", endDate="2026-01-01"))
    for start, end in (("2024-01-01", "2025-01-01"), ("2025-01-01", "2026-01-02")):
        error = assert_error(
            export(tenant, startDate=start, endDate=end), 400, "range_too_long", None
        )
        assert "366" in error["message"]
        assert "367" in error["message"]


def test_export_range_limit_follows_the_setting(make_service: Callable[..., Service]) -> None:
    server = make_service(max_range_days=10, export_rate_limit=0)
    tenant = server.tenant()
    json_document(export(tenant, startDate="2026-05-01", endDate="2026-05-10"))
    json_document(export(tenant, startDate="2026-05-10", endDate="2026-05-10"))
    error = assert_error(
        export(tenant, startDate="2026-05-01", endDate="2026-05-11"), 400, "range_too_long", None
    )
    assert "10 days" in error["message"]


def test_edge_case_3_order_of_checks(make_service: Callable[..., Service]) -> None:
    server = make_service(export_rate_limit=2)
    tenant = server.tenant()
    anonymous = connect(server)
    bad = {"groupBy": "nope", "orgId": "org_not_mine"}

    # 405 before anything: even without a credential.
    assert_error(anonymous.post(EXPORT, params=bad), 405, "method_not_allowed")
    # 401 before the parameters are looked at.
    assert_error(get(anonymous, bad), 401, "unauthenticated")
    # A service token is 403 before the rate and the parameters: three of them
    # against a limit of two never meet a 429.
    writer = connect(server, tenant.writer_secret)
    for _ in range(3):
        assert_error(get(writer, bad), 403, "forbidden", None)
    # Parameters (400) before membership (403); both count towards the rate.
    assert_error(get(reader(tenant), bad), 400, "invalid_parameter", "groupBy")
    assert_error(get(reader(tenant), {"orgId": "org_not_mine"}), 403, "forbidden", "orgId")
    # 429 before the parameters.
    assert_error(get(reader(tenant), bad), 429, "rate_limited")
    assert_error(get(reader(tenant), {"start_date": "x"}), 429, "rate_limited")
    # ... but after the credential.
    assert_error(get(connect(server, tenant.key + "x"), bad), 401, "unauthenticated")
    assert_error(reader(tenant).delete(EXPORT), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        pytest.param(
            [("groupBy", "a"), ("groupBy", "b"), ("start_date", "x"), ("startDate", "bad")],
            "unknown_parameter",
            "start_date",
            id="unknown-before-duplicate",
        ),
        pytest.param(
            [("zzz", "1"), ("start_date", "x")],
            "unknown_parameter",
            "zzz",
            id="first-unknown-name",
        ),
        pytest.param(
            [("startDate", "bad"), ("format", "csv"), ("format", "csv")],
            "duplicate_parameter",
            "format",
            id="duplicate-before-values",
        ),
        pytest.param(
            [("orgId", "a"), ("orgId", "b"), ("startDate", "x"), ("startDate", "y")],
            "duplicate_parameter",
            "startDate",
            id="duplicates-in-table-order",
        ),
        pytest.param(
            [("endDate", ""), ("startDate", "bad")],
            "invalid_parameter",
            "startDate",
            id="start-date-before-empty-end-date",
        ),
        pytest.param(
            [("endDate", "bad"), ("startDate", "")],
            "invalid_parameter",
            "startDate",
            id="empty-start-date-before-end-date",
        ),
        pytest.param(
            [("groupBy", "nope"), ("endDate", "2026-02-31")],
            "invalid_parameter",
            "endDate",
            id="end-date-before-group-by",
        ),
        pytest.param(
            [("orgId", ""), ("groupBy", "nope")],
            "invalid_parameter",
            "groupBy",
            id="group-by-before-org-id",
        ),
        pytest.param(
            [("product", ""), ("orgId", " org")],
            "invalid_parameter",
            "orgId",
            id="org-id-before-filters",
        ),
        pytest.param(
            [("fileType", ""), ("apiKey", ""), ("feature", ""), ("product", "")],
            "invalid_parameter",
            "product",
            id="product-first-filter",
        ),
        pytest.param(
            [("fileType", ""), ("apiKey", ""), ("feature", "")],
            "invalid_parameter",
            "feature",
            id="feature-before-api-key",
        ),
        pytest.param(
            [("fileType", ""), ("apiKey", "")],
            "invalid_parameter",
            "apiKey",
            id="api-key-before-file-type",
        ),
        pytest.param(
            [("format", "xml"), ("fileType", "")],
            "invalid_parameter",
            "fileType",
            id="file-type-before-format",
        ),
        pytest.param(
            [("startDate", "2026-05-10"), ("endDate", "2026-05-01"), ("format", "xml")],
            "invalid_parameter",
            "format",
            id="values-before-start-after-end",
        ),
        pytest.param(
            [("startDate", "2026-05-10"), ("endDate", "2026-05-01")],
            "invalid_parameter",
            None,
            id="start-after-end",
        ),
        pytest.param(
            [("startDate", "2020-01-01"), ("endDate", "2026-01-01"), ("orgId", "org_not_mine")],
            "range_too_long",
            None,
            id="range-before-membership",
        ),
    ],
)
def test_export_reports_the_first_problem_in_contract_order(
    mixed: Tenant, params: Params, code: str, param: str | None
) -> None:
    assert_error(get(reader(mixed), params), 400, code, param)


@pytest.mark.parametrize(
    "name",
    [
        "startDate",
        "endDate",
        "groupBy",
        "orgId",
        "product",
        "feature",
        "apiKey",
        "fileType",
        "format",
    ],
)
def test_edge_case_4_empty_values(mixed: Tenant, name: str) -> None:
    error = assert_error(get(reader(mixed), {name: ""}), 400, "invalid_parameter", name)
    assert name in error["message"]
    # A bare name without '=' is an empty value too.
    assert_error(reader(mixed).get(f"{EXPORT}?{name}"), 400, "invalid_parameter", name)


def test_edge_case_4_empty_value_among_repeated_filters(tenant: Tenant) -> None:
    assert_error(
        get(reader(tenant), [("product", "parse"), ("product", "")]),
        400,
        "invalid_parameter",
        "product",
    )


def test_edge_case_4_group_by_is_case_sensitive(tenant: Tenant) -> None:
    error = assert_error(
        get(reader(tenant), {"groupBy": "Product"}), 400, "invalid_parameter", "groupBy"
    )
    assert "Did you mean 'product'?" in error["message"]


# -- access to organizations -------------------------------------------------------------


def test_export_forbids_an_org_the_user_is_not_in_like_one_that_does_not_exist(
    service: Service, tenant: Tenant
) -> None:
    other = service.tenant()
    send(other, [event("theirs", credits=5)])
    missing = f"org_{uuid.uuid4().hex[:12]}"
    assert len(missing) == len(other.org_id)

    not_member = get(reader(tenant), {"orgId": other.org_id, **ONE_DAY})
    nonexistent = get(reader(tenant), {"orgId": missing, **ONE_DAY})
    first = assert_error(not_member, 403, "forbidden", "orgId")
    second = assert_error(nonexistent, 403, "forbidden", "orgId")
    assert other.org_id in first["message"]
    assert first["message"].replace(other.org_id, "ORG") == second["message"].replace(
        missing, "ORG"
    )
    assert not_member.content.replace(other.org_id.encode(), b"ORG") == (
        nonexistent.content.replace(missing.encode(), b"ORG")
    )
    same_headers = {"content-type", "content-length"}
    assert {k: not_member.headers[k] for k in same_headers} == {
        k: nonexistent.headers[k] for k in same_headers
    }


def test_export_reads_every_organization_the_user_belongs_to(service: Service) -> None:
    home, away = service.tenant(), service.tenant()
    send(home, [event("home", product="home-product", credits=1)])
    send(away, [event("away", product="away-product", credits=2)])
    add_member(service, away.org_id, home.user_id)

    default = json_document(export(home, **ONE_DAY))
    assert default["orgId"] == home.org_id
    assert default["data"] == [row(DAY, "home-product", "1.0", 1)]
    chosen = json_document(export(home, orgId=away.org_id, **ONE_DAY))
    assert chosen["orgId"] == away.org_id
    assert chosen["data"] == [row(DAY, "away-product", "2.0", 1)]
    explicit_home = json_document(export(home, orgId=home.org_id, **ONE_DAY))
    assert explicit_home["data"] == default["data"]
    # Membership is one-way: the other organization's user still cannot read ours.
    assert_error(export(away, orgId=home.org_id, **ONE_DAY), 403, "forbidden", "orgId")


def test_export_member_removal_takes_effect_on_the_next_request(service: Service) -> None:
    home, away = service.tenant(), service.tenant()
    send(away, [event("away", credits=2)])
    add_member(service, away.org_id, home.user_id)
    assert json_rows(export(home, orgId=away.org_id, **ONE_DAY)) == [row(DAY, "parse", "2.0", 1)]

    remove_member(service, away.org_id, home.user_id)
    assert_error(export(home, orgId=away.org_id, **ONE_DAY), 403, "forbidden", "orgId")
    assert json_document(export(home, **ONE_DAY))["orgId"] == home.org_id

    add_member(service, away.org_id, home.user_id)
    assert json_rows(export(home, orgId=away.org_id, **ONE_DAY)) == [row(DAY, "parse", "2.0", 1)]


def test_export_key_whose_user_left_its_org_is_forbidden(service: Service) -> None:
    home, away = service.tenant(), service.tenant()
    send(away, [event("away", credits=3)])
    add_member(service, away.org_id, home.user_id)
    issued = new_key(service, home.user_id, away.org_id)
    client = connect(service, issued["secret"])
    assert json_document(get(client, ONE_DAY))["orgId"] == away.org_id

    remove_member(service, away.org_id, home.user_id)
    error = assert_error(get(client, ONE_DAY), 403, "forbidden")
    assert away.org_id in error["message"]
    # The key is the user's: the organizations they are still in stay readable.
    assert json_document(get(client, {"orgId": home.org_id, **ONE_DAY}))["orgId"] == home.org_id


# -- methods, paths, HEAD ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_edge_case_9_methods_other_than_get_are_405_json(
    service: Service, tenant: Tenant, method: str
) -> None:
    for client in (reader(tenant), connect(service)):
        response = client.request(
            method, EXPORT, params=ONE_DAY, headers={"Accept": "text/csv"}, content=b"{}"
        )
        error = assert_error(response, 405, "method_not_allowed", None)
        assert method in error["message"]
        assert "GET" in response.headers["allow"]


def test_export_head_answers_like_get(service: Service, tenant: Tenant) -> None:
    send(tenant, MIXED)
    for params in (MIXED_RANGE, {**MIXED_RANGE, "format": "csv"}):
        got = get(reader(tenant), params)
        head = reader(tenant).head(EXPORT, params=params)
        assert head.status_code == got.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == str(len(got.content))
    unauthenticated = connect(service).head(EXPORT)
    assert unauthenticated.status_code == 401
    assert unauthenticated.content == b""


# -- rate limit ---------------------------------------------------------------------------


def test_edge_case_10_rate_limit_counts_every_authenticated_request(
    make_service: Callable[..., Service],
) -> None:
    server = make_service(export_rate_limit=3)
    tenant = server.tenant()
    second_key = connect(server, new_key(server, tenant.user_id, tenant.org_id)["secret"])

    # Unauthenticated requests do not use up the key's allowance.
    for _ in range(5):
        assert_error(get(connect(server)), 401, "unauthenticated")
    # Every answer counts: a 400, a 403 and a 200.
    assert_error(get(reader(tenant), {"groupBy": "bad"}), 400, "invalid_parameter")
    assert_error(get(reader(tenant), {"orgId": "org_nobody"}), 403, "forbidden")
    json_document(get(reader(tenant), ONE_DAY))

    limited = get(reader(tenant), {**ONE_DAY, "format": "csv"})
    error = assert_error(limited, 429, "rate_limited", None)
    retry_after = limited.headers["retry-after"]
    assert re.fullmatch(r"[0-9]+", retry_after), retry_after
    assert 1 <= int(retry_after) <= 60
    assert retry_after in error["message"]
    head = reader(tenant).head(EXPORT, params=ONE_DAY)
    assert head.status_code == 429
    assert re.fullmatch(r"[0-9]+", head.headers["retry-after"])

    # The limit is per key, not per user.
    json_document(get(second_key, ONE_DAY))


# -- error codes, shapes and faults ------------------------------------------------------


def test_edge_case_13_error_codes(service: Service, tenant: Tenant) -> None:
    client = reader(tenant)
    cases: list[tuple[httpx.Response, int, str, str | object | None]] = [
        (get(client, {"groupBy": "x"}), 400, "invalid_parameter", "groupBy"),
        (get(client, {"endDate": ""}), 400, "invalid_parameter", "endDate"),
        (get(client, {"startDate": "2026-05-02", "endDate": "2026-05-01"}), 400,
         "invalid_parameter", None),
        (get(client, [("b_bad", "1"), ("a_bad", "1")]), 400, "unknown_parameter", "b_bad"),
        (get(client, [("groupBy", "product")] * 2), 400, "duplicate_parameter", "groupBy"),
        (get(client, {"startDate": "2020-01-01", "endDate": "2026-01-01"}), 400,
         "range_too_long", None),
        (get(connect(service)), 401, "unauthenticated", None),
        (get(client, {"orgId": "org_elsewhere"}), 403, "forbidden", "orgId"),
        (get(connect(service, tenant.writer_secret)), 403, "forbidden", None),
        (client.get("/api/v1/usage/exports"), 404, "not_found", _ABSENT),
        (client.get(f"{EXPORT}/more"), 404, "not_found", _ABSENT),
        (connect(service).get("/api/v1/nothing-here"), 404, "not_found", _ABSENT),
        (client.put(EXPORT), 405, "method_not_allowed", None),
    ]  # fmt: skip
    for response, status, code, param in cases:
        assert_error(response, status, code, param)


def test_export_error_bodies_hold_no_secret(service: Service, tenant: Tenant) -> None:
    responses = [
        get(connect(service, tenant.key + "0"), ONE_DAY),
        get(connect(service, tenant.writer_secret), ONE_DAY),
        get(connect(service, f"Basic {tenant.key}")),
        get(reader(tenant), {"orgId": "org_elsewhere"}),
    ]
    for response in responses:
        assert response.status_code in (401, 403)
        assert tenant.key not in response.text
        assert tenant.writer_secret not in response.text


def test_export_server_fault_is_500_saying_only_that(
    make_service: Callable[..., Service],
) -> None:
    server = make_service(export_rate_limit=0)
    tenant = server.tenant()
    send(tenant, [event("fine")])
    # Damage the store under the service so that reading usage raises what the
    # export does not expect: the answer must say only that.
    with server.store.write() as connection:
        if server.store.dialect == "sqlite":
            # A day that is no date: reading it back fails.
            connection.exec_driver_sql(
                "INSERT INTO usage_daily_totals (org_id, day, credits_micro, request_count) "
                "VALUES (?, '2026-05-1x', 1, 1)",
                (tenant.org_id,),
            )
        else:
            connection.exec_driver_sql(
                "ALTER TABLE usage_product_quarter_rollups RENAME COLUMN request_count "
                "TO request_total"
            )
    response = get(reader(tenant), {"startDate": "2026-05-01", "endDate": "2026-05-31"})
    error = assert_error(response, 500, "internal_error", None)
    internals = ("2026-05-1x", "usage_daily_totals", "usage_product_quarter_rollups")
    for internal in (*internals, "request_count", "Error"):
        assert internal not in response.text
    assert "unexpected" in error["message"]
    csv_asked = get(reader(tenant), {"startDate": "2026-05-01", "format": "csv"})
    assert_error(csv_asked, 500, "internal_error", None)


# -- filters on null, future dates --------------------------------------------------------


def test_edge_case_11_filters_match_values_only(tenant: Tenant) -> None:
    send(
        tenant,
        [
            event("no-type", credits=1),
            event("typed", credits=2, fileType="pdf"),
            event("literal-null", credits=4, fileType="null"),
        ],
    )
    grouped = {"groupBy": "file_type", **ONE_DAY}
    assert json_rows(export(tenant, **grouped)) == [
        row(DAY, None, "1.0", 1),
        row(DAY, "null", "4.0", 1),
        row(DAY, "pdf", "2.0", 1),
    ]
    assert json_rows(export(tenant, fileType="null", **grouped)) == [row(DAY, "null", "4.0", 1)]
    assert json_rows(export(tenant, fileType="None", **grouped)) == []
    assert_error(export(tenant, fileType="", **grouped), 400, "invalid_parameter", "fileType")


def test_edge_case_12_future_dates_are_allowed_within_the_range_limit(tenant: Tenant) -> None:
    today = utc_today()
    start, end = today + timedelta(days=1), today + timedelta(days=30)
    document = json_document(export(tenant, startDate=start.isoformat(), endDate=end.isoformat()))
    assert (document["startDate"], document["endDate"], document["data"]) == (
        start.isoformat(),
        end.isoformat(),
        [],
    )
    far = json_document(export(tenant, endDate="2099-12-31"))
    assert far["startDate"] == "2099-12-01"
    assert_error(
        export(
            tenant, startDate=today.isoformat(), endDate=(today + timedelta(days=366)).isoformat()
        ),
        400,
        "range_too_long",
        None,
    )
