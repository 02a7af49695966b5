"""PostgreSQL as the production store: many servers, many writers, restarts.

Each test runs real `creditmeter serve` processes against a real PostgreSQL
server and checks the exports against an oracle computed here.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from creditmeter.store import open_store
from creditmeter.store import usage as usage_sql
from tests import postgres
from tests.conftest import STORES, running_service
from tests.fleet import exact_json, export, make_events, oracle, set_up_org
from tests.processes import ServerProcess

pytestmark = pytest.mark.skipif("postgresql" not in STORES, reason="PostgreSQL not selected")

# -- tests ---------------------------------------------------------------------------


def test_exports_are_byte_identical_on_sqlite_and_postgresql(
    postgres_server: postgres.PostgresServer, tmp_path: Any
) -> None:
    events = make_events("org_same", 600, seed=11)
    answers: dict[str, list[bytes]] = {}
    for name, url in (
        ("sqlite", f"sqlite:///{tmp_path / 'same.db'}"),
        ("postgresql", postgres_server.create_database()),
    ):
        with running_service(url, export_rate_limit=0) as service:
            service.directory.create_org("Same", "org_same")
            user = service.directory.create_user(f"same-{name}@example.com")
            service.directory.set_membership("org_same", user.id)
            _, key = service.directory.create_key(user.id, "org_same")
            response = service.admin.post(
                "/api/v1/usage/events", content=exact_json(events),
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            assert response.status_code == 200, response.text
            reader = service.client(key)
            answers[name] = [
                reader.get(
                    "/api/v1/usage/export",
                    params={
                        "startDate": "2026-03-01",
                        "endDate": "2026-03-04",
                        "groupBy": group_by,
                        "format": fmt,
                    },
                ).content
                for group_by in ("product", "feature", "api_key", "file_type")
                for fmt in ("json", "csv")
            ]
    assert answers["sqlite"] == answers["postgresql"]
    assert b'"group":null' in answers["sqlite"][0] or b'"group":null' in answers["sqlite"][6]


def test_a_postgresql_restart_loses_nothing_and_counts_nothing_twice(
    servers: list[ServerProcess],
) -> None:
    database = postgres.start_server()
    try:
        database_url = database.create_database()
        server = ServerProcess(database_url).start()
        servers.append(server)
        access = set_up_org(database_url)
        events = make_events(access.org_id, 4000, seed=9)
        batches = [events[i : i + 50] for i in range(0, len(events), 50)]
        seen: dict[str, list[Any]] = {"statuses": [], "unavailable_readyz": []}
        stop_sending = threading.Event()
        acknowledged: set[int] = set()

        def send() -> None:
            headers = {
                "Authorization": f"Bearer {access.writer}",
                "Content-Type": "application/json",
            }
            with httpx.Client(timeout=10, headers=headers) as client:
                for number, batch in enumerate(batches):
                    # Resend until acknowledged, as a sender should; pace to span the restart.
                    while number not in acknowledged:
                        try:
                            response = client.post(
                                f"{server.url}/api/v1/usage/events", content=exact_json(batch)
                            )
                            seen["statuses"].append(response.status_code)
                            if response.status_code == 200:
                                acknowledged.add(number)
                        except httpx.TransportError:
                            seen["statuses"].append("no answer")
                        time.sleep(0.02)
                    if stop_sending.is_set():
                        return

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.5)
        database.stop()
        time.sleep(0.5)
        readyz = httpx.get(f"{server.url}/readyz", timeout=10)
        seen["unavailable_readyz"].append(readyz.status_code)
        # Who may call comes first (export edge case 3): no key is a 401, store or not.
        no_key = httpx.get(f"{server.url}/api/v1/usage/export", timeout=10)
        seen["no_key_while_down"] = [no_key.status_code]
        time.sleep(1.0)
        database.start()
        sender.join(timeout=120)
        assert not sender.is_alive()

        assert acknowledged == set(range(len(batches)))
        assert 503 in seen["statuses"], seen["statuses"][:50]
        assert seen["unavailable_readyz"] == [503]
        assert seen["no_key_while_down"] == [401]
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        unexpected = {s for s in seen["statuses"] if s not in (200, 503)}
        assert not unexpected
        response = export(server.url, access, groupBy="product")
        assert response.json()["data"] == oracle(events, "product")
    finally:
        database.destroy()


def test_many_servers_starting_on_an_empty_database_create_the_schema_once(
    postgres_server: postgres.PostgresServer,
) -> None:
    database_url = postgres_server.create_database()
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            open_store(database_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = open_store(database_url)
    try:
        assert store.schema_revision() is not None
    finally:
        store.close()


def test_a_driver_error_in_the_copy_of_a_batch_is_raised_as_the_stores_errors_are(
    postgres_server: postgres.PostgresServer,
) -> None:
    """The batch reaches PostgreSQL by COPY through the driver, outside SQLAlchemy;
    its errors must still be SQLAlchemy's types, which the store turns into 503s."""
    store = open_store(postgres_server.create_database())
    row = ("org_a", "ev\x00nul", 0, "parse", None, None, None, 1, 1, 0)
    try:
        with pytest.raises(sa.exc.DBAPIError) as raised, store.write() as connection:
            usage_sql.insert_events(connection, [row])
        assert "NUL" in str(raised.value.orig)
    finally:
        store.close()
