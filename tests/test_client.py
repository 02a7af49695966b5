"""The Python client against a real server: every method, every error, the retries.

No transport is mocked: each test talks HTTP to a uvicorn server on a real
store (``service``, ``make_service``). Failures the server does not make on its
own are made real: a 5xx by renaming a table away under the running server, a
refused connection on a port nobody listens on, a timeout on a socket that
never answers. An ``http_client`` with event hooks counts the requests sent.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from creditmeter import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    Client,
    CreditmeterError,
    Export,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    RecordResult,
    ServerError,
    UsageRow,
)
from creditmeter.client._exceptions import parse_retry_after
from creditmeter.client._models import parse_export, parse_record_result
from creditmeter.client._retry import MAX_RETRY_AFTER, RetryPolicy
from creditmeter.dimensions import BY_NAME
from creditmeter.events import Event
from creditmeter.ingest import record
from creditmeter.rendering import ExportLayout, ExportRow, usage_csv, usage_json
from creditmeter.store import Store
from creditmeter.timestamps import parse_instant_us
from tests.conftest import Service, Tenant
from tests.ports import free_port

FAST = 0.01  # backoff for tests: the real schedule is exercised by RetryPolicy's own tests
RANGE = {"start_date": "2026-05-19", "end_date": "2026-05-22"}


def event(event_id: str, timestamp: str, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "timestamp": timestamp, **fields}


DATA = [
    event("c1", "2026-05-19T01:00:00Z", product="parse", feature="agentic", apiKey="key_a",
          fileType="pdf", credits=0.1),
    event("c2", "2026-05-19T02:00:00Z", product="parse", apiKey="key_b", credits=0.2,
          requestCount=4),
    event("c3", "2026-05-20T03:00:00Z", product="extract", feature="x,y", apiKey="key_a",
          fileType="docx", credits=7),
    event("c4", "2026-05-20T04:00:00Z", product='q"t', feature="agentic", fileType="pdf",
          credits=0.000125),
    event("c5", "2026-05-21T05:00:00Z", product="\u00e9dit", apiKey="key_b", fileType="png",
          credits=12.5, requestCount=0),
    *(
        event(f"t{n}", "2026-05-21T06:00:00Z", product="parse", fileType="pdf", credits=0.1)
        for n in range(10)
    ),
]  # fmt: skip


def one_row(
    day: date, group: str | None, credits: str, requests: int, *, by: str = "product"
) -> UsageRow:
    """A row of an export grouped by the one dimension ``by``, as the client reads it."""
    return UsageRow(day, group, Decimal(credits), requests, dimensions={BY_NAME[by].field: group})


BY_PRODUCT = [
    one_row(date(2026, 5, 19), "parse", "0.3", 5),
    one_row(date(2026, 5, 20), "extract", "7.0", 1),
    one_row(date(2026, 5, 20), 'q"t', "0.000125", 1),
    one_row(date(2026, 5, 21), "parse", "1.0", 10),
    one_row(date(2026, 5, 21), "\u00e9dit", "12.5", 0),
]
# Feature values ingest refuses (control characters) can still be stored by
# other means; the client's CSV must quote them exactly as the server does.
RAW_FEATURES = ["two\nlines", "carriage\rreturn", 'line\nand "quote"']


def tenant_with_data(service: Service) -> Tenant:
    """A new tenant holding DATA, and RAW_FEATURES on 2026-05-22."""
    tenant = service.tenant()
    tenant.record(DATA)
    instant = parse_instant_us("2026-05-22T12:00:00Z")
    stored = [
        Event(
            org_id=tenant.org_id,
            id=f"raw-{n}",
            timestamp_us=instant,
            product="parse",
            feature=value,
            api_key=None,
            file_type=None,
            credits_micro=1_500_000,
            request_count=1,
        )
        for n, value in enumerate(RAW_FEATURES)
    ]
    record(service.store, stored, received_us=instant)
    return tenant


@pytest.fixture(scope="module")
def shared(service: Service) -> Tenant:
    """One tenant with the data, for the tests that only read."""
    return tenant_with_data(service)


@pytest.fixture
def reader(shared: Tenant) -> Iterator[Client]:
    with Client(shared.service.url, shared.key, backoff=FAST) as client:
        yield client


class Traffic:
    """An ``httpx.Client`` that notes each request sent and each answer received."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, httpx.Request]] = []
        self.statuses: list[int] = []
        self.on_answer: list[Any] = []

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            event_hooks={"request": [self._request], "response": [self._response]}, **kwargs
        )

    def _request(self, request: httpx.Request) -> None:
        self.sent.append((time.monotonic(), request))

    def _response(self, response: httpx.Response) -> None:
        self.statuses.append(response.status_code)
        for hook in self.on_answer:
            hook(response)

    @property
    def count(self) -> int:
        return len(self.sent)


def raw_export(tenant: Tenant, **params: Any) -> httpx.Response:
    return tenant.export(**params)


def server_message(response: httpx.Response) -> str:
    return str(response.json()["error"]["message"])


@contextmanager
def table_away(store: Store, table: str) -> Iterator[Any]:
    """Rename ``table`` so the running server fails (5xx); ``restore()`` puts it back."""
    restored = False

    def restore() -> None:
        nonlocal restored
        if not restored:
            with store.write() as connection:
                connection.exec_driver_sql(f"ALTER TABLE {table}_away RENAME TO {table}")
            restored = True

    with store.write() as connection:
        connection.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        yield restore
    finally:
        restore()


def writer_events(org_id: str, count: int, *, prefix: str = "w", **fields: Any) -> list[dict]:
    return [
        {
            "id": f"{prefix}{n}",
            "orgId": org_id,
            "timestamp": "2026-05-19T12:00:00Z",
            "product": "parse",
            "credits": 1,
            **fields,
        }
        for n in range(count)
    ]


# -- export: the result ---------------------------------------------------------------


def test_export_returns_typed_rows_with_exact_credits(reader: Client, shared: Tenant) -> None:
    result = reader.export(start_date=date(2026, 5, 19), end_date=date(2026, 5, 21))
    assert isinstance(result, Export)
    assert result.org_id == shared.org_id
    assert (result.start_date, result.end_date) == (date(2026, 5, 19), date(2026, 5, 21))
    assert result.group_by == "product"
    assert result.data == BY_PRODUCT
    assert [str(row.credits) for row in result] == ["0.3", "7.0", "0.000125", "1.0", "12.5"]
    assert all(isinstance(row.credits, Decimal) for row in result)


