"""Webhook secrets are stored encrypted (creditmeter/webhooks/sealing.py, decision 0011):
the column never holds the secret, deliveries still verify against the secret shown,
a wrong key holds the messages (and says so, once, without a secret), a SQLite database
without a key gets a key file, and PostgreSQL without a key refuses to seal. The key
changes without losing a secret: several keys open, the first seals, and
``creditmeter secret-key --reseal`` seals every stored secret under the first."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from typer.testing import CliRunner

from creditmeter.cli import app
from creditmeter.errors import SealingError, SecretKeyMissing, SecretUnreadable, Unavailable
from creditmeter.settings import Settings
from creditmeter.store import Store, open_store
from creditmeter.store.schema import webhook_endpoints
from creditmeter.webhooks import sealing, verify
from creditmeter.webhooks.endpoints import Webhooks
from creditmeter.webhooks.sealing import Sealer
from tests.conftest import STORES, Service, running_service
from tests.fleet import set_up_org
from tests.processes import ServerProcess
from tests.receivers import Receiver, wait_until

WEBHOOKS = "/api/v1/webhooks"
FAST = {"webhook_allow_private": True, "webhook_poll_seconds": 0.05, "export_rate_limit": 0}


def _stored(store: Store, webhook_id: str) -> tuple[str, str | None]:
    """(secret, previous_secret) as the table holds them."""
    columns = webhook_endpoints.c
    with store.read() as connection:
        row = connection.execute(
            select(columns.secret, columns.previous_secret).where(columns.id == webhook_id)
        ).one()
    return row.secret, row.previous_secret


def _assert_sealed(stored: str, *secrets: str) -> None:
    assert stored.startswith("gAAAAA")  # a Fernet token, version 0x80
    for secret in secrets:
        assert secret not in stored
        assert secret.removeprefix("whsec_") not in stored


def _deliveries(store: Store, webhook_id: str) -> list[dict[str, object]]:
    return Webhooks(store, sealer=Sealer(Fernet.generate_key().decode())).deliveries(
        webhook_id, None
    )


@pytest.fixture
def fast_service(new_database: Callable[[], str]) -> Iterator[Service]:
    with running_service(new_database(), **FAST) as service:
        yield service


def test_the_column_never_holds_the_secret_and_attempts_verify_before_and_after_rotation(
    fast_service: Service,
) -> None:
    org = fast_service.tenant()
    with Receiver() as receiver:
        created = org.reader.post(
            WEBHOOKS, params={"orgId": org.org_id}, json={"url": receiver.url}
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        first = hook["secret"]
        sealed_first, previous = _stored(fast_service.store, hook["id"])
        _assert_sealed(sealed_first, first)
        assert previous is None

        assert org.reader.post(f"{WEBHOOKS}/{hook['id']}/test").status_code == 202
        (message,) = receiver.wait_for(1)
        verify(first, message.headers, message.body)

        rotated = org.reader.post(f"{WEBHOOKS}/{hook['id']}/rotate")
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()["secret"]
        sealed_second, previous = _stored(fast_service.store, hook["id"])
        _assert_sealed(sealed_second, first, second)
        assert previous == sealed_first  # moved as stored, never written in clear

        assert org.reader.post(f"{WEBHOOKS}/{hook['id']}/test").status_code == 202
        _, after = receiver.wait_for(2)
    verify(second, after.headers, after.body)
    verify(first, after.headers, after.body)  # the one it replaced signs for 24 hours
    assert len(after.headers["webhook-signature"].split()) == 2


def test_a_server_with_another_key_holds_the_messages_and_says_so_once_without_a_secret(
    new_database: Callable[[], str], servers: list[ServerProcess], tmp_path: Path
) -> None:
    database_url = new_database()
    access = set_up_org(database_url)
    right, wrong = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = {"webhook_allow_private": "1", "webhook_poll_seconds": "0.05",
                "webhook_timeout_seconds": "1"}  # fmt: skip
    with Receiver() as receiver:
        store = open_store(database_url)
        try:
            webhooks = Webhooks(store, allow_private=True, sealer=Sealer(right))
            hook, secret = webhooks.add(access.org_id, {"url": receiver.url}, None)
            webhooks.test(hook["id"], None)
            log = tmp_path / "wrong.log"
            server = ServerProcess(
                database_url, log=log, settings={**settings, "secret_key": wrong}
            ).start()
            servers.append(server)
            wait_until(lambda: "does not decrypt" in log.read_text(), what="the log's word")
            # Past a lease (1 s timeout + 5 s): claimed again, not logged again.
            time.sleep(7)
            server.wait_healthy(timeout=1)
            said = log.read_text()
            assert said.count("does not decrypt") == 1, said
            assert f"webhook messages to {hook['id']} are held" in said
            assert "rotate the endpoint's secret" in said
            for leak in (secret, secret.removeprefix("whsec_"), right, wrong, "whsec_"):
                assert leak not in said
            assert receiver.received == []
            (held,) = _deliveries(store, hook["id"])
            assert (held["status"], held["attempts"]) == ("pending", [])
            server.stop()

            # The key it was sealed with: the held message goes, signed with the secret.
            servers.append(
                ServerProcess(
                    database_url, log=tmp_path / "right.log",
                    settings={**settings, "secret_key": right},
                ).start()
            )  # fmt: skip
            (message,) = receiver.wait_for(1)
            verify(secret, message.headers, message.body)
            wait_until(
                lambda: _deliveries(store, hook["id"])[0]["status"] == "delivered",
                what="the delivery logged",
            )
        finally:
            store.close()


def test_rotating_under_a_new_key_signs_with_the_new_secret_alone(
    new_database: Callable[[], str],
) -> None:
    # The key was lost: the stored secrets do not decrypt. Rotating is the way out;
    # the replaced secret, which does not decrypt either, is left out of the signature.
    database_url = new_database()
    store = open_store(database_url)
    try:
        org_id = set_up_org(database_url).org_id
        with Receiver() as receiver:
            lost = Sealer(Fernet.generate_key().decode())
            hook, _ = Webhooks(store, allow_private=True, sealer=lost).add(
                org_id, {"url": receiver.url}, None
            )
            key = Fernet.generate_key().decode()
            with running_service(database_url, secret_key=key, **FAST) as service:
                _, secret = Webhooks(store, sealer=Sealer(key)).rotate(hook["id"], None)
                Webhooks(store, sealer=Sealer(key)).test(hook["id"], None)
                (message,) = receiver.wait_for(1)
                assert service.url
    finally:
        store.close()
    verify(secret, message.headers, message.body)
    assert len(message.headers["webhook-signature"].split()) == 1


def test_sqlite_without_a_key_makes_a_key_file_beside_the_database_readable_by_its_owner(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    if "sqlite" not in STORES:
        pytest.skip("SQLite is not under test")
    database_url = f"sqlite:///{tmp_path / 'meter.db'}"
    key_file = tmp_path / "meter.db.key"
    with running_service(database_url, secret_key="", **FAST) as service, Receiver() as receiver:
        org = service.tenant()
        assert not key_file.exists()  # made when the first secret is sealed
        created = org.reader.post(
            WEBHOOKS, params={"orgId": org.org_id}, json={"url": receiver.url}
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        Fernet(key)
        sealed, _ = _stored(service.store, hook["id"])
        _assert_sealed(sealed, hook["secret"])
        assert Sealer(key).open(sealed, hook["id"]) == hook["secret"]

        # Another process on the same file (no key set either) uses the same key file.
        servers.append(
            ServerProcess(
                database_url, settings={"secret_key": "", "webhook_allow_private": "1",
                                        "webhook_poll_seconds": "0.05"},
            ).start()
        )  # fmt: skip
        assert org.reader.post(f"{WEBHOOKS}/{hook['id']}/test").status_code == 202
        messages = receiver.wait_for(1)
    verify(hook["secret"], messages[0].headers, messages[0].body)
    assert key_file.read_text().strip() == key
    # The file's raw bytes are read only once no server holds it: closing a descriptor
    # of a SQLite file drops every lock the process holds on it, and the next server to
    # close then takes itself for the last one and deletes the WAL under the others
    # (this test once made the in-process server's connections fail with "disk I/O
    # error" that way).
    servers.pop().stop()
    stored = b"".join(
        path.read_bytes()
        for path in tmp_path.iterdir()
        if path.name.startswith("meter.db") and path != key_file
    )
    assert key.encode() not in stored


def test_sqlite_with_its_key_file_lost_holds_the_messages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if "sqlite" not in STORES:
        pytest.skip("SQLite is not under test")
    database_url = f"sqlite:///{tmp_path / 'meter.db'}"
    caplog.set_level(logging.ERROR, logger="creditmeter.webhooks")
    with running_service(database_url, secret_key="", **FAST) as service, Receiver() as receiver:
        org = service.tenant()
        hook = org.reader.post(
            WEBHOOKS, params={"orgId": org.org_id}, json={"url": receiver.url}
        ).json()
        os.unlink(tmp_path / "meter.db.key")
        # The server read the key when it sealed: it still signs; a fresh server does not.
        assert org.reader.post(f"{WEBHOOKS}/{hook['id']}/test").status_code == 202
        receiver.wait_for(1)
    with running_service(database_url, secret_key="", **FAST) as again, Receiver() as receiver:
        assert again.client(org.key).post(f"{WEBHOOKS}/{hook['id']}/test").status_code == 202
        wait_until(
            lambda: any("key file" in r.getMessage() for r in caplog.records),
            what="the log's word",
        )
        said = "\n".join(r.getMessage() for r in caplog.records)
        assert "is missing: put it back beside the database" in said
        assert hook["secret"] not in said
        assert receiver.received == []


def test_postgresql_without_a_key_refuses_to_add_or_rotate_and_holds_deliveries(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="creditmeter.webhooks")
    key = Fernet.generate_key().decode()
    with running_service(postgres_database, secret_key="", **FAST) as service, Receiver() as r:
        org = service.tenant()
        refused = org.reader.post(WEBHOOKS, params={"orgId": org.org_id}, json={"url": r.url})
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "unavailable"
        assert "CREDITMETER_SECRET_KEY is not set" in error["message"]
        assert "creditmeter secret-key" in error["message"]
        assert org.reader.get(WEBHOOKS, params={"orgId": org.org_id}).json() == []

        # An endpoint added by a server that had the key: this one cannot rotate or sign.
        hook, _ = Webhooks(service.store, allow_private=True, sealer=Sealer(key)).add(
            org.org_id, {"url": r.url}, None
        )
        before = _stored(service.store, hook["id"])
        rotate = org.reader.post(f"{WEBHOOKS}/{hook['id']}/rotate")
        assert rotate.status_code == 503, rotate.text
        assert "CREDITMETER_SECRET_KEY" in rotate.json()["error"]["message"]
        assert _stored(service.store, hook["id"]) == before
        assert org.reader.post(f"{WEBHOOKS}/{hook['id']}/test").status_code == 202
        wait_until(
            lambda: any("is not set" in rec.getMessage() for rec in caplog.records),
            what="the log's word",
        )
        (held,) = org.reader.get(f"{WEBHOOKS}/{hook['id']}/deliveries").json()
        assert (held["status"], held["attempts"]) == ("pending", [])
        assert r.received == []


def test_the_cli_on_postgresql_without_a_key_says_to_set_it(postgres_database: str) -> None:
    org_id = set_up_org(postgres_database).org_id
    result = CliRunner().invoke(
        app,
        ["webhook", "add", "http://127.0.0.1:9/hook", "--org", org_id,
         "--database-url", postgres_database],
        env={"CREDITMETER_SECRET_KEY": "", "CREDITMETER_WEBHOOK_ALLOW_PRIVATE": "1"},
    )  # fmt: skip
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "CREDITMETER_SECRET_KEY is not set" in result.stderr
    assert "whsec_" not in result.stdout + result.stderr


def test_a_key_setting_that_is_not_a_key_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError) as refused:
        Settings(secret_key="not-a-key-hunter2")
    assert "secret_key" in str(refused.value)
    assert "creditmeter secret-key" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_creditmeter_secret_key_prints_a_fresh_key() -> None:
    printed = {CliRunner().invoke(app, ["secret-key"]).output.strip() for _ in range(2)}
    assert len(printed) == 2
    for key in printed:
        assert (
            Settings(secret_key=key)
            .sealer("postgresql://h/db")
            .open(Sealer(key).seal("whsec_x"), "whk_1")
            == "whsec_x"
        )


# -- changing the key ------------------------------------------------------------------


def _key() -> str:
    return Fernet.generate_key().decode()


def test_several_keys_open_what_any_of_them_sealed_and_the_first_seals() -> None:
    old, new = _key(), _key()
    by_old, by_new = Sealer(old).seal("whsec_old"), Sealer(new).seal("whsec_new")
    both = Settings(secret_key=f"{new}, {old}").sealer("postgresql://h/db")
    assert both.open(by_old, "whk_1") == "whsec_old"
    assert both.open(by_new, "whk_2") == "whsec_new"
    sealed = both.seal("whsec_both")
    assert Sealer(new).open(sealed, "whk_3") == "whsec_both"
    with pytest.raises(SecretUnreadable):
        Sealer(old).open(sealed, "whk_3")
    # Sealed again: under the first key, whichever sealed it.
    assert Sealer(new).open(both.reseal(by_old, "whk_1"), "whk_1") == "whsec_old"
    with pytest.raises(SecretUnreadable) as refused:
        Sealer([new, old]).open(Sealer(_key()).seal("whsec_x"), "whk_4")
    assert "any of the 2 keys of CREDITMETER_SECRET_KEY" in refused.value.message
    assert old not in refused.value.message and new not in refused.value.message


def test_the_sealing_errors_are_service_errors_importable_from_both_places() -> None:
    assert issubclass(SealingError, Unavailable)
    assert issubclass(SecretKeyMissing, SealingError) and issubclass(SecretUnreadable, SealingError)
    assert (sealing.SealingError, sealing.SecretKeyMissing, sealing.SecretUnreadable) == (
        SealingError, SecretKeyMissing, SecretUnreadable,
    )  # fmt: skip
    assert SecretKeyMissing("x").status == 503 and SecretKeyMissing("x").code == "unavailable"


def _reseal(database_url: str, keys: str, *options: str) -> object:
    return CliRunner().invoke(
        app,
        ["secret-key", "--reseal", "--database-url", database_url, *options],
        env={"CREDITMETER_SECRET_KEY": keys},
    )


def test_changing_the_key_then_dropping_the_old_one_still_delivers_verifiable_signatures(
    new_database: Callable[[], str],
) -> None:
    database_url = new_database()
    old, new = _key(), _key()
    with Receiver() as receiver:
        # Before: one key. An endpoint, rotated once (its replaced secret signs 24 hours).
        with running_service(database_url, secret_key=old, **FAST) as service:
            org = service.tenant()
            hook = org.reader.post(
                WEBHOOKS, params={"orgId": org.org_id}, json={"url": receiver.url}
            ).json()
            rotated = org.reader.post(f"{WEBHOOKS}/{hook['id']}/rotate").json()["secret"]
        # Every server gets the new key first, the old one after it.
        with running_service(database_url, secret_key=f"{new},{old}", **FAST) as service:
            reader = service.client(org.key)
            later = reader.post(
                WEBHOOKS, params={"orgId": org.org_id}, json={"url": receiver.url + "/later"}
            ).json()
            assert reader.post(f"{WEBHOOKS}/{hook['id']}/test").status_code == 202
            (during,) = receiver.wait_for(1)
            verify(rotated, during.headers, during.body)
            verify(hook["secret"], during.headers, during.body)
            # Sealed again while the server runs.
            result = _reseal(database_url, f"{new},{old}")
            assert result.exit_code == 0, (result.stdout, result.stderr)
            assert "Encrypted the secrets of 2 webhook endpoints again" in result.stdout
            assert "and 1 replaced secret still signing" in result.stdout
            assert "remove them from CREDITMETER_SECRET_KEY" in result.stdout
            for leak in (old, new, hook["secret"], rotated, later["secret"], "whsec_"):
                assert leak not in result.stdout + result.stderr
            for webhook_id in (hook["id"], later["id"]):
                secret, previous = _stored(service.store, webhook_id)
                with pytest.raises(SecretUnreadable):
                    Sealer(old).open(secret, webhook_id)
                Sealer(new).open(secret, webhook_id)
                if previous is not None:
                    Sealer(new).open(previous, webhook_id)
        # The old key dropped: both endpoints still sign, with every secret they had.
        with running_service(database_url, secret_key=new, **FAST) as service:
            reader = service.client(org.key)
            for webhook_id in (hook["id"], later["id"]):
                assert reader.post(f"{WEBHOOKS}/{webhook_id}/test").status_code == 202
            _, first, second = receiver.wait_for(3)
    by_path = {first.path: first, second.path: second}
    after = by_path["/hook"]
    verify(rotated, after.headers, after.body)
    verify(hook["secret"], after.headers, after.body)
    verify(later["secret"], by_path["/hook/later"].headers, by_path["/hook/later"].body)


def test_the_reseal_command_seals_every_secret_under_the_first_key_and_names_what_it_cannot(
    new_database: Callable[[], str],
) -> None:
    database_url = new_database()
    old, new, lost = _key(), _key(), _key()
    org_id = set_up_org(database_url).org_id
    store = open_store(database_url)
    now_us = time.time_ns() // 1000
    try:
        webhooks = Webhooks(store, allow_private=True, sealer=Sealer(old))
        plain, _ = webhooks.add(org_id, {"url": "http://127.0.0.1:9/plain"}, None)
        fresh, _ = webhooks.add(org_id, {"url": "http://127.0.0.1:9/fresh"}, None)
        webhooks.rotate(fresh["id"], None)  # its replaced secret signs for 24 hours
        stale, _ = webhooks.add(org_id, {"url": "http://127.0.0.1:9/stale"}, None)
        Webhooks(store, sealer=Sealer(old), clock=lambda: now_us - 25 * 3600 * 10**6).rotate(
            stale["id"], None
        )  # its replaced secret signs no more
        orphan, _ = Webhooks(store, allow_private=True, sealer=Sealer(lost)).add(
            org_id, {"url": "http://127.0.0.1:9/orphan"}, None
        )
        orphan_before = _stored(store, orphan["id"])

        result = _reseal(database_url, f"{new},{old}")
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert result.stdout.startswith(
            "Encrypted the secrets of 3 webhook endpoints again with the first key of "
            "CREDITMETER_SECRET_KEY, and 1 replaced secret still signing. Removed 1 "
            "replaced secret past its 24 hours."
        ), result.stdout
        assert "remove them" not in result.stdout  # not while a secret needs a lost key
        assert f"The secret of webhook endpoint {orphan['id']} does not decrypt" in result.stderr
        assert "Keep the old keys until then" in result.stderr
        for leak in (old, new, lost):
            assert leak not in result.stdout + result.stderr
        assert _stored(store, orphan["id"]) == orphan_before
        for endpoint in (plain, fresh, stale):
            secret, previous = _stored(store, endpoint["id"])
            Sealer(new).open(secret, endpoint["id"])
            if endpoint is fresh:
                assert previous is not None
                Sealer(new).open(previous, endpoint["id"])
            else:
                assert previous is None

        # The endpoint whose key is lost rotated (under the new key): all is done.
        Webhooks(store, sealer=Sealer(new)).rotate(orphan["id"], None)
        again = _reseal(database_url, f"{new},{old}", "--json")
        assert again.exit_code == 0, (again.stdout, again.stderr)
        assert json.loads(again.stdout) == {
            "resealed": 4, "previousResealed": 1, "previousRemoved": 0,
            "unreadable": [], "previousUnreadable": [orphan["id"]],
        }  # fmt: skip
        assert "opens with no key" in again.stderr  # the orphan's replaced secret
        only_new = _reseal(database_url, new)
        assert only_new.exit_code == 0, (only_new.stdout, only_new.stderr)
        assert "4 webhook endpoints again with CREDITMETER_SECRET_KEY, and 1" in only_new.stdout
    finally:
        store.close()


def test_the_reseal_command_without_a_key_or_with_a_bad_one_says_what_to_set(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    database_url = new_database()
    good = _key()
    bad = _reseal(database_url, f"{good},not-a-key-hunter2")
    assert bad.exit_code == 1
    assert "CREDITMETER_SECRET_KEY: the second key must be a Fernet key" in bad.stderr
    assert good not in bad.stderr and "hunter2" not in bad.stderr
    if database_url.startswith("postgresql"):
        # An empty database holds no secret: nothing to open, nothing to say.
        org_id = set_up_org(database_url).org_id
        store = open_store(database_url)
        try:
            Webhooks(store, allow_private=True, sealer=Sealer(good)).add(
                org_id, {"url": "http://127.0.0.1:9/h"}, None
            )
        finally:
            store.close()
        unset = _reseal(database_url, "")
        assert unset.exit_code == 1
        assert "CREDITMETER_SECRET_KEY is not set" in unset.stderr
    misplaced = CliRunner().invoke(app, ["secret-key", "--database-url", database_url])
    assert misplaced.exit_code == 2
    assert "--database-url" in misplaced.stderr and "--reseal" in misplaced.stderr


def test_the_reseal_command_on_a_database_without_endpoints_says_so(
    new_database: Callable[[], str],
) -> None:
    result = _reseal(new_database(), f"{_key()},{_key()}")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout.strip() == "There are no webhook endpoints: no secret to encrypt again."


def test_a_bad_key_in_the_list_stops_the_server_at_start_without_repeating_a_key(
    tmp_path: Path,
) -> None:
    first, third = _key(), _key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITMETER_")}
    env["CREDITMETER_SECRET_KEY"] = f"{first},{first[:-2]}hunter2,{third}"
    started = subprocess.run(
        [sys.executable, "-m", "creditmeter", "serve", "--port", "9",
         "--database-url", f"sqlite:///{tmp_path / 'meter.db'}"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode == 1, started
    said = started.stdout + started.stderr
    assert "CREDITMETER_SECRET_KEY: the second key must be a Fernet key" in said
    assert "Traceback" not in said
    for leak in (first, third, "hunter2"):
        assert leak not in said
    with pytest.raises(ValueError, match="the third key is empty"):
        Settings(secret_key=f"{first},{third},")
