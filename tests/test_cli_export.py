"""``creditmeter export`` against a real server, in every format.

The command runs in-process through Typer's runner; the server is the real
one of ``conftest.py``. What the API answered is fetched separately, over
plain HTTP, and the command's output is compared with it byte for byte.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner, Result

from creditmeter.cli import app
from creditmeter.cli.export import in_option_words
from creditmeter.periods import BY_NAME, PERIODS
from creditmeter.web.dashboard import selection
from tests.conftest import Service, Tenant
from tests.ports import free_port
from tests.test_client import raw_export, server_message, tenant_with_data

runner = CliRunner()
DAYS = ["--start", "2026-05-19", "--end", "2026-05-22"]
DAYS_PARAMS = {"startDate": "2026-05-19", "endDate": "2026-05-22"}
BORDERS = str.maketrans("│┃", "  ")


@pytest.fixture(scope="module")
def shared(service: Service) -> Tenant:
    return tenant_with_data(service)


def export(tenant: Tenant, *args: str, env: dict[str, str | None] | None = None) -> Result:
    """``creditmeter export`` with the tenant's server and key (the key from the environment)."""
    environment: dict[str, str | None] = {
        "CREDITMETER_API_KEY": tenant.key,
        "CREDITMETER_URL": None,
    }
    return runner.invoke(
        app, ["export", "--url", tenant.service.url, *args], env=environment | (env or {})
    )