def test_export_iterates_over_its_rows_and_has_a_length(reader: Client) -> None:
    result = reader.export(start_date="2026-05-19", end_date="2026-05-21")
    assert list(result) == result.data
    assert len(result) == 5


def test_export_takes_dates_as_date_objects_or_strings(reader: Client) -> None:
    as_dates = reader.export(start_date=date(2026, 5, 19), end_date=date(2026, 5, 21))
    as_text = reader.export(start_date="2026-05-19", end_date="2026-05-21")
    assert as_dates == as_text


def test_export_without_arguments_takes_the_servers_defaults(
    reader: Client, shared: Tenant
) -> None:
    result = reader.export()
    document = raw_export(shared).json()
    assert result.org_id == shared.org_id == document["orgId"]
    assert result.end_date.isoformat() == document["endDate"]
    assert result.start_date == result.end_date - timedelta(days=30)
    assert result.group_by == "product"


def test_export_filters_repeat_for_or_and_combine_with_and(reader: Client) -> None:
    pdf_of_parse_or_extract = reader.export(
        **RANGE, group_by="file_type", products=["parse", "extract"], file_types=["pdf"]
    )
    assert pdf_of_parse_or_extract.data == [
        one_row(date(2026, 5, 19), "pdf", "0.1", 1, by="file_type"),
        one_row(date(2026, 5, 21), "pdf", "1.0", 10, by="file_type"),
    ]
    by_key = reader.export(**RANGE, group_by="api_key", api_keys=["key_b"])
    assert by_key.data == [
        one_row(date(2026, 5, 19), "key_b", "0.2", 4, by="api_key"),
        one_row(date(2026, 5, 21), "key_b", "12.5", 0, by="api_key"),
    ]
    agentic = reader.export(**RANGE, group_by="feature", features=["agentic"])
    assert [(row.date.day, row.credits) for row in agentic] == [
        (19, Decimal("0.1")),
        (20, Decimal("0.000125")),
    ]


def test_export_takes_a_single_filter_value_as_a_string(reader: Client) -> None:
    assert reader.export(**RANGE, products="parse") == reader.export(**RANGE, products=["parse"])


def test_export_reports_the_null_group_as_none(reader: Client) -> None:
    result = reader.export(start_date="2026-05-19", end_date="2026-05-19", group_by="file_type")
    assert result.data == [
        one_row(date(2026, 5, 19), None, "0.2", 4, by="file_type"),
        one_row(date(2026, 5, 19), "pdf", "0.1", 1, by="file_type"),
    ]


def test_export_of_a_range_without_usage_is_empty(reader: Client) -> None:
    result = reader.export(start_date="2020-01-01", end_date="2020-01-31")
    assert result.data == [] and len(result) == 0


def test_export_reads_another_organization_the_user_belongs_to(
    service: Service, shared: Tenant
) -> None:
    other = service.tenant()
    joined = service.admin.put(
        f"/api/v1/admin/orgs/{other.org_id}/members/{shared.user_id}", json={"role": "member"}
    )
    assert joined.status_code == 200
    other.record([event("o1", "2026-05-19T09:00:00Z", product="split", credits=3)])
    with Client(service.url, shared.key) as client:
        result = client.export(start_date="2026-05-19", end_date="2026-05-19", org_id=other.org_id)
    assert result.org_id == other.org_id
    assert result.data == [one_row(date(2026, 5, 19), "split", "3.0", 1)]


def test_to_dicts_gives_plain_rows_with_exact_credits(reader: Client) -> None:
    rows = reader.export(start_date="2026-05-19", end_date="2026-05-19").to_dicts()
    assert rows == [
        {"date": date(2026, 5, 19), "group": "parse", "credits": Decimal("0.3"), "request_count": 5}
    ]


@pytest.mark.parametrize("group_by", ["product", "feature", "api_key", "file_type"])
def test_to_csv_is_byte_identical_to_the_servers_csv(
    reader: Client, shared: Tenant, group_by: str
) -> None:
    served = raw_export(
        shared, startDate="2026-05-19", endDate="2026-05-22", groupBy=group_by, format="csv"
    )
    assert served.status_code == 200
    assert reader.export(**RANGE, group_by=group_by).to_csv().encode("utf-8") == served.content


@pytest.mark.parametrize("group_by", ["product", "feature", "api_key", "file_type"])
def test_to_json_is_byte_identical_to_the_servers_document(
    reader: Client, shared: Tenant, group_by: str
) -> None:
    served = raw_export(shared, startDate="2026-05-19", endDate="2026-05-22", groupBy=group_by)
    assert reader.export(**RANGE, group_by=group_by).to_json().encode("utf-8") == served.content


def test_csv_is_byte_identical_across_two_runs(reader: Client, tmp_path: Path) -> None:
    first = reader.export(**RANGE, group_by="feature")
    second = reader.export(**RANGE, group_by="feature")
    assert first.to_csv(tmp_path / "one.csv") == second.to_csv(tmp_path / "two.csv")
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()


def test_to_csv_writes_the_same_bytes_to_a_file(reader: Client, tmp_path: Path) -> None:
    result = reader.export(**RANGE, group_by="feature")
    text = result.to_csv(tmp_path / "usage.csv")
    written = (tmp_path / "usage.csv").read_bytes()
    assert written == text.encode("utf-8")
    assert written.startswith(b"date,group,credits,requestCount\r\n")
    assert b'"line\nand ""quote"""' in written


def test_to_dataframe_has_the_documented_columns_and_types(reader: Client) -> None:
    pandas = pytest.importorskip("pandas")
    frame = reader.export(**RANGE, group_by="file_type").to_dataframe()
    assert list(frame.columns) == ["date", "group", "credits", "request_count"]
    assert pandas.api.types.is_datetime64_dtype(frame["date"])
    assert isinstance(frame["group"].dtype, pandas.StringDtype)
    assert frame["credits"].dtype == "float64"
    assert frame["request_count"].dtype == "int64"
    assert frame["date"].iloc[0] == pandas.Timestamp("2026-05-19")
    assert frame["group"].isna().tolist()[:2] == [True, False]
    assert frame["credits"].sum() == pytest.approx(0.2 + 0.1 + 7 + 0.000125 + 1 + 12.5 + 4.5)
    assert frame["request_count"].sum() == 4 + 1 + 1 + 1 + 10 + 0 + 3


