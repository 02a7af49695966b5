"""``creditmeter export`` against a real server, in every format.

The command runs in-process through Typer's runner; the server is the real
one of ``conftest.py``. What the API answered is fetched separately, over
plain HTTP, and the command's output is compared with it byte for byte.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from creditmeter.cli import app
from creditmeter.cli.export import Period, period_range
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


def test_table_shows_every_row_the_null_group_and_a_totals_row(shared: Tenant) -> None:
    result = ok(shared, *DAYS, "--group-by", "file_type", "--format", "table")
    lines = [" ".join(line.translate(BORDERS).split()) for line in result.stdout.splitlines()]
    assert f"{shared.org_id}, 2026-05-19 to 2026-05-22" in lines[0]
    assert "date file_type credits requests" in lines
    assert "2026-05-19 (none) 0.2 4" in lines
    assert "2026-05-20 pdf 0.000125 1" in lines
    assert "2026-05-22 (none) 4.5 3" in lines
    assert "total 25.300125 20" in lines
    assert sum(1 for line in lines if line.startswith("2026-05-")) == 7


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
    first, last = period_range(Period.last_month, datetime.now(UTC).date())
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


@pytest.mark.parametrize(
    ("period", "today", "expected"),
    [
        (Period.last_7_days, date(2026, 3, 3), (date(2026, 2, 25), date(2026, 3, 3))),
        (Period.last_30_days, date(2026, 3, 31), (date(2026, 3, 2), date(2026, 3, 31))),
        (Period.last_90_days, date(2026, 3, 31), (date(2026, 1, 1), date(2026, 3, 31))),
        (Period.this_month, date(2026, 3, 17), (date(2026, 3, 1), date(2026, 3, 17))),
        (Period.this_month, date(2026, 3, 1), (date(2026, 3, 1), date(2026, 3, 1))),
        (Period.last_month, date(2026, 3, 17), (date(2026, 2, 1), date(2026, 2, 28))),
        (Period.last_month, date(2028, 3, 31), (date(2028, 2, 1), date(2028, 2, 29))),
        (Period.last_month, date(2026, 1, 1), (date(2025, 12, 1), date(2025, 12, 31))),
    ],
)
def test_period_names_a_range_of_whole_days(
    period: Period, today: date, expected: tuple[date, date]
) -> None:
    assert period_range(period, today) == expected


# -- errors ---------------------------------------------------------------------------


def test_an_api_error_prints_the_servers_message_and_exits_1(shared: Tenant) -> None:
    result = export(shared, "--group-by", "prodcut")
    assert result.exit_code == 1
    assert result.stdout == ""
    message = server_message(raw_export(shared, groupBy="prodcut"))
    assert result.stderr == f"error: {message}\n"


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


def test_an_unreachable_server_exits_1_saying_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # the command retries 3 times first: about 3.5 s
    result = runner.invoke(app, ["export", "--url", url, "--api-key", "cmk_x"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: Could not connect to {url}:")


def test_the_url_comes_from_the_environment(shared: Tenant) -> None:
    env: dict[str, Any] = {"CREDITMETER_URL": shared.service.url, "CREDITMETER_API_KEY": shared.key}
    result = runner.invoke(app, ["export", "--format", "json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["orgId"] == shared.org_id
