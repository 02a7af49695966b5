"""``creditmeter alert|webhook`` on the database directly (``usage-alerts.md``, "Command
line" and edge case 20), on both stores; a running server delivers what they queue."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from typer.testing import CliRunner, Result

from creditmeter.cli import app
from creditmeter.webhooks import verify
from tests.alerting import fast_service
from tests.conftest import new_tenant
from tests.receivers import Receiver

runner = CliRunner()


def cm(db: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, [*args, "--database-url", db], env=env)


def ok(db: str, *args: str, env: dict[str, str] | None = None) -> Result:
    result = cm(db, *args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_edge_20_cli_refusals_exit_2_for_choices_and_1_with_the_apis_message(
    new_database: Callable[[], str],
) -> None:
    db = new_database()
    ok(db, "org", "create", "Acme", "--id", "org_acme")
    base = ["alert", "create", "Budget", "--org", "org_acme"]
    good = ["--metric", "credits", "--threshold", "10", "--period", "day"]
    assert cm(db, *base, "--metric", "credit", "--threshold", "1", "--period", "day").exit_code == 2
    assert (
        cm(db, *base, "--metric", "credits", "--threshold", "1", "--period", "week").exit_code == 2
    )
    refusals = [
        (["--metric", "requestCount", "--threshold", "2.5", "--period", "day"], "whole number"),
        (["--metric", "credits", "--threshold", "abc", "--period", "day"], "JSON number"),
        ([*good, "--time-zone", "europe/berlin"], "Did you mean 'Europe/Berlin'?"),
    ]
    for options, words in refusals:
        result = cm(db, *base, *options)
        assert result.exit_code == 1 and words in result.stderr, result.stderr
    unknown = cm(db, "alert", "create", "x", "--org", "org_nope", *good)
    assert unknown.exit_code == 1 and "org_nope" in unknown.stderr
    assert cm(db, "alert", "delete", "alr_nope").exit_code == 1
    assert cm(db, "webhook", "remove", "whk_nope").exit_code == 1
    private = cm(db, "webhook", "add", "http://127.0.0.1:9/x", "--org", "org_acme")
    assert private.exit_code == 1 and "CREDITMETER_WEBHOOK_ALLOW_PRIVATE" in private.stderr
    bad_url = cm(db, "webhook", "add", "ftp://example.com", "--org", "org_acme")
    assert bad_url.exit_code == 1 and "http" in bad_url.stderr
    # Nothing was created by any refusal.
    assert json.loads(ok(db, "alert", "list", "--json").stdout) == []
    assert json.loads(ok(db, "webhook", "list", "--json").stdout) == []
    allowed = ok(db, "webhook", "add", "http://127.0.0.1:9/x", "--org", "org_acme",
                 env={"CREDITMETER_WEBHOOK_ALLOW_PRIVATE": "1"})  # fmt: skip
    assert "whsec_" in allowed.stdout


def test_commands_manage_alerts_and_a_running_server_delivers_what_they_queue(
    new_database: Callable[[], str],
) -> None:
    db = new_database()
    with fast_service(db) as service, Receiver() as receiver:
        tenant = new_tenant(service)
        env = {"CREDITMETER_WEBHOOK_ALLOW_PRIVATE": "1"}
        added = json.loads(
            ok(db, "webhook", "add", receiver.url, "--org", tenant.org_id, "--json", env=env).stdout
        )
        assert added["secret"].startswith("whsec_") and added["orgId"] == tenant.org_id
        tenant.record([{"id": "e", "timestamp": datetime.now(UTC).isoformat(),
                        "product": "parse", "fileType": "pdf", "credits": 7.5}])  # fmt: skip
        created = json.loads(
            ok(db, "alert", "create", "Parse", "--org", tenant.org_id, "--metric", "credits",
               "--threshold", "7.5", "--period", "month", "--time-zone", "Europe/Berlin",
               "--product", "parse", "--file-type", "pdf", "--file-type", "docx",
               "--json").stdout
        )  # fmt: skip
        assert created["current"]["status"] == "triggered"
        assert created["filters"] == {"product": ["parse"], "fileType": ["pdf", "docx"]}
        assert created == tenant.reader.get(f"/api/v1/alerts/{created['id']}").json()
        (got,) = receiver.wait_for(1)
        verify(added["secret"], got.headers, got.body)
        assert got.json()["data"]["alertId"] == created["id"]
        queued = ok(db, "webhook", "test", added["id"]).stdout
        (test,) = receiver.wait_for(1, where=lambda r: b"webhook.test" in r.body)
        assert test.message_id in queued
        listed = ok(db, "alert", "list", "--org", tenant.org_id).stdout
        assert created["id"] in listed and "triggered" in listed
        assert added["secret"] not in ok(db, "webhook", "list").stdout
        ok(db, "alert", "delete", created["id"])
        ok(db, "webhook", "remove", added["id"])
        assert json.loads(ok(db, "alert", "list", "--org", tenant.org_id, "--json").stdout) == []