def ok(tenant: Tenant, *args: str) -> Result:
    result = export(tenant, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


# -- formats --------------------------------------------------------------------------


def test_json_is_the_apis_document_unchanged(shared: Tenant) -> None:
    result = ok(shared, *DAYS, "--group-by", "feature", "--format", "json")
    served = raw_export(shared, **DAYS_PARAMS, groupBy="feature")
    assert result.stdout_bytes == served.content + b"\n"


def test_csv_is_the_apis_csv_bytes(shared: Tenant) -> None:
    result = ok(shared, *DAYS, "--group-by", "feature", "--format", "csv")
    served = raw_export(shared, **DAYS_PARAMS, groupBy="feature", format="csv")
    assert result.stdout_bytes == served.content


def cells(text: str) -> list[str]:
    """The table's lines, borders blanked and runs of spaces made one."""
    return [" ".join(line.translate(BORDERS).split()) for line in text.splitlines()]


def test_table_is_each_groups_totals_over_the_range_with_a_total_row(shared: Tenant) -> None:
    result = ok(shared, *DAYS, "--group-by", "file_type", "--format", "table")
    lines = cells(result.stdout)
    assert lines[0] == f"{shared.org_id}: usage by file_type, 2026-05-19 to 2026-05-22 (4 days)"
    assert "file_type credits requests" in lines
    start = lines.index("file_type credits requests") + 1
    # One line per group (not per day and group), the most credits first; then the total.
    assert [line for line in lines[start:] if any(c.isalnum() for c in line)] == [
        "png 12.5 0",
        "docx 7.0 1",
        "(none) 4.7 7",
        "pdf 1.100125 12",
        "total 25.300125 20",
    ]


def test_table_separates_thousands_and_puts_the_most_credits_first(tenant: Tenant) -> None:
    day = "2026-04-02"
    tenant.record(
        [{"id": "big", "timestamp": f"{day}T10:00:00Z", "product": "parse", "credits": 12345.5}]
        + [
            {"id": f"n{n}", "timestamp": f"{day}T11:00:00Z", "product": "extract", "credits": 1}
            for n in range(1234)
        ]
    )
    result = ok(tenant, "--start", day, "--end", day, "--format", "table")
    lines = cells(result.stdout)
    body = [line for line in lines if line.split(" ")[0] in ("parse", "extract", "total")]
    assert body == ["parse 12,345.5 1", "extract 1,234.0 1,234", "total 13,579.5 1,235"]


def test_table_shows_a_group_value_as_written_not_as_markup(tenant: Tenant) -> None:
    event = {"id": "m", "timestamp": "2026-04-02T10:00:00Z", "product": "[bold]x[/]", "credits": 1}
    tenant.record([event])
    result = ok(tenant, "--start", "2026-04-02", "--end", "2026-04-02", "--format", "table")
    assert "[bold]x[/] 1.0 1" in cells(result.stdout)


def test_table_of_no_usage_says_so_with_zero_totals(shared: Tenant) -> None:
    result = ok(shared, "--start", "2020-01-01", "--end", "2020-01-02", "--format", "table")
    assert "No usage in this range." in result.stdout
    assert "total 0.0 0" in " ".join(result.stdout.translate(BORDERS).split())


def test_json_is_the_default_when_stdout_is_not_a_terminal(shared: Tenant) -> None:
    result = ok(shared, *DAYS)
    assert json.loads(result.stdout)["orgId"] == shared.org_id


# -- output files ---------------------------------------------------------------------


@pytest.mark.parametrize(("chosen", "params"), [("csv", {"format": "csv"}), ("json", {})])
def test_output_writes_the_apis_bytes_to_the_file(
    shared: Tenant, tmp_path: Path, chosen: str, params: dict[str, str]
) -> None:
    target = tmp_path / "usage.out"
    result = ok(
        shared, *DAYS, "--group-by", "file_type", "--format", chosen, "--output", str(target)
    )
    served = raw_export(shared, **DAYS_PARAMS, groupBy="file_type", **params)
    assert target.read_bytes() == served.content
    assert result.stdout == ""
    assert f"Wrote 7 rows ({shared.org_id}, 2026-05-19 to 2026-05-22, by file_type)" in (
        result.stderr
    )


def test_output_to_a_csv_file_is_csv_without_format(shared: Tenant, tmp_path: Path) -> None:
    ok(shared, *DAYS, "--output", str(tmp_path / "usage.csv"))
    assert (tmp_path / "usage.csv").read_bytes().startswith(b"date,group,credits,requestCount\r\n")


def test_output_writes_a_table_without_colour(shared: Tenant, tmp_path: Path) -> None:
    ok(shared, *DAYS, "--format", "table", "--output", str(tmp_path / "usage.txt"))
    text = (tmp_path / "usage.txt").read_text()
    assert "total" in text and "\x1b[" not in text


def test_an_output_file_that_cannot_be_written_exits_1(shared: Tenant, tmp_path: Path) -> None:
    result = export(shared, *DAYS, "--output", str(tmp_path / "missing" / "usage.csv"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Could not write ")


def test_csv_output_is_byte_identical_across_two_runs(shared: Tenant, tmp_path: Path) -> None:
    for name in ("one.csv", "two.csv"):
        ok(shared, *DAYS, "--group-by", "feature", "--output", str(tmp_path / name))
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()


# -- the query ------------------------------------------------------------------------


def test_filters_repeat_and_reach_the_api(shared: Tenant) -> None:
    result = ok(
        shared, *DAYS, "--group-by", "file_type", "--product", "parse", "--product", "extract",
        "--file-type", "pdf", "--file-type", "docx", "--format", "json",
    )  # fmt: skip
    served = raw_export(
        shared, **DAYS_PARAMS, groupBy="file_type", product=["parse", "extract"],
        fileType=["pdf", "docx"],
    )  # fmt: skip
    assert result.stdout_bytes == served.content + b"\n"
    rows = json.loads(result.stdout)["data"]
    assert {row["group"] for row in rows} == {"pdf", "docx"}


def test_feature_and_api_key_id_filters_reach_the_api(shared: Tenant) -> None:
    result = ok(shared, *DAYS, "--group-by", "api_key", "--feature", "agentic",
                "--api-key-id", "key_a", "--format", "json")  # fmt: skip
    assert json.loads(result.stdout)["data"] == [
        {"date": "2026-05-19", "group": "key_a", "credits": 0.1, "requestCount": 1}
    ]


def test_org_reads_another_organization_of_the_user(service: Service, shared: Tenant) -> None:
    other = service.tenant()
    service.admin.put(
        f"/api/v1/admin/orgs/{other.org_id}/members/{shared.user_id}", json={"role": "member"}
    )
    result = ok(shared, "--org", other.org_id, "--format", "json")
    assert json.loads(result.stdout)["orgId"] == other.org_id


def test_period_last_month_exports_last_month_by_file_type(tenant: Tenant) -> None:
    first, last = BY_NAME["last-month"].dates(datetime.now(UTC).date())
    this_month = last + timedelta(days=1)
    parse = {"product": "parse"}
    tenant.record(
        [
            {
                "id": "p1",
                "timestamp": f"{first}T00:00:00Z",
                "fileType": "pdf",
                "credits": 1,
                **parse,
            },
            {"id": "p2", "timestamp": f"{last}T23:59:59Z", "credits": 2, **parse},
            {"id": "p3", "timestamp": f"{this_month}T00:00:00Z", "credits": 4, **parse},
        ]
    )
    result = ok(tenant, "--period", "last-month", "--group-by", "file_type", "--format", "csv")
    assert result.stdout_bytes == (
        b"date,group,credits,requestCount\r\n" + f"{first},pdf,1.0,1\r\n{last},,2.0,1\r\n".encode()
    )


@pytest.mark.parametrize("period", PERIODS, ids=lambda period: period.name)
def test_period_asks_for_the_same_days_as_the_dashboards_range(shared: Tenant, period: Any) -> None:
    result = ok(shared, "--period", period.name, "--format", "json")
    document = json.loads(result.stdout)
    asked = selection.read_url([("range", period.dashboard_range)], today=datetime.now(UTC).date())
    dashboard = dict(item for item in asked.export_items if item[0].endswith("Date"))
    assert {"startDate": document["startDate"], "endDate": document["endDate"]} == dashboard


# -- time zones, bucket widths, several dimensions ------------------------------------

NEW_OPTIONS = [
    (
        ("--time-zone", "Europe/Berlin", "--bucket-width", "hour", "--group-by", "product,feature"),
        {"timeZone": "Europe/Berlin", "bucketWidth": "hour", "groupBy": "product,feature"},
    ),
    (
        ("--group-by", "api_key", "--group-by", "file_type", "--bucket-width", "month"),
        {"groupBy": "api_key,file_type", "bucketWidth": "month"},
    ),
    (("--time-zone", "UTC"), {"timeZone": "UTC"}),
    (
        ("--time-zone", "Asia/Kathmandu", "--group-by", "feature", "--group-by", "product,api_key"),
        {"timeZone": "Asia/Kathmandu", "groupBy": "feature,product,api_key"},
    ),
]


@pytest.mark.parametrize(("args", "params"), NEW_OPTIONS, ids=lambda value: str(value))
def test_json_and_csv_with_the_new_options_are_the_apis_bytes(
    shared: Tenant, args: tuple[str, ...], params: dict[str, str]
) -> None:
    as_json = ok(shared, *DAYS, *args, "--format", "json")
    served = raw_export(shared, **DAYS_PARAMS, **params)
    assert served.status_code == 200 and len(served.json()["data"]) > 0
    assert as_json.stdout_bytes == served.content + b"\n"
    as_csv = ok(shared, *DAYS, *args, "--format", "csv")
    assert as_csv.stdout_bytes == raw_export(shared, **DAYS_PARAMS, **params, format="csv").content


def test_group_by_repeated_is_the_comma_separated_list(shared: Tenant) -> None:
    repeated = ok(shared, *DAYS, "--group-by", "product", "--group-by", "feature")
    joined = ok(shared, *DAYS, "--group-by", "product,feature")
    assert repeated.stdout_bytes == joined.stdout_bytes
    assert json.loads(joined.stdout)["groupBy"] == "product,feature"


def test_a_bucket_width_outside_the_choice_is_a_usage_error(shared: Tenant) -> None:
    result = export(shared, "--bucket-width", "week")
    assert result.exit_code == 2
    assert "'week' is not one of 'hour', 'day', 'month'" in result.stderr


@pytest.mark.parametrize(
    ("args", "params", "said"),
    [
        (("--time-zone", "europe/berlin"), {"timeZone": "europe/berlin"}, "'Europe/Berlin'"),
        (("--time-zone", "+05:30"), {"timeZone": "+05:30"}, "'+05:30'"),
        (
            ("--group-by", "product, feature"),
            {"groupBy": "product, feature"},
            "--group-by",
        ),
        (
            ("--group-by", "product", "--group-by", "Feature"),
            {"groupBy": "product,Feature"},
            "'feature'",
        ),
        (
            ("--bucket-width", "hour", "--start", "2026-04-01", "--end", "2026-05-02"),
            {"bucketWidth": "hour", "startDate": "2026-04-01", "endDate": "2026-05-02"},
            "31",
        ),
    ],
)
def test_the_servers_refusal_of_a_zone_or_list_is_printed_in_option_words_exit_1(
    shared: Tenant, args: tuple[str, ...], params: dict[str, str], said: str
) -> None:
    served = raw_export(shared, **params)
    assert served.status_code == 400
    result = export(shared, *args)
    assert result.exit_code == 1 and result.stdout == ""
    message = server_message(served)
    assert (
        result.stderr == f"error: {in_option_words(message, served.json()['error'].get('param'))}\n"
    )
    assert said in result.stderr
    for name in ("timeZone", "bucketWidth", "groupBy", "startDate", "endDate"):
        assert name not in result.stderr


def test_in_option_words_names_the_new_options() -> None:
    said = in_option_words("'Hour' is not a bucketWidth; timeZone 'UTC'.", "bucketWidth")
    assert said == "'Hour' is not a --bucket-width; --time-zone 'UTC'."


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"])
def test_period_is_counted_from_today_in_the_time_zone(shared: Tenant, zone: str) -> None:
    before = datetime.now(ZoneInfo(zone)).date()
    result = ok(shared, "--period", "last-7-days", "--time-zone", zone, "--format", "json")
    after = datetime.now(ZoneInfo(zone)).date()
    document = json.loads(result.stdout)
    assert date.fromisoformat(document["endDate"]) in {before, after}
    first, _ = BY_NAME["last-7-days"].dates(date.fromisoformat(document["endDate"]))
    assert (document["startDate"], document["timeZone"]) == (first.isoformat(), zone)


def test_period_with_a_zone_the_server_refuses_prints_its_message(shared: Tenant) -> None:
    result = export(shared, "--period", "this-month", "--time-zone", "Kolkata")
    assert result.exit_code == 1
    assert result.stderr == f"error: {server_message(raw_export(shared, timeZone='Kolkata'))}\n"
    assert "Did you mean 'Asia/Kolkata'?" in result.stderr


def body_lines(text: str) -> list[str]:
    """The table's lines with a letter or digit in them, borders blanked."""
    return [line for line in cells(text) if any(c.isalnum() for c in line)]


def test_table_per_hour_has_a_start_column_and_a_column_per_dimension(shared: Tenant) -> None:
    result = ok(
        shared, "--start", "2026-05-19", "--end", "2026-05-19", "--time-zone", "Europe/Berlin",
        "--bucket-width", "hour", "--group-by", "product,api_key", "--format", "table",
    )  # fmt: skip
    assert body_lines(result.stdout) == [
        f"{shared.org_id}: usage by product,api_key per hour, 2026-05-19 to 2026-05-19 "
        "(1 day, Europe/Berlin)",
        "date start product api_key credits requests",
        "2026-05-19 03:00+02:00 parse key_a 0.1 1",
        "2026-05-19 04:00+02:00 parse key_b 0.2 4",
        "total 0.3 5",
    ]


def test_table_per_hour_shows_both_hours_of_a_fall_back_day(tenant: Tenant) -> None:
    tenant.record(
        [
            {
                "id": "a",
                "timestamp": "2026-10-25T00:30:00Z",
                "product": "parse",
                "feature": "agentic",
                "credits": 1,
            },
            {"id": "b", "timestamp": "2026-10-25T01:30:00Z", "product": "parse", "credits": 2},
        ]
    )
    result = ok(
        tenant, "--start", "2026-10-25", "--end", "2026-10-25", "--time-zone", "Europe/Berlin",
        "--bucket-width", "hour", "--group-by", "feature", "--format", "table",
    )  # fmt: skip
    assert body_lines(result.stdout)[1:] == [
        "date start feature credits requests",
        "2026-10-25 02:00+02:00 agentic 1.0 1",
        "2026-10-25 02:00+01:00 (none) 2.0 1",
        "total 3.0 2",
    ]


def test_table_per_day_lists_each_day_when_a_width_is_asked_for(shared: Tenant) -> None:
    result = ok(shared, *DAYS, "--bucket-width", "day", "--group-by", "file_type",
                "--product", "parse", "--format", "table")  # fmt: skip
    assert body_lines(result.stdout) == [
        f"{shared.org_id}: usage by file_type per day, 2026-05-19 to 2026-05-22 (4 days, UTC)",
        "date file_type credits requests",
        "2026-05-19 (none) 0.2 4",
        "2026-05-19 pdf 0.1 1",
        "2026-05-21 pdf 1.0 10",
        "2026-05-22 (none) 4.5 3",
        "total 5.8 18",
    ]


def test_table_of_several_dimensions_sums_each_combination_over_the_range(
    shared: Tenant,
) -> None:
    result = ok(shared, *DAYS, "--group-by", "product", "--group-by", "api_key",
                "--format", "table")  # fmt: skip
    assert body_lines(result.stdout) == [
        f"{shared.org_id}: usage by product,api_key, 2026-05-19 to 2026-05-22 (4 days)",
        "product api_key credits requests",
        "\u00e9dit key_b 12.5 0",
        "extract key_a 7.0 1",
        "parse (none) 5.5 13",
        "parse key_b 0.2 4",
        "parse key_a 0.1 1",
        'q"t (none) 0.000125 1',
        "total 25.300125 20",
    ]


def test_table_in_a_time_zone_without_a_width_is_the_summary_naming_the_zone(
    shared: Tenant,
) -> None:
    in_utc = ok(shared, *DAYS, "--group-by", "file_type", "--format", "table")
    in_zone = ok(shared, *DAYS, "--group-by", "file_type", "--time-zone", "UTC",
                 "--format", "table")  # fmt: skip
    assert body_lines(in_zone.stdout)[0] == body_lines(in_utc.stdout)[0][:-1] + ", UTC)"
    assert body_lines(in_zone.stdout)[1:] == body_lines(in_utc.stdout)[1:]


# -- errors ---------------------------------------------------------------------------


def test_an_api_error_prints_the_servers_message_and_exits_1(shared: Tenant) -> None:
    result = export(shared, "--group-by", "prodcut")
    assert result.exit_code == 1
    assert result.stdout == ""
    message = server_message(raw_export(shared, groupBy="prodcut"))
    assert result.stderr == f"error: {message.replace('groupBy', '--group-by')}\n"
    assert "'prodcut' is not a --group-by value" in result.stderr
    assert "Did you mean 'product'?" in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--start", "bad"), "--start: "),
        (("--end", "2026-02-30"), "--end: "),
        (("--start", "2026-05-22", "--end", "2026-05-19"), "--start 2026-05-22 is after --end"),
        (("--org", ""), "--org is empty"),
        (("--file-type", ""), "A --file-type filter value must not be empty."),
        (("--product", ""), "A --product filter value must not be empty."),
    ],
)
def test_an_api_error_names_the_commands_option_not_the_apis_parameter(
    shared: Tenant, args: tuple[str, ...], said: str
) -> None:
    result = export(shared, *args)
    assert result.exit_code == 1
    assert said in result.stderr
    for name in ("startDate", "endDate", "orgId", "fileType"):
        assert name not in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "status"),
    [
        ((), {"CREDITMETER_API_KEY": "cmk_not_a_real_key"}, 401),
        (("--org", "org_somebody_else"), {}, 403),
        (("--start", "2026-05-32"), {}, 400),
    ],
)
def test_every_api_error_exits_1_with_its_message(
    shared: Tenant, args: tuple[str, ...], env: dict[str, str], status: int
) -> None:
    result = export(shared, *args, env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr) > 20