def test_to_dataframe_of_an_empty_export_keeps_the_column_types(reader: Client) -> None:
    pandas = pytest.importorskip("pandas")
    frame = reader.export(start_date="2020-01-01", end_date="2020-01-02").to_dataframe()
    assert len(frame) == 0
    assert pandas.api.types.is_datetime64_dtype(frame["date"])
    assert frame["request_count"].dtype == "int64"


def test_to_dataframe_without_pandas_names_the_extra_to_install(
    reader: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = reader.export(**RANGE)
    monkeypatch.setitem(sys.modules, "pandas", None)  # what an absent package looks like
    with pytest.raises(ImportError, match=r"pip install 'creditmeter\[pandas\]'"):
        result.to_dataframe()


# -- export: time zones, bucket widths, several dimensions ----------------------------


def api_params(
    *,
    time_zone: str | None = None,
    bucket_width: str | None = None,
    group_by: str | list[str] | None = None,
    **params: str,
) -> dict[str, str]:
    """The client's new arguments under the API's names, for a request made by hand."""
    for name, value in (("timeZone", time_zone), ("bucketWidth", bucket_width)):
        if value is not None:
            params[name] = value
    if group_by is not None:
        params["groupBy"] = group_by if isinstance(group_by, str) else ",".join(group_by)
    return params


def test_export_groups_by_a_list_of_dimensions_sent_comma_joined(reader: Client) -> None:
    days = {"start_date": "2026-05-19", "end_date": "2026-05-21"}
    result = reader.export(**days, group_by=["product", "api_key"])
    assert reader.export(**days, group_by="product,api_key") == result
    assert result.group_by == "product,api_key"
    assert result.grouped_by == ("product", "api_key")
    assert (result.time_zone, result.bucket_width) == (None, None)
    assert [(row.date.day, dict(row.dimensions), str(row.credits)) for row in result] == [
        (19, {"product": "parse", "apiKey": "key_a"}, "0.1"),
        (19, {"product": "parse", "apiKey": "key_b"}, "0.2"),
        (20, {"product": "extract", "apiKey": "key_a"}, "7.0"),
        (20, {"product": 'q"t', "apiKey": None}, "0.000125"),
        (21, {"product": "parse", "apiKey": None}, "1.0"),
        (21, {"product": "\u00e9dit", "apiKey": "key_b"}, "12.5"),
    ]
    assert all(row.group is None and row.start is None for row in result)


def test_export_of_one_dimension_keeps_group_and_names_it_in_dimensions(reader: Client) -> None:
    result = reader.export(**RANGE, group_by=["api_key"])
    assert result.group_by == "api_key" and result.grouped_by == ("api_key",)
    assert [row.dimensions for row in result] == [{"apiKey": row.group} for row in result]
    assert result == reader.export(**RANGE, group_by="api_key")


def test_export_days_follow_the_time_zone_and_echo_it(reader: Client) -> None:
    # 01:00 and 02:00 UTC on 19 May are the evening of 18 May in New York.
    result = reader.export(
        start_date="2026-05-18", end_date="2026-05-18", time_zone="America/New_York"
    )
    assert (result.time_zone, result.bucket_width) == ("America/New_York", "day")
    assert result.data == [one_row(date(2026, 5, 18), "parse", "0.3", 5)]


def test_hour_rows_start_at_an_aware_datetime_with_the_offset_in_force(reader: Client) -> None:
    result = reader.export(
        start_date="2026-05-19",
        end_date="2026-05-19",
        time_zone="Asia/Kathmandu",
        bucket_width="hour",
    )
    kathmandu = timezone(timedelta(hours=5, minutes=45))
    assert [(row.start, row.group, str(row.credits)) for row in result] == [
        (datetime(2026, 5, 19, 6, 0, tzinfo=kathmandu), "parse", "0.1"),
        (datetime(2026, 5, 19, 7, 0, tzinfo=kathmandu), "parse", "0.2"),
    ]
    assert result.bucket_width == "hour"


def test_the_repeated_hour_of_a_fall_back_day_is_two_rows_the_earlier_first(
    tenant: Tenant,
) -> None:
    tenant.record(
        [
            event("early", "2026-10-25T00:30:00Z", product="parse", credits=1.5),
            event("late", "2026-10-25T01:30:00Z", product="parse", credits=0.5),
        ]
    )
    with Client(tenant.service.url, tenant.key) as client:
        result = client.export(
            start_date="2026-10-25",
            end_date="2026-10-25",
            group_by=["product", "feature"],
            time_zone="Europe/Berlin",
            bucket_width="hour",
        )
    assert [row.start.isoformat() for row in result if row.start] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    first, second = result.data
    assert second.start and first.start and second.start - first.start == timedelta(hours=1)
    assert [row.dimensions for row in result] == [{"product": "parse", "feature": None}] * 2
    assert [row.credits for row in result] == [Decimal("1.5"), Decimal("0.5")]
    pandas = pytest.importorskip("pandas")
    starts = result.to_dataframe()["start"]
    assert starts.tolist() == [
        pandas.Timestamp("2026-10-25T02:00:00+02:00"),
        pandas.Timestamp("2026-10-25T02:00:00+01:00"),
    ]
    assert starts.dt.hour.tolist() == [2, 2] and starts.is_unique


def test_month_rows_are_dated_the_first_of_the_month_clipped_to_the_range(reader: Client) -> None:
    result = reader.export(
        start_date="2026-05-20", end_date="2026-06-30", bucket_width="month", group_by="file_type"
    )
    assert {row.date for row in result} == {date(2026, 5, 20)}
    assert result.time_zone == "UTC"


NEW_PARAMETERS = [
    {"time_zone": "UTC"},
    {"time_zone": "Asia/Kathmandu", "bucket_width": "hour", "group_by": "product,feature"},
    {
        "time_zone": "Europe/Berlin",
        "bucket_width": "month",
        "group_by": ["api_key", "file_type", "product", "feature"],
    },
    {"bucket_width": "day", "group_by": ["feature", "product"]},
    {"time_zone": "America/St_Johns", "bucket_width": "hour", "group_by": ["feature"]},
]


@pytest.mark.parametrize("asked", NEW_PARAMETERS, ids=str)
def test_to_json_and_to_csv_are_byte_identical_with_the_new_parameters(
    reader: Client, shared: Tenant, asked: dict[str, Any]
) -> None:
    params = api_params(startDate="2026-05-18", endDate="2026-05-22", **asked)
    result = reader.export(start_date="2026-05-18", end_date="2026-05-22", **asked)
    assert len(result) > 0
    assert result.to_json().encode("utf-8") == raw_export(shared, **params).content
    served_csv = raw_export(shared, **params, format="csv")
    assert served_csv.status_code == 200
    assert result.to_csv().encode("utf-8") == served_csv.content


def test_edge_12_utc_alone_adds_only_the_echo_to_the_document(reader: Client) -> None:
    plain = reader.export(**RANGE)
    in_utc = reader.export(**RANGE, time_zone="UTC")
    assert in_utc.data == plain.data
    assert (in_utc.time_zone, in_utc.bucket_width) == ("UTC", "day")
    assert in_utc.to_json() == plain.to_json().replace(
        '"groupBy":"product",', '"groupBy":"product","timeZone":"UTC","bucketWidth":"day",'
    )


def test_to_dicts_has_a_key_per_dimension_and_start_for_hours(reader: Client) -> None:
    result = reader.export(
        start_date="2026-05-19",
        end_date="2026-05-19",
        group_by=["product", "api_key"],
        time_zone="UTC",
        bucket_width="hour",
    )
    assert result.columns == ("date", "start", "product", "api_key", "credits", "request_count")
    assert result.to_dicts()[0] == {
        "date": date(2026, 5, 19),
        "start": datetime(2026, 5, 19, 1, tzinfo=UTC),
        "product": "parse",
        "api_key": "key_a",
        "credits": Decimal("0.1"),
        "request_count": 1,
    }


def test_to_dataframe_has_a_column_per_dimension_and_start_in_the_zone(reader: Client) -> None:
    pandas = pytest.importorskip("pandas")
    result = reader.export(
        **RANGE, group_by=["product", "api_key"], time_zone="Europe/Berlin", bucket_width="hour"
    )
    frame = result.to_dataframe()
    assert list(frame.columns) == list(result.columns)
    assert list(frame.columns) == [
        "date",
        "start",
        "product",
        "api_key",
        "credits",
        "request_count",
    ]
    assert str(frame["start"].dt.tz) == "Europe/Berlin"
    assert frame["start"].iloc[0] == pandas.Timestamp("2026-05-19T03:00:00+02:00")
    assert isinstance(frame["api_key"].dtype, pandas.StringDtype)
    assert frame["api_key"].isna().sum() == sum(row.dimensions["apiKey"] is None for row in result)
    assert frame["request_count"].tolist() == [row.request_count for row in result]


def test_to_dataframe_of_an_empty_hourly_export_keeps_the_column_types(reader: Client) -> None:
    pandas = pytest.importorskip("pandas")
    frame = reader.export(
        start_date="2020-01-01", end_date="2020-01-01", group_by="product,feature",
        time_zone="Asia/Kolkata", bucket_width="hour",
    ).to_dataframe()  # fmt: skip
    assert len(frame) == 0
    assert list(frame.columns) == [
        "date",
        "start",
        "product",
        "feature",
        "credits",
        "request_count",
    ]
    assert isinstance(frame["start"].dtype, pandas.DatetimeTZDtype)


def test_edge_19_a_large_answer_is_read_whole(tenant: Tenant) -> None:
    count = 1_500
    tenant.record(
        [
            event(f"f{n}", "2026-05-19T08:00:00Z", product="parse", feature=f"feature-{n:04d}",
                  credits=0.25)
            for n in range(count)
        ]
    )  # fmt: skip
    params = {"startDate": "2026-05-19", "endDate": "2026-05-19", "groupBy": "feature"}
    with Client(tenant.service.url, tenant.key) as client:
        result = client.export(start_date="2026-05-19", end_date="2026-05-19", group_by="feature")
    assert len(result) == count
    assert result.to_json().encode("utf-8") == raw_export(tenant, **params).content
    assert result.to_csv().encode("utf-8") == raw_export(tenant, **params, format="csv").content


@contextmanager
def broken_server(body: bytes) -> Iterator[tuple[str, list[int]]]:
    """A server that starts a chunked 200 answer, sends ``body`` and hangs up without the
    final chunk: what a server does when it fails after the first byte (edge case 19)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    answered: list[int] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"transfer-encoding: chunked\r\n\r\n" + f"{len(body):x}\r\n".encode() + body
                    + b"\r\n"
                )  # fmt: skip
                answered.append(len(body))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", answered
    finally:
        listener.close()
        thread.join(timeout=5)


def test_edge_19_an_answer_that_breaks_off_raises_api_connection_error_after_retries() -> None:
    start = b'{"orgId":"org_x","startDate":"2026-05-19","endDate":"2026-05-19","groupBy":"product",'
    with (
        broken_server(start + b'"data":[{"date":"2026-05-19","group":"parse",') as (url, answered),
        Client(url, "cmk_x", max_retries=1, backoff=FAST) as client,
        pytest.raises(APIConnectionError, match="broke off") as caught,
    ):
        client.export()
    assert not isinstance(caught.value, APITimeoutError)
    assert len(answered) == 2  # tried again, like a lost connection


# -- export: pages --------------------------------------------------------------------

PAGED = {"start_date": "2026-05-19", "end_date": "2026-05-22", "group_by": ["product", "feature"]}


def test_export_pages_concatenate_to_the_whole_export_each_as_the_server_wrote_it(
    shared: Tenant,
) -> None:
    traffic = Traffic()
    bodies: list[bytes] = []
    traffic.on_answer.append(lambda response: bodies.append(response.read()))
    with Client(shared.service.url, shared.key, http_client=traffic.client()) as client:
        whole = client.export(**PAGED)
        pages = list(client.export_pages(**PAGED, limit=2))
    assert len(whole) == 9
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    assert [row for page in pages for row in page] == whole.data
    assert all(page.paged for page in pages) and not whole.paged
    assert [page.next_page is None for page in pages] == [False] * 4 + [True]
    for page, body in zip(pages, bodies[1:], strict=True):
        assert page.to_json().encode("utf-8") == body
    assert {page.group_by for page in pages} == {"product,feature"}
    sent = [dict(request.url.params) for _, request in traffic.sent[1:]]
    assert [params.get("page") for params in sent] == [None] + [p.next_page for p in pages[:-1]]
    assert {params["limit"] for params in sent} == {"2"}


def test_edge_14_iter_rows_reads_one_page_per_limit_rows(shared: Tenant) -> None:
    traffic = Traffic()
    with Client(shared.service.url, shared.key, http_client=traffic.client()) as client:
        whole = client.export(**PAGED)
        rows = client.iter_rows(**PAGED, limit=1)
        assert traffic.count == 1  # lazily: nothing sent before the first row is asked for
        assert next(rows) == whole.data[0]
        assert list(rows) == whole.data[1:]
    assert traffic.count == 1 + len(whole)


def test_export_pages_resume_after_a_cursor(reader: Client) -> None:
    first, *rest = reader.export_pages(**PAGED, limit=4)
    resumed = list(reader.export_pages(**PAGED, limit=4, page=first.next_page))
    assert resumed == rest


def test_edge_14_an_empty_export_is_one_empty_last_page(reader: Client) -> None:
    pages = list(reader.export_pages(start_date="2020-01-01", end_date="2020-01-31"))
    assert len(pages) == 1 and pages[0].data == [] and pages[0].next_page is None
    assert pages[0].to_json().endswith('"data":[],"nextPage":null}')


def test_edge_15_16_a_cursor_changed_or_for_another_query_raises_naming_page(
    reader: Client,
) -> None:
    cursor = next(reader.export_pages(**PAGED, limit=2)).next_page
    assert cursor is not None
    changed = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    other = {**PAGED, "group_by": ["feature", "product"]}
    for asked, page in ((PAGED, changed), (other, cursor)):
        with pytest.raises(InvalidRequestError) as caught:
            next(reader.export_pages(**asked, limit=2, page=page))
        assert caught.value.param == "page", asked
    with pytest.raises(InvalidRequestError) as other_limit:
        next(reader.export_pages(**PAGED, limit=3, page=cursor))
    assert other_limit.value.param == "page"


def test_export_pages_with_a_limit_out_of_bounds_raises_the_servers_error(
    reader: Client, shared: Tenant
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        next(reader.export_pages(limit=10_001))
    assert caught.value.param == "limit"
    assert str(caught.value) == server_message(raw_export(shared, limit="10001"))


# -- export: errors of the new parameters ---------------------------------------------


@pytest.mark.parametrize(
    ("call", "params", "param"),
    [
        ({"time_zone": "Europe/Berln"}, {"timeZone": "Europe/Berln"}, "timeZone"),
        ({"time_zone": "utc"}, {"timeZone": "utc"}, "timeZone"),
        ({"bucket_width": "Hour"}, {"bucketWidth": "Hour"}, "bucketWidth"),
        ({"group_by": ["product", "Feature"]}, {"groupBy": "product,Feature"}, "groupBy"),
        ({"group_by": "product, feature"}, {"groupBy": "product, feature"}, "groupBy"),
        ({"group_by": ["product"] * 2}, {"groupBy": "product,product"}, "groupBy"),
    ],
)
def test_a_bad_new_parameter_raises_invalid_request_error_with_the_servers_message(
    reader: Client, shared: Tenant, call: dict[str, Any], params: dict[str, str], param: str
) -> None:
    served = raw_export(shared, **params)
    assert served.status_code == 400
    with pytest.raises(InvalidRequestError) as caught:
        reader.export(**call)
    assert caught.value.param == param
    assert str(caught.value) == server_message(served)


def test_edge_1_a_misspelt_zone_is_refused_with_a_suggestion(reader: Client) -> None:
    with pytest.raises(InvalidRequestError, match="Did you mean 'Europe/Berlin'") as caught:
        reader.export(time_zone="europe/berlin")
    assert caught.value.param == "timeZone"


# -- documents read without a server --------------------------------------------------


def document(layout: ExportLayout, rows: list[ExportRow], next_page: str | None = None) -> bytes:
    return usage_json(layout, rows, next_page)


def test_edge_2_a_start_with_seconds_in_its_offset_is_written_back_exactly() -> None:
    layout = ExportLayout(
        "org_a", date(1971, 6, 1), date(1971, 6, 1), ("product",), "Africa/Monrovia", "hour"
    )
    rows = [ExportRow(date(1971, 6, 1), ("parse",), 1_500_000, 3, "1971-06-01T00:00:00-00:44:30")]
    result = parse_export(document(layout, rows))
    start = result.data[0].start
    assert start is not None and start.utcoffset() == -timedelta(minutes=44, seconds=30)
    assert result.to_json().encode("utf-8") == document(layout, rows)
    assert result.to_csv().encode("utf-8") == usage_csv(layout, rows)


def test_a_start_at_utc_is_written_with_plus_zero_never_z() -> None:
    layout = ExportLayout("org_a", date(2026, 1, 1), date(2026, 1, 1), ("feature",), "UTC", "hour")
    rows = [ExportRow(date(2026, 1, 1), (None,), 1, 1, "2026-01-01T00:00:00+00:00")]
    assert parse_export(document(layout, rows)).to_json().encode("utf-8") == document(layout, rows)


def test_edge_10_the_string_null_is_a_value_and_none_is_null() -> None:
    layout = ExportLayout("org_a", date(2026, 1, 1), date(2026, 1, 2), ("product", "file_type"))
    rows = [
        ExportRow(date(2026, 1, 1), ("null", None), 10, 1),
        ExportRow(date(2026, 1, 2), (None, "null"), 20, 2),
    ]
    result = parse_export(document(layout, rows))
    assert [row.dimensions for row in result] == [
        {"product": "null", "fileType": None},
        {"product": None, "fileType": "null"},
    ]
    assert result.to_csv().encode("utf-8") == usage_csv(layout, rows)
    assert result.to_csv().splitlines()[1:] == [
        "2026-01-01,null,,0.00001,1",
        "2026-01-02,,null,0.00002,2",
    ]


def test_a_page_is_written_back_with_its_cursor_and_the_last_with_null() -> None:
    layout = ExportLayout(
        "org_a", date(2026, 1, 1), date(2026, 1, 1), ("product",), None, None, paged=True
    )
    rows = [ExportRow(date(2026, 1, 1), ("parse",), 1, 1)]
    for cursor in ("AbC-_9", None):
        result = parse_export(document(layout, rows, cursor))
        assert (result.paged, result.next_page) == (True, cursor)
        assert result.to_json().encode("utf-8") == document(layout, rows, cursor)


def test_rows_made_by_hand_with_only_group_are_written_as_their_group() -> None:
    made = Export(
        "org_a", date(2026, 1, 1), date(2026, 1, 1), "file_type",
        [UsageRow(date(2026, 1, 1), "pdf", Decimal("1.5"), 2)],
    )  # fmt: skip
    layout = ExportLayout("org_a", date(2026, 1, 1), date(2026, 1, 1), ("file_type",))
    rows = [ExportRow(date(2026, 1, 1), ("pdf",), 1_500_000, 2)]
    assert made.to_json().encode("utf-8") == usage_json(layout, rows)
    assert made.to_csv().encode("utf-8") == usage_csv(layout, rows)


# -- export: errors -------------------------------------------------------------------


def test_an_unknown_key_raises_authentication_error_with_the_servers_message(
    service: Service,
) -> None:
    served = service.client("cmk_not_a_real_key").get("/api/v1/usage/export")
    with (
        Client(service.url, "cmk_not_a_real_key") as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.export()
    assert caught.value.status_code == 401
    assert caught.value.code == "unauthenticated"
    assert str(caught.value) == server_message(served)


def test_a_bad_parameter_raises_invalid_request_error_with_the_servers_message(
    reader: Client, shared: Tenant
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        reader.export(group_by="prodcut")
    error = caught.value
    assert (error.status_code, error.code, error.param) == (400, "invalid_parameter", "groupBy")
    assert str(error) == server_message(raw_export(shared, groupBy="prodcut"))
    assert "Did you mean 'product'?" in str(error)


def test_a_range_too_long_raises_invalid_request_error_without_a_param(reader: Client) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        reader.export(start_date="2024-01-01", end_date="2026-01-01")
    assert (caught.value.code, caught.value.param) == ("range_too_long", None)


def test_an_unknown_path_raises_invalid_request_error_404(shared: Tenant) -> None:
    with (
        Client(shared.service.url + "/nowhere", shared.key) as client,
        pytest.raises(InvalidRequestError) as caught,
    ):
        client.export()
    assert (caught.value.status_code, caught.value.code) == (404, "not_found")


def test_an_organization_the_user_is_not_in_raises_permission_denied(
    reader: Client, shared: Tenant
) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        reader.export(org_id="org_somebody_else")
    error = caught.value
    assert (error.status_code, error.code, error.param) == (403, "forbidden", "orgId")
    assert str(error) == server_message(raw_export(shared, orgId="org_somebody_else"))


def test_a_service_token_reading_usage_raises_permission_denied(shared: Tenant) -> None:
    with (
        Client(shared.service.url, shared.writer_secret) as client,
        pytest.raises(PermissionDeniedError, match="Service tokens cannot read usage"),
    ):
        client.export()


def test_a_rate_limited_key_raises_rate_limit_error_with_retry_after(make_service: Any) -> None:
    tenant = make_service(export_rate_limit=1).tenant()
    with Client(tenant.service.url, tenant.key, max_retries=0) as client:
        client.export()
        with pytest.raises(RateLimitError) as caught:
            client.export()
    error = caught.value
    assert (error.status_code, error.code) == (429, "rate_limited")
    assert error.retry_after is not None and 59 <= error.retry_after <= 60
    assert (
        str(error)
        == f"This key made too many export requests; try again in {error.retry_after} seconds."
    )


def test_a_server_error_raises_server_error_after_a_bounded_number_of_retries(
    make_service: Any,
) -> None:
    service = make_service()
    tenant = service.tenant()
    traffic = Traffic()
    with table_away(service.store, "usage_product_quarter_rollups"):
        served = raw_export(tenant)
        with (
            Client(
                service.url, tenant.key, max_retries=2, backoff=FAST, http_client=traffic.client()
            ) as client,
            pytest.raises(ServerError) as caught,
        ):
            client.export()
    assert served.status_code >= 500
    assert caught.value.status_code == served.status_code
    assert str(caught.value) == server_message(served)
    assert traffic.count == 3


def test_a_server_error_is_retried_until_the_server_recovers(make_service: Any) -> None:
    service = make_service()
    tenant = service.tenant()
    tenant.record([event("r1", "2026-05-19T09:00:00Z", product="parse", credits=2)])
    traffic = Traffic()
    with table_away(service.store, "usage_product_quarter_rollups") as restore:
        traffic.on_answer.append(lambda response: response.status_code >= 500 and restore())
        with Client(service.url, tenant.key, backoff=FAST, http_client=traffic.client()) as client:
            result = client.export(start_date="2026-05-19", end_date="2026-05-19")
    assert traffic.statuses[0] >= 500 and traffic.statuses[1:] == [200]
    assert result.data == [one_row(date(2026, 5, 19), "parse", "2.0", 1)]


def test_a_rate_limited_export_is_retried_after_the_retry_after_the_server_sent(
    make_service: Any,
) -> None:
    service = make_service(export_rate_limit=60)  # one a second, bursts of 60
    tenant = service.tenant()
    # The bucket's next token comes at some moment within the second after a 429:
    # on a busy machine it can come before the client's first request. Drain the
    # bucket again until the client's first request is the refused one, the
    # situation this test is about (a few tries at most).
    for _ in range(20):
        for _ in range(200):
            spent = raw_export(tenant)
            if spent.status_code == 429:
                break
        assert spent.status_code == 429 and spent.headers["Retry-After"] == "1"
        traffic = Traffic()
        with Client(service.url, tenant.key, backoff=FAST, http_client=traffic.client()) as client:
            result = client.export()
        if traffic.statuses[0] == 429:
            break
    assert result.org_id == tenant.org_id
    assert traffic.statuses == [429, 200]
    waited = traffic.sent[1][0] - traffic.sent[0][0]
    assert waited >= 0.95  # the Retry-After second, not the 0.01 s backoff


@pytest.mark.parametrize(
    "call",
    [
        {"group_by": "prodcut"},
        {"org_id": "org_somebody_else"},
    ],
)
def test_a_client_error_is_not_retried(shared: Tenant, call: dict[str, str]) -> None:
    traffic = Traffic()
    with (
        Client(
            shared.service.url, shared.key, backoff=FAST, http_client=traffic.client()
        ) as client,
        pytest.raises((InvalidRequestError, PermissionDeniedError)),
    ):
        client.export(**call)
    assert traffic.count == 1


def test_a_refused_connection_is_retried_then_raises_api_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    traffic = Traffic()
    with (
        Client(url, "cmk_x", max_retries=2, backoff=FAST, http_client=traffic.client()) as client,
        pytest.raises(APIConnectionError) as caught,
    ):
        client.export()
    assert not isinstance(caught.value, APITimeoutError)
    assert str(caught.value).startswith(f"Could not connect to {url}:")
    assert traffic.count == 3


def test_a_server_that_never_answers_raises_api_timeout_error() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections are accepted by the kernel, never answered
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        traffic = Traffic()
        started = time.monotonic()
        with (
            Client(
                url, "cmk_x", timeout=0.2, max_retries=1, backoff=FAST, http_client=traffic.client()
            ) as client,
            pytest.raises(APITimeoutError, match=r"did not answer within 0\.2 seconds") as caught,
        ):
            client.export()
    assert isinstance(caught.value, APIConnectionError)
    assert traffic.count == 2
    assert time.monotonic() - started < 5


# -- the retry schedule ---------------------------------------------------------------


def test_backoff_doubles_from_the_first_delay_with_jitter() -> None:
    policy = RetryPolicy(max_retries=3, backoff=0.5)
    error = ServerError("down", status_code=503)
    for retries_done, expected in enumerate([0.5, 1.0, 2.0]):
        for _ in range(20):
            delay = policy.delay(retries_done, error)
            assert delay is not None and 0.75 * expected <= delay <= 1.25 * expected
    assert policy.delay(3, error) is None


def test_retry_after_is_honoured_up_to_a_minute_and_a_longer_one_raises_at_once() -> None:
    policy = RetryPolicy(max_retries=3, backoff=0.5)
    assert policy.delay(0, RateLimitError("slow", status_code=429, retry_after=7)) == 7.0
    at_most = RateLimitError("slow", status_code=429, retry_after=MAX_RETRY_AFTER)
    assert policy.delay(0, at_most) == 60.0
    too_long = RateLimitError("slow", status_code=429, retry_after=MAX_RETRY_AFTER + 1)
    assert policy.delay(0, too_long) is None


def test_only_rate_limits_server_errors_and_lost_connections_are_retried() -> None:
    policy = RetryPolicy()
    assert policy.delay(0, InvalidRequestError("bad", status_code=400)) is None
    assert policy.delay(0, AuthenticationError("who", status_code=401)) is None
    assert policy.delay(0, PermissionDeniedError("no", status_code=403)) is None
    assert policy.delay(0, APIConnectionError("gone")) is not None
    assert policy.delay(0, APITimeoutError("slow")) is not None


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("30") == 30
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_a_minute = datetime.now(UTC) + timedelta(seconds=61)
    seconds = parse_retry_after(in_a_minute.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert seconds is not None and 59 <= seconds <= 61


# -- record ---------------------------------------------------------------------------


@pytest.fixture
def platform(tenant: Tenant) -> Iterator[Client]:
    """A client with the tenant's service token, as a platform records usage."""
    with Client(tenant.service.url, tenant.writer_secret, backoff=FAST) as client:
        yield client


def test_record_sends_events_in_batches_and_sums_the_answers(tenant: Tenant) -> None:
    traffic = Traffic()
    with Client(tenant.service.url, tenant.writer_secret, http_client=traffic.client()) as client:
        result = client.record(writer_events(tenant.org_id, 25), batch_size=10)
    assert result == RecordResult(accepted=25, duplicates=0, conflicts=[], batches=3)
    assert traffic.count == 3
    document = raw_export(tenant, startDate="2026-05-19", endDate="2026-05-19").json()
    assert document["data"] == [
        {"date": "2026-05-19", "group": "parse", "credits": 25.0, "requestCount": 25}
    ]


def test_record_again_counts_duplicates_and_reports_conflicts(
    platform: Client, tenant: Tenant
) -> None:
    platform.record(writer_events(tenant.org_id, 5))
    again = writer_events(tenant.org_id, 5)
    again[3]["credits"] = 2
    result = platform.record(again, batch_size=2)
    assert result == RecordResult(accepted=0, duplicates=5, conflicts=["w3"], batches=3)


def test_record_reports_an_id_that_conflicts_in_two_batches_once(
    platform: Client, tenant: Tenant
) -> None:
    platform.record(writer_events(tenant.org_id, 4))
    again = writer_events(tenant.org_id, 4)
    again[1]["credits"] = 2
    # The same id, differing again, in the second batch: one id to look into, two duplicates.
    result = platform.record([*again, {**again[1], "credits": 3}], batch_size=2)
    assert result == RecordResult(accepted=0, duplicates=5, conflicts=["w1"], batches=3)


def test_record_names_the_unknown_organizations_of_every_batch_sorted_once(
    platform: Client, tenant: Tenant
) -> None:
    late, early = f"{tenant.org_id}_z", f"{tenant.org_id}_a"
    events = [
        *writer_events(late, 2, prefix="u"),
        *writer_events(tenant.org_id, 2, prefix="u"),
        *writer_events(early, 1, prefix="u"),
        *writer_events(late, 1, prefix="v"),
    ]
    result = platform.record(events, batch_size=2)
    assert result == RecordResult(6, 0, [], batches=3, unknown_org_ids=[early, late])


def test_record_results_add_counts_and_merge_ids_once() -> None:
    first = RecordResult(1, 2, ["b", "a"], batches=1, unknown_org_ids=["org_y"])
    second = RecordResult(3, 1, ["c", "b"], batches=2, unknown_org_ids=["org_x", "org_y"])
    assert first + second == RecordResult(
        accepted=4,
        duplicates=3,
        conflicts=["b", "a", "c"],  # each once, in the order first reported
        batches=3,
        unknown_org_ids=["org_x", "org_y"],
    )


def test_record_result_reads_an_answer_without_unknown_org_ids() -> None:
    # A server older than the field answers without it.
    answer = b'{"accepted": 1, "duplicates": 0, "conflicts": []}'
    assert parse_record_result(answer) == RecordResult(1, 0, [], batches=1, unknown_org_ids=[])


def test_record_writes_decimal_and_datetime_values_exactly(
    platform: Client, tenant: Tenant
) -> None:
    plus_two = timezone(timedelta(hours=2))
    events = [
        {
            "id": f"d{n}",
            "orgId": tenant.org_id,
            # 01:30 at +02:00 is 23:30 UTC the day before: it counts on 2026-05-19.
            "timestamp": datetime(2026, 5, 20, 1, 30, tzinfo=plus_two),
            "product": "parse",
            "credits": Decimal("0.000001"),
        }
        for n in range(3)
    ]
    assert platform.record(events).accepted == 3
    with Client(tenant.service.url, tenant.key) as client:
        result = client.export(start_date="2026-05-19", end_date="2026-05-20")
    assert result.data == [one_row(date(2026, 5, 19), "parse", "0.000003", 3)]


def test_a_naive_datetime_is_refused_by_the_server_with_its_reason(
    platform: Client, tenant: Tenant
) -> None:
    events = writer_events(tenant.org_id, 1, timestamp=datetime(2026, 5, 19, 12, 0))
    with pytest.raises(InvalidRequestError) as caught:
        platform.record(events)
    assert [(d["index"], d["field"]) for d in caught.value.details] == [(0, "timestamp")]
    assert "explicit offset" in caught.value.details[0]["message"]


def test_record_reads_events_lazily_from_any_iterable(platform: Client, tenant: Tenant) -> None:
    events = iter(writer_events(tenant.org_id, 7))
    assert platform.record(events, batch_size=3) == RecordResult(7, 0, [], batches=3)


def test_record_of_no_events_sends_nothing(tenant: Tenant) -> None:
    traffic = Traffic()
    with Client(tenant.service.url, tenant.writer_secret, http_client=traffic.client()) as client:
        assert client.record([]) == RecordResult(0, 0, [], batches=0)
    assert traffic.count == 0


def test_a_failed_batch_says_what_was_stored_and_sending_again_completes_the_job(
    platform: Client, tenant: Tenant
) -> None:
    events = writer_events(tenant.org_id, 25)
    events[12]["credits"] = "1"  # a string: the server refuses the whole second batch
    with pytest.raises(InvalidRequestError) as caught:
        platform.record(events, batch_size=10)
    error = caught.value
    assert (error.status_code, error.code) == (400, "invalid_events")
    assert error.stored == RecordResult(accepted=10, duplicates=0, conflicts=[], batches=1)
    assert [(d["index"], d["field"]) for d in error.details] == [(12, "credits")]
    events[12]["credits"] = 1
    assert platform.record(events, batch_size=10) == RecordResult(15, 10, [], batches=3)


def test_record_with_a_personal_key_raises_permission_denied(tenant: Tenant) -> None:
    with (
        Client(tenant.service.url, tenant.key) as client,
        pytest.raises(
            PermissionDeniedError, match="Personal API keys cannot record usage"
        ) as caught,
    ):
        client.record(writer_events(tenant.org_id, 1))
    assert caught.value.stored == RecordResult(0, 0, [], batches=0)


def test_a_batch_over_the_servers_limit_raises_invalid_request_error(make_service: Any) -> None:
    tenant = make_service(max_batch_events=5).tenant()
    with Client(tenant.service.url, tenant.writer_secret) as client:
        with pytest.raises(InvalidRequestError) as caught:
            client.record(writer_events(tenant.org_id, 6), batch_size=10)
        assert (caught.value.status_code, caught.value.code) == (413, "payload_too_large")
        assert client.record(writer_events(tenant.org_id, 6), batch_size=5).batches == 2


def test_a_batch_that_met_a_server_error_is_retried_and_counts_once(make_service: Any) -> None:
    service = make_service()
    tenant = service.tenant()
    traffic = Traffic()
    with table_away(service.store, "usage_events") as restore:
        traffic.on_answer.append(lambda response: response.status_code >= 500 and restore())
        with Client(
            service.url, tenant.writer_secret, backoff=FAST, http_client=traffic.client()
        ) as client:
            result = client.record(writer_events(tenant.org_id, 4))
    assert traffic.statuses[0] >= 500 and traffic.statuses[1:] == [200]
    assert result == RecordResult(4, 0, [], batches=1)
    rows = raw_export(tenant, startDate="2026-05-19", endDate="2026-05-19").json()["data"]
    assert [row["requestCount"] for row in rows] == [4]


# -- construction ---------------------------------------------------------------------


def test_the_client_reads_the_url_and_key_from_the_environment(
    shared: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITMETER_URL", shared.service.url)
    monkeypatch.setenv("CREDITMETER_API_KEY", shared.key)
    with Client() as client:
        assert client.export(**RANGE).org_id == shared.org_id


def test_the_client_defaults_to_a_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDITMETER_URL", raising=False)
    with Client(api_key="cmk_x") as client:
        assert client.base_url == "http://127.0.0.1:8000"


def test_a_client_without_a_key_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDITMETER_API_KEY", raising=False)
    with pytest.raises(CreditmeterError, match="set the CREDITMETER_API_KEY environment variable"):
        Client("http://127.0.0.1:8000")


def test_a_base_url_without_a_scheme_is_refused() -> None:
    with pytest.raises(CreditmeterError, match="must be an http:// or https:// URL"):
        Client("localhost:8000", "cmk_x")


def test_the_client_closes_its_connections_and_leaves_yours_open(shared: Tenant) -> None:
    with Client(shared.service.url, shared.key) as own:
        own.export(**RANGE)
    assert own._http.is_closed
    yours = httpx.Client()
    with Client(shared.service.url, shared.key, http_client=yours) as borrowed:
        borrowed.export(**RANGE)
    assert not yours.is_closed
    yours.close()
