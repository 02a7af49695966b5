"""The command line, command by command, on real SQLite files.

Most commands run in-process through Typer's runner; ``serve`` and ``demo``
run as real processes that tests talk to over HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from creditmeter.cli import app
from creditmeter.store import open_store
from creditmeter.store.database import normalise_url
from tests.conftest import Tenant
from tests.ports import free_port

runner = CliRunner()


@pytest.fixture
def db(new_database: Callable[[], str]) -> str:
    """A fresh database of the store under test."""
    return new_database()


def cm(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), input=input, env=env)


def ok(*args: str, input: str | None = None) -> Result:
    result = cm(*args, input=input)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


@pytest.fixture
def populated(db: str) -> str:
    ok("org", "create", "Acme", "--id", "org_acme", "--database-url", db)
    ok("user", "create", "ada@example.com", "--database-url", db)
    ok("member", "add", "org_acme", "ada@example.com", "--database-url", db)
    return db


# -- organizations, users, members -------------------------------------------------


def test_edge_case_5_org_create_generates_an_id_and_prints_it_first(db: str) -> None:
    result = ok("org", "create", "Globex", "--database-url", db)
    org_id, name = result.stdout.strip().split("\t")
    assert org_id.startswith("org_") and len(org_id) > 8
    assert name == "Globex"
    listed = as_json(ok("org", "list", "--json", "--database-url", db))
    assert listed == [{"id": org_id, "name": "Globex", "createdAt": listed[0]["createdAt"]}]


def test_org_create_json_prints_the_object(db: str) -> None:
    created = as_json(
        ok("org", "create", "Acme", "--id", "org_acme", "--json", "--database-url", db)
    )
    assert created["id"] == "org_acme" and created["name"] == "Acme"
    assert created["createdAt"].endswith("Z")


def test_org_create_duplicate_id_is_an_error(db: str) -> None:
    ok("org", "create", "Acme", "--id", "org_acme", "--database-url", db)
    result = cm("org", "create", "Other", "--id", "org_acme", "--database-url", db)
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_user_create_prints_id_then_email_and_rejects_duplicates(db: str) -> None:
    user_id, email = ok("user", "create", "Ada@Example.com", "--database-url", db).stdout.split()
    assert user_id.startswith("usr_") and email == "ada@example.com"
    again = cm("user", "create", "ada@example.com", "--database-url", db)
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_user_create_rejects_a_non_email(db: str) -> None:
    result = cm("user", "create", "not-an-email", "--database-url", db)
    assert result.exit_code == 1 and "not an email address" in result.stderr


def test_edge_case_6_member_add_defaults_to_member_and_changes_role_only_when_asked(
    populated: str,
) -> None:
    db = populated
    listed = as_json(ok("member", "list", "org_acme", "--json", "--database-url", db))
    assert [m["role"] for m in listed] == ["member"]
    ok("member", "add", "org_acme", "ada@example.com", "--role", "admin", "--database-url", db)
    ok("member", "add", "org_acme", "ada@example.com", "--database-url", db)
    listed = as_json(ok("member", "list", "org_acme", "--json", "--database-url", db))
    assert [m["role"] for m in listed] == ["admin"]


def test_edge_case_6_member_errors_exit_1_and_unknown_role_exits_2(populated: str) -> None:
    db = populated
    unknown_user = cm("member", "add", "org_acme", "nobody@example.com", "--database-url", db)
    assert unknown_user.exit_code == 1 and "nobody@example.com" in unknown_user.stderr
    unknown_org = cm("member", "add", "org_nope", "ada@example.com", "--database-url", db)
    assert unknown_org.exit_code == 1 and "org_nope" in unknown_org.stderr
    bad_role = cm(
        "member", "add", "org_acme", "ada@example.com", "--role", "boss", "--database-url", db
    )
    assert bad_role.exit_code == 2
    ok("member", "remove", "org_acme", "ada@example.com", "--database-url", db)
    again = cm("member", "remove", "org_acme", "ada@example.com", "--database-url", db)
    assert again.exit_code == 1 and "not a member" in again.stderr


# -- personal keys ------------------------------------------------------------------------


def test_key_create_json_has_secret_and_id(populated: str) -> None:
    created = as_json(
        ok(
            "key",
            "create",
            "ada@example.com",
            "--org",
            "org_acme",
            "--name",
            "laptop",
            "--json",
            "--database-url",
            populated,
        )
    )
    assert created["secret"].startswith("cmk_") and len(created["secret"]) >= 36
    assert created["id"].startswith("ukey_") and created["name"] == "laptop"
    assert created["orgId"] == "org_acme" and created["expiresAt"] is None


def test_key_create_prints_the_secret_once(populated: str) -> None:
    result = ok(
        "key", "create", "ada@example.com", "--org", "org_acme", "--database-url", populated
    )
    secret = next(w for w in result.stdout.split() if w.startswith("cmk_"))
    listed = ok("key", "list", "--json", "--database-url", populated).stdout
    assert secret not in listed


def test_edge_case_7_key_create_requires_membership(db: str) -> None:
    ok("org", "create", "Acme", "--id", "org_acme", "--database-url", db)
    ok("user", "create", "ada@example.com", "--database-url", db)
    result = cm("key", "create", "ada@example.com", "--org", "org_acme", "--database-url", db)
    assert result.exit_code == 1 and "not a member" in result.stderr


def test_edge_case_7_expires_takes_a_date_or_an_instant_and_warns_when_past(populated: str) -> None:
    by_date = as_json(
        ok(
            "key",
            "create",
            "ada@example.com",
            "--org",
            "org_acme",
            "--expires",
            "2099-03-01",
            "--json",
            "--database-url",
            populated,
        )
    )
    assert by_date["expiresAt"] == "2099-03-01T00:00:00Z"
    by_instant = as_json(
        ok(
            "key",
            "create",
            "ada@example.com",
            "--org",
            "org_acme",
            "--expires",
            "2099-03-01T12:00:00+02:00",
            "--json",
            "--database-url",
            populated,
        )
    )
    assert by_instant["expiresAt"] == "2099-03-01T10:00:00Z"
    past = cm(
        "key",
        "create",
        "ada@example.com",
        "--org",
        "org_acme",
        "--expires",
        "2020-01-01",
        "--database-url",
        populated,
    )
    assert past.exit_code == 0 and "warning" in past.stderr and "expired" in past.stderr
    bad = cm(
        "key",
        "create",
        "ada@example.com",
        "--org",
        "org_acme",
        "--expires",
        "soon",
        "--database-url",
        populated,
    )
    assert bad.exit_code == 2


def test_edge_case_8_key_list_shows_revoked_and_expired_keys_with_pinned_fields(
    populated: str,
) -> None:
    db = populated
    ok("user", "create", "bob@example.com", "--database-url", db)
    ok("member", "add", "org_acme", "bob@example.com", "--database-url", db)
    kept = as_json(
        ok("key", "create", "ada@example.com", "--org", "org_acme", "--json", "--database-url", db)
    )
    gone = as_json(
        ok(
            "key",
            "create",
            "ada@example.com",
            "--org",
            "org_acme",
            "--expires",
            "2020-01-01",
            "--json",
            "--database-url",
            db,
        )
    )
    bobs = as_json(
        ok("key", "create", "bob@example.com", "--org", "org_acme", "--json", "--database-url", db)
    )
    ok("key", "revoke", kept["id"], "--database-url", db)
    ok("key", "revoke", kept["id"], "--database-url", db)
    everything = as_json(ok("key", "list", "--json", "--database-url", db))
    assert {k["id"] for k in everything} == {kept["id"], gone["id"], bobs["id"]}
    pinned = {"id", "name", "orgId", "createdAt", "expiresAt", "lastUsedAt", "revokedAt"}
    for key in everything:
        assert pinned <= set(key)
        assert not any("secret" in field.lower() or "hash" in field.lower() for field in key)
    by_id = {k["id"]: k for k in everything}
    assert by_id[kept["id"]]["revokedAt"].endswith("Z")
    assert by_id[gone["id"]]["expiresAt"] == "2020-01-01T00:00:00Z"
    adas = as_json(ok("key", "list", "ada@example.com", "--json", "--database-url", db))
    assert {k["id"] for k in adas} == {kept["id"], gone["id"]}
    lines = ok("key", "list", "--database-url", db).stdout.splitlines()
    statuses = {line.split("\t")[0]: line.split("\t")[4] for line in lines}
    assert statuses == {kept["id"]: "revoked", gone["id"]: "expired", bobs["id"]: "active"}


def test_edge_case_8_revoking_an_unknown_key_is_an_error(db: str) -> None:
    result = cm("key", "revoke", "ukey_nope", "--database-url", db)
    assert result.exit_code == 1 and "ukey_nope" in result.stderr


# -- service tokens -----------------------------------------------------------------------


def test_token_create_list_revoke(db: str) -> None:
    created = as_json(
        ok(
            "token",
            "create",
            "gateway",
            "--scope",
            "usage:write",
            "--scope",
            "admin",
            "--json",
            "--database-url",
            db,
        )
    )
    assert created["secret"].startswith("cmt_") and created["id"].startswith("tok_")
    assert created["scopes"] == ["usage:write", "admin"]
    listed = as_json(ok("token", "list", "--json", "--database-url", db))
    assert [t["id"] for t in listed] == [created["id"]]
    assert created["secret"] not in json.dumps(listed)
    ok("token", "revoke", created["id"], "--database-url", db)
    ok("token", "revoke", created["id"], "--database-url", db)
    listed = as_json(ok("token", "list", "--json", "--database-url", db))
    assert listed[0]["revokedAt"].endswith("Z")
    unknown = cm("token", "revoke", "tok_nope", "--database-url", db)
    assert unknown.exit_code == 1


def test_token_create_needs_a_known_scope(db: str) -> None:
    assert cm("token", "create", "x", "--scope", "read", "--database-url", db).exit_code == 2
    assert cm("token", "create", "x", "--database-url", db).exit_code == 2


# -- options, URLs, schema, exit codes ---------------------------------------------------


def test_edge_case_1_options_are_accepted_after_the_subcommand(db: str) -> None:
    ok("org", "create", "Acme", "--id", "org_acme", "--database-url", db, "--json")
    ok("org", "list", "--json", "--database-url", db)


def test_edge_case_2_database_url_defaults_to_env_then_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CREDITMETER_DATABASE_URL", raising=False)
    ok("org", "create", "Here", "--id", "org_here")
    assert (tmp_path / "creditmeter.db").is_file()
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    env_url = f"sqlite:///{elsewhere / 'env.db'}"
    result = cm(
        "org", "create", "There", "--id", "org_there", env={"CREDITMETER_DATABASE_URL": env_url}
    )
    assert result.exit_code == 0, result.stderr
    assert (elsewhere / "env.db").is_file()
    absolute = f"sqlite:////{str(tmp_path / 'abs.db').lstrip('/')}"
    ok("org", "list", "--database-url", absolute)
    assert (tmp_path / "abs.db").is_file()


def test_edge_case_3_any_command_initialises_an_empty_database(db: str) -> None:
    assert as_json(ok("org", "list", "--json", "--database-url", db)) == []


def test_edge_case_3_an_older_schema_is_refused_until_migrate(db: str) -> None:
    from alembic import command

    from creditmeter.store.database import _alembic_config, head_revision

    engine = sa.create_engine(normalise_url(db))
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0001")
    engine.dispose()
    refused = cm("org", "list", "--database-url", db)
    assert refused.exit_code == 1
    assert "creditmeter migrate" in refused.stderr
    migrated = ok("migrate", "--database-url", db)
    assert f"from revision 0001 to {head_revision()}." in migrated.stdout
    ok("org", "list", "--database-url", db)
    assert "up to date" in ok("migrate", "--database-url", db).stdout


def test_migrate_refuses_a_database_it_did_not_create(db: str) -> None:
    engine = sa.create_engine(normalise_url(db))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE invoices (id INTEGER)")
    engine.dispose()
    result = cm("migrate", "--database-url", db)
    assert result.exit_code == 1 and "not created by creditmeter" in result.stderr


def test_edge_case_11_exit_codes(db: str) -> None:
    assert cm("org", "list", "--database-url", db).exit_code == 0
    assert cm("member", "remove", "org_x", "a@b.co", "--database-url", db).exit_code == 1
    assert cm("org", "create", "--database-url", db).exit_code == 2
    assert cm("no-such-command").exit_code == 2


def test_a_bad_database_url_is_a_clear_error() -> None:
    result = cm("org", "list", "--database-url", "nonsense://")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr


# -- messages, help and --version ------------------------------------------------------


def _every_command() -> list[list[str]]:
    """The argument lists that reach each command and group of ``creditmeter``."""
    paths: list[list[str]] = [[]]
    for info in app.registered_commands:
        paths.append([info.name or info.callback.__name__])  # type: ignore[union-attr]
    for group in app.registered_groups:
        paths.append([group.name])  # type: ignore[list-item]
        for info in group.typer_instance.registered_commands:  # type: ignore[union-attr]
            paths.append([group.name, info.name])  # type: ignore[list-item]
    return paths


@pytest.mark.parametrize("path", _every_command(), ids=lambda path: " ".join(path) or "-")
def test_help_at_80_columns_names_values_without_type_labels_or_broken_words(
    path: list[str],
) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "<bool>" not in text and "<list[" not in text and "<int>" not in text
    assert "Value error" not in text and "\\[" not in text
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "Options:" in text and "--help" in text


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (["export"], ["--format [table|json|csv]", "--start DATE", "--product NAME",
                      "--period [last-7-days|last-30-days|last-90-days|this-month|last-month]",
                      "--timeout SECONDS", "--max-retries N", "--output FILE"]),
        (["member", "add"], ["--role [owner|admin|member]", "--database-url URL", "--json "]),
        (["token", "create"], ["--scope [usage:write|admin]"]),
        (["key", "create"], ["--org ORG_ID", "--expires DATE", "--name NAME"]),
        (["serve"], ["--host HOST", "--port PORT"]),
    ],
)  # fmt: skip
def test_help_shows_each_options_value_whole(path: list[str], shown: list[str]) -> None:
    text = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}).stdout
    lines = [line.strip() for line in text.splitlines()]
    for words in shown:
        assert any(line.startswith(words) for line in lines), (words, text)


def test_version_prints_the_release() -> None:
    from creditmeter._version import __version__

    result = ok("--version")
    assert result.stdout == f"creditmeter {__version__}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["member", "add", "org_acme", "a@b.co", "--role", "boss"],
        ["token", "create", "gateway", "--scope", "usage:read"],
        ["export", "--format", "xml", "--api-key", "cmk_x"],
    ],
)
def test_a_wrong_choice_is_named_without_pydantics_value_error_prefix(
    db: str, args: list[str]
) -> None:
    if args[0] != "export":
        args = [*args, "--database-url", db]
    result = cm(*args)
    assert result.exit_code == 2
    assert "is not one of" in result.stderr
    assert "Value error" not in result.stderr


def test_json_failures_print_the_error_body_on_stdout_and_the_message_on_stderr(
    populated: str,
) -> None:
    db = populated
    result = cm("org", "create", "Other", "--id", "org_acme", "--json", "--database-url", db)
    assert result.exit_code == 1
    error = as_json(result)["error"]
    assert error["code"] == "conflict" and error["status"] == 409
    assert result.stderr == f"error: {error['message']}\n"

    result = cm("key", "list", "nobody@example.com", "--json", "--database-url", db)
    assert result.exit_code == 1
    assert as_json(result)["error"]["code"] == "not_found"


def test_json_usage_errors_print_the_error_body_on_stdout_too(populated: str) -> None:
    db = populated
    result = cm("member", "add", "org_acme", "ada@example.com", "--role", "boss", "--json",
                "--database-url", db)  # fmt: skip
    assert result.exit_code == 2
    assert as_json(result) == {
        "error": {
            "status": 400,
            "code": "invalid_parameter",
            "message": "Invalid value for '--role': 'boss' is not one of 'owner', 'admin', "
            "'member'.",
            "param": "--role",
        }
    }
    assert "'boss' is not one of" in result.stderr

    expired = cm("key", "create", "ada@example.com", "--org", "org_acme", "--expires", "soon",
                 "--json", "--database-url", db)  # fmt: skip
    assert expired.exit_code == 2
    assert as_json(expired)["error"]["param"] == "--expires"


def test_json_failure_of_a_bad_database_url_names_the_option() -> None:
    result = cm("org", "list", "--json", "--database-url", "nonsense://")
    assert result.exit_code == 1
    assert as_json(result)["error"]["param"] == "--database-url"


# -- ingest (ingest spec, edge case 12) --------------------------------------------------


def _lines(*events: dict[str, object]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def _event(n: int, **overrides: object) -> dict[str, object]:
    return {
        "id": f"e{n}",
        "orgId": "org_acme",
        "timestamp": "2026-05-19T10:00:00Z",
        "product": "parse",
        "credits": 1.5,
        **overrides,
    }


def _counts(result: Result) -> str:
    """The counts that end the first line of the summary."""
    return result.stdout.splitlines()[0].rpartition(": ")[2]


def _rollup_total(db: str) -> tuple[int, int]:
    store = open_store(db)
    try:
        with store.read() as connection:
            row = connection.exec_driver_sql(
                "SELECT COALESCE(SUM(credits_micro), 0), COUNT(*) FROM usage_events"
            ).one()
    finally:
        store.close()
    return int(row[0]), int(row[1])


def test_edge_case_12_ingest_imports_a_file_and_reports_counts(tmp_path: Path, db: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(*(_event(n) for n in range(25))) + "\n")
    result = ok("ingest", str(source), "--database-url", db)
    assert _counts(result) == "accepted 25, duplicates 0, conflicts 0"
    assert _rollup_total(db) == (25 * 1_500_000, 25)


def test_edge_case_12_ingest_again_finishes_a_cut_run_idempotently(tmp_path: Path, db: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(*(_event(n) for n in range(10))))
    ok("ingest", str(source), "--database-url", db)
    source.write_text(_lines(*(_event(n) for n in range(10)), _event(3, credits=9), _event(10)))
    result = ok("ingest", str(source), "--database-url", db, "--json")
    assert as_json(result) == {
        "accepted": 1,
        "duplicates": 11,
        "conflicts": ["e3"],
        "unknownOrgIds": ["org_acme"],
    }
    assert _rollup_total(db) == (11 * 1_500_000, 11)


def test_edge_case_12_ingest_stores_nothing_when_any_line_is_wrong(tmp_path: Path, db: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(
        _lines(_event(1), _event(2, credits="2"))
        + "not json\n\n"
        + _lines(_event(3, file_type="pdf"))
    )
    result = cm("ingest", str(source), "--database-url", db)
    assert result.exit_code == 1
    assert "line 2, credits" in result.stderr
    assert "line 3:" in result.stderr
    assert "line 5, file_type" in result.stderr and "fileType" in result.stderr
    assert "nothing was stored" in result.stderr
    assert _rollup_total(db) == (0, 0)


def test_ingest_names_a_bad_json_line_by_its_file_line_only(tmp_path: Path, db: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1), _event(2)) + '{"id": oops}\n')
    result = cm("ingest", str(source), "--database-url", db)
    assert result.exit_code == 1
    problem = result.stderr.splitlines()[0]
    assert problem == "line 3: The line is not valid JSON: Expecting value at column 8."


def test_ingest_json_failure_lists_the_problems_by_file_line(tmp_path: Path, db: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1), _event(2, credits=-1)))
    result = cm("ingest", str(source), "--database-url", db, "--json")
    assert result.exit_code == 1
    error = as_json(result)["error"]
    assert error["code"] == "invalid_events"
    assert [(d["index"], d["field"]) for d in error["details"]] == [(2, "credits")]
    assert "nothing was stored" in result.stderr


def test_edge_case_12_ingest_lists_at_most_100_problems(tmp_path: Path, db: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(*(_event(n, credits=-1) for n in range(150))))
    result = cm("ingest", str(source), "--database-url", db)
    assert result.exit_code == 1
    assert result.stderr.count("must be between 0") == 100


def test_edge_case_12_ingest_reads_stdin(db: str) -> None:
    result = ok("ingest", "-", "--database-url", db, input=_lines(_event(1), _event(2)))
    assert _counts(result) == "accepted 2, duplicates 0, conflicts 0"


def test_edge_case_12_ingest_commits_in_batches_of_the_maximum_size(
    tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITMETER_MAX_BATCH_EVENTS", "4")
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(*(_event(n) for n in range(10))))
    result = ok("ingest", str(source), "--database-url", db, "--json")
    assert as_json(result) == {
        "accepted": 10,
        "duplicates": 0,
        "conflicts": [],
        "unknownOrgIds": ["org_acme"],
    }
    assert _rollup_total(db) == (10 * 1_500_000, 10)


def test_ingest_of_a_missing_file_is_a_usage_error(db: str) -> None:
    assert cm("ingest", "/nonexistent.jsonl", "--database-url", db).exit_code == 2


def test_ingest_names_the_database_it_writes(tmp_path: Path, db: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1), _event(2)))
    if db.startswith("sqlite"):
        shown = db  # already absolute
    else:
        # A password in the URL is never printed (the test server trusts any).
        db = db.replace("postgres@", "postgres:s3cret@")
        shown = db.replace(":s3cret@", ":***@")
    result = ok("ingest", str(source), "--database-url", db)
    assert result.stdout.splitlines()[0] == (
        f"Recorded 2 events into {shown}: accepted 2, duplicates 0, conflicts 0"
    )
    assert "s3cret" not in result.stdout + result.stderr


def test_ingest_names_a_relative_sqlite_file_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("usage.jsonl").write_text(_lines(_event(1)))
    result = ok("ingest", "usage.jsonl", "--database-url", "sqlite:///here.db")
    assert f"into sqlite:///{tmp_path / 'here.db'}:" in result.stdout


def test_ingest_warns_when_it_creates_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CREDITMETER_DATABASE_URL", raising=False)
    Path("usage.jsonl").write_text(_lines(_event(1)))
    created = ok("ingest", "usage.jsonl")
    shown = f"sqlite:///{tmp_path / 'creditmeter.db'}"
    assert created.stderr.startswith(f"warning: {shown} does not exist: creating a new database.")
    assert "sqlite:///creditmeter-demo.db" in created.stderr
    assert (tmp_path / "creditmeter.db").is_file()
    again = ok("ingest", "usage.jsonl")
    assert again.stderr == ""
    assert again.stdout.startswith(f"Recorded 1 event into {shown}:")


def test_ingest_of_a_wrong_file_creates_no_database(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1, credits=-1)))
    result = cm("ingest", str(source), "--database-url", f"sqlite:///{tmp_path / 'new.db'}")
    assert result.exit_code == 1
    assert "does not exist" not in result.stderr
    assert not (tmp_path / "new.db").exists()


def test_ingest_names_the_organizations_the_directory_does_not_hold(
    tmp_path: Path, populated: str
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(
        _lines(_event(1), _event(2, orgId="org_ghost"), _event(3, orgId="org_attic"), _event(4))
    )
    result = ok("ingest", str(source), "--database-url", populated)
    assert result.stdout.splitlines()[1] == (
        "Not in the directory: org_attic, org_ghost. Their events are stored; create the "
        "organizations (creditmeter org create NAME --id ORG_ID) to export them."
    )
    assert _rollup_total(populated) == (4 * 1_500_000, 4)
    answer = as_json(ok("ingest", str(source), "--database-url", populated, "--json"))
    assert answer["unknownOrgIds"] == ["org_attic", "org_ghost"]
    known = tmp_path / "known.jsonl"
    known.write_text(_lines(_event(5)))
    assert len(ok("ingest", str(known), "--database-url", populated).stdout.splitlines()) == 1


def test_ingest_reports_an_id_conflicting_in_two_batches_once(
    tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITMETER_MAX_BATCH_EVENTS", "2")
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1), _event(2), _event(1, credits=2), _event(1, credits=3)))
    answer = as_json(ok("ingest", str(source), "--database-url", db, "--json"))
    assert (answer["accepted"], answer["duplicates"], answer["conflicts"]) == (2, 2, ["e1"])


# -- ingest --url: through a server's API ----------------------------------------------


def test_ingest_url_records_through_the_api_with_a_service_token(
    tmp_path: Path, tenant: Tenant
) -> None:
    ghost = f"{tenant.org_id}_ghost"
    source = tmp_path / "events.jsonl"
    source.write_text(
        _lines(_event(1, orgId=tenant.org_id), _event(2, orgId=ghost))
        + "\n"
        + _lines(_event(3, orgId=tenant.org_id, credits=2.25))
    )
    url = tenant.service.url
    args = ("ingest", str(source), "--url", url, "--token", tenant.writer_secret)
    result = ok(*args)
    assert result.stdout.splitlines() == [
        f"Recorded 3 events through {url}: accepted 3, duplicates 0, conflicts 0",
        f"Not in the directory: {ghost}. Their events are stored; create the organization "
        "(creditmeter org create NAME --id ORG_ID) to export them.",
    ]
    exported = tenant.export(startDate="2026-05-19", endDate="2026-05-19").json()["data"]
    assert [(row["credits"], row["requestCount"]) for row in exported] == [(3.75, 2)]
    again = as_json(ok(*args, "--json"))
    assert again == {"accepted": 0, "duplicates": 3, "conflicts": [], "unknownOrgIds": [ghost]}


def test_ingest_url_reads_the_token_from_the_environment(tmp_path: Path, tenant: Tenant) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1, orgId=tenant.org_id)))
    result = cm(
        "ingest",
        str(source),
        "--url",
        tenant.service.url,
        env={"CREDITMETER_TOKEN": tenant.writer_secret},
    )
    assert result.exit_code == 0, result.stderr
    assert _counts(result) == "accepted 1, duplicates 0, conflicts 0"


def test_ingest_url_without_a_token_says_how_to_pass_one(tmp_path: Path, tenant: Tenant) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1, orgId=tenant.org_id)))
    result = cm("ingest", str(source), "--url", tenant.service.url, env={"CREDITMETER_TOKEN": ""})
    assert result.exit_code == 2
    assert "--token" in result.stderr and "CREDITMETER_TOKEN" in result.stderr


def test_ingest_url_validates_the_file_first_and_sends_nothing_if_a_line_is_wrong(
    tmp_path: Path, tenant: Tenant
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(
        _lines(_event(1, orgId=tenant.org_id), _event(2, orgId=tenant.org_id, credits="2"))
    )
    result = cm("ingest", str(source), "--url", tenant.service.url, "--token", tenant.writer_secret)
    assert result.exit_code == 1
    assert "line 2, credits" in result.stderr and "nothing was stored" in result.stderr
    assert tenant.export(startDate="2026-05-19", endDate="2026-05-19").json()["data"] == []


def test_ingest_url_names_the_line_of_a_problem_the_server_finds(
    tmp_path: Path, tenant: Tenant
) -> None:
    # The day stands 10 credits short of the largest total: only the server can tell.
    with tenant.service.store.write() as connection:
        connection.exec_driver_sql(
            "INSERT INTO usage_daily_totals (org_id, day, credits_micro, request_count) "
            f"VALUES ('{tenant.org_id}', '2026-05-19', 8999999999990000000, 1)"
        )
    source = tmp_path / "events.jsonl"
    source.write_text(
        "\n" + _lines(_event(1, orgId=tenant.org_id), _event(2, orgId=tenant.org_id, credits=20))
    )
    result = cm("ingest", str(source), "--url", tenant.service.url, "--token", tenant.writer_secret)
    assert result.exit_code == 1
    assert "line 3, credits" in result.stderr
    assert "Nothing was stored; after fixing the file, run the import again." in result.stderr


def test_ingest_url_with_a_personal_key_is_refused_with_the_servers_reason(
    tmp_path: Path, tenant: Tenant
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1, orgId=tenant.org_id)))
    result = cm("ingest", str(source), "--url", tenant.service.url, "--token", tenant.key)
    assert result.exit_code == 1
    assert "Personal API keys cannot record usage" in result.stderr
    assert "Nothing was stored; after fixing that, run the import again." in result.stderr


def test_ingest_url_and_database_url_cannot_be_combined(tmp_path: Path, db: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1)))
    result = cm(
        "ingest", str(source), "--url", "http://127.0.0.1:1", "--token", "t", "--database-url", db
    )
    assert result.exit_code == 2
    assert "cannot be combined with --url" in result.stderr


def test_ingest_url_to_a_closed_port_asks_whether_the_server_is_running(
    tmp_path: Path,
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1)))
    url = f"http://127.0.0.1:{free_port()}"
    result = cm("ingest", str(source), "--url", url, "--token", "cmt_x", "--json")
    assert result.exit_code == 1
    assert f"Cannot reach {url} (connection refused): is the creditmeter server running?" in (
        result.stderr
    )
    assert "Nothing was stored" in result.stderr
    assert "is the creditmeter server running?" in as_json(result)["error"]["message"]


def test_ingest_sums_batches_alike_into_a_database_and_through_the_api(
    tmp_path: Path, tenant: Tenant, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITMETER_MAX_BATCH_EVENTS", "2")
    ok("org", "create", "Tenant", "--id", tenant.org_id, "--database-url", db)
    ghost = f"{tenant.org_id}_ghost"
    first = tmp_path / "first.jsonl"
    first.write_text(_lines(_event(1, orgId=ghost), _event(2, orgId=tenant.org_id)))
    second = tmp_path / "second.jsonl"
    second.write_text(
        _lines(
            _event(1, orgId=ghost, credits=2),
            _event(3, orgId=tenant.org_id),
            _event(1, orgId=ghost, credits=3),
            _event(2, orgId=tenant.org_id),
        )
    )
    through = ("--url", tenant.service.url, "--token", tenant.writer_secret)
    answers = []
    for where in (("--database-url", db), through):
        ok("ingest", str(first), *where)
        answers.append(as_json(ok("ingest", str(second), *where, "--json")))
    expected = {"accepted": 1, "duplicates": 3, "conflicts": ["e1"], "unknownOrgIds": [ghost]}
    assert answers[0] == answers[1] == expected


# -- serve and demo, as real processes ---------------------------------------------------


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITMETER_")}
    return subprocess.Popen(
        [sys.executable, "-m", "creditmeter", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the server exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_edge_case_4_serve_answers_health_and_readiness(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    process = _spawn(["serve", "--port", str(port), "--database-url", db], tmp_path)
    processes.append(process)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, process)
    assert httpx.get(f"{url}/readyz").status_code == 200
    assert httpx.get(f"{url}/api/v1/usage/export").status_code == 401
    assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "creditmeter"


def test_edge_case_4_serve_listens_on_127_0_0_1_port_8000_by_default() -> None:
    from creditmeter.cli.server import serve

    defaults = {
        p.name: p.default for p in __import__("inspect").signature(serve).parameters.values()
    }
    assert defaults["host"] == "127.0.0.1" and defaults["port"] == 8000


def test_demo_builds_data_prints_a_working_curl_and_serves(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    process = _spawn(["demo", "--port", str(port)], tmp_path)
    processes.append(process)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, process)
    assert (tmp_path / "creditmeter-demo.db").is_file()
    process.terminate()
    stdout, _ = process.communicate(timeout=10)
    key = next(word for word in stdout.split() if word.startswith("cmk_"))
    assert f'curl -H "Authorization: Bearer {key}"' in stdout
    # Serve the built demo again and run the printed export.
    again = _spawn(
        ["serve", "--port", str(port), "--database-url", "sqlite:///creditmeter-demo.db"], tmp_path
    )
    processes.append(again)
    _wait_ready(url, again)
    export = httpx.get(f"{url}/api/v1/usage/export", headers={"Authorization": f"Bearer {key}"})
    assert export.status_code == 200
    document = export.json()
    assert document["orgId"] == "org_acme"
    assert {row["group"] for row in document["data"]} == {"parse", "extract", "split", "edit"}
    days = {row["date"] for row in document["data"]}
    assert len(days) >= 28
    globex = httpx.get(
        f"{url}/api/v1/usage/export",
        params={"orgId": "org_globex", "groupBy": "file_type"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert globex.status_code == 200 and None in {row["group"] for row in globex.json()["data"]}
    initech = httpx.get(
        f"{url}/api/v1/usage/export",
        params={"orgId": "org_initech"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert initech.status_code == 403


def test_demo_refuses_a_port_in_use_before_touching_its_database(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    database.write_bytes(b"the running demo's data")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = cm("demo", "--port", str(port), "--database-url", f"sqlite:///{database}")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: Port {port} on 127.0.0.1 is in use (is a creditmeter demo already running?); "
        f"stop it or pass --port {port + 1}."
    )
    assert result.stdout == ""
    assert database.read_bytes() == b"the running demo's data"


def test_demo_usage_has_a_weekday_rhythm(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from creditmeter.demo import generate_events

    events = generate_events(datetime(2026, 6, 30, 23, 59, tzinfo=UTC))
    weekday = sum(1 for e in events if e.day.weekday() < 5) / (90 * 5 / 7)
    weekend = sum(1 for e in events if e.day.weekday() >= 5) / (90 * 2 / 7)
    assert weekend < weekday / 2
    assert {e.product for e in events} == {"parse", "extract", "split", "edit"}
    assert len({e.api_key for e in events}) > 4 and None in {e.file_type for e in events}


def test_an_unreachable_database_is_one_line_without_a_traceback() -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    result = cm("org", "list", "--database-url", url)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Could not use the database:")
    assert "refused" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_edge_case_12_ingest_names_the_line_when_a_later_batch_breaks_the_total_limit(
    tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITMETER_MAX_BATCH_EVENTS", "3")
    big = 1_000_000_000
    # The day stands 10 credits short of the limit: line 4 passes it, lines 1-3 do not.
    source = tmp_path / "events.jsonl"
    source.write_text(_lines(_event(1), _event(2), _event(3), _event(4, credits=big)))
    store = open_store(db)
    try:
        with store.write() as connection:
            connection.exec_driver_sql(
                "INSERT INTO usage_daily_totals (org_id, day, credits_micro, request_count) "
                "VALUES ('org_acme', '2026-05-19', 8999999999990000000, 1)"
            )
    finally:
        store.close()
    result = cm("ingest", str(source), "--database-url", db)
    assert result.exit_code == 1
    assert "line 4, credits" in result.stderr
    assert "The first 3 events of the file were stored" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("CREDITMETER_SECRET_KEY", "not-a-fernet-key-but-secret", "must be a Fernet key"),
        ("CREDITMETER_MAX_RANGE_DAYS", "many", "valid integer"),
    ],
)
def test_a_bad_setting_is_named_without_a_traceback_or_its_value(
    db: str, name: str, value: str, said: str
) -> None:
    result = cm("org", "list", "--database-url", db, env={name: value})
    assert result.exit_code == 1
    assert f"{name}: " in result.stderr and said in result.stderr
    assert value not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