def test_the_api_key_option_wins_over_the_environment(shared: Tenant) -> None:
    result = export(shared, "--api-key", shared.key, env={"CREDITMETER_API_KEY": "cmk_wrong"})
    assert result.exit_code == 0, result.stderr


def test_a_missing_api_key_is_a_usage_error(shared: Tenant) -> None:
    result = export(shared, env={"CREDITMETER_API_KEY": None})
    assert result.exit_code == 2
    assert "CREDITMETER_API_KEY" in result.stderr


def test_period_with_start_or_end_is_a_usage_error(shared: Tenant) -> None:
    result = export(shared, "--period", "last-month", "--start", "2026-05-01")
    assert result.exit_code == 2
    assert "cannot be combined with --start or --end" in result.stderr


def test_an_unknown_period_or_format_is_a_usage_error(shared: Tenant) -> None:
    assert export(shared, "--period", "last-year").exit_code == 2
    assert export(shared, "--format", "xml").exit_code == 2


def test_a_url_without_a_scheme_is_a_usage_error() -> None:
    result = runner.invoke(app, ["export", "--url", "localhost:8000", "--api-key", "cmk_x"])
    assert result.exit_code == 2
    assert "http://" in result.stderr


def test_a_refused_connection_asks_whether_the_server_is_running() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(
        app, ["export", "--url", url, "--api-key", "cmk_x", "--max-retries", "0"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: Cannot reach {url} (connection refused): is the creditmeter server running? "
        "Start it with `creditmeter serve`"
    )


@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[float]]]:
    """A port that accepts connections and never answers; the times it accepted one."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[float] = []
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(time.monotonic())
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()
    for connection in held:
        connection.close()


def test_timeout_and_max_retries_reach_the_client(silent_server: tuple[str, list[float]]) -> None:
    url, accepted = silent_server
    started = time.monotonic()
    result = runner.invoke(
        app,
        ["export", "--url", url, "--api-key", "cmk_x", "--timeout", "0.2", "--max-retries", "1"],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {url} did not answer within 0.2 seconds.")
    assert "--timeout" in result.stderr
    assert len(accepted) == 2  # the first try and one retry
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--timeout", "0"), "Invalid value for '--timeout'"),
        (("--timeout", "soon"), "Invalid value for '--timeout'"),
        (("--max-retries", "-1"), "Invalid value for '--max-retries'"),
    ],
)
def test_a_bad_timeout_or_max_retries_is_a_usage_error(args: tuple[str, ...], said: str) -> None:
    result = runner.invoke(app, ["export", "--api-key", "cmk_x", *args])
    assert result.exit_code == 2
    assert said in result.stderr


def test_the_url_comes_from_the_environment(shared: Tenant) -> None:
    env: dict[str, Any] = {"CREDITMETER_URL": shared.service.url, "CREDITMETER_API_KEY": shared.key}
    result = runner.invoke(app, ["export", "--format", "json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["orgId"] == shared.org_id
