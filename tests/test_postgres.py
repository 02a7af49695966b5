"""PostgreSQL as the production store: many servers, many writers, restarts.

Each test runs real `creditmeter serve` processes against a real PostgreSQL
server and checks the exports against an oracle computed here.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from creditmeter.directory import Directory
from creditmeter.store import open_store
from tests import postgres
from tests.conftest import STORES, running_service
from tests.processes import ServerProcess

pytestmark = pytest.mark.skipif("postgresql" not in STORES, reason="PostgreSQL not selected")

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
PRODUCTS = ["parse", "extract", "split", "edit"]
FILE_TYPES = ["pdf", "docx", "png", None]


# -- helpers -------------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


@dataclass
class Access:
    org_id: str
    reader: str
    writer: str


def set_up_org(database_url: str) -> Access:
    store = open_store(database_url)
    try:
        directory = Directory(store)
        org = directory.create_org("Concurrency Inc")
        user = directory.create_user(f"{org.id}@example.com")
        directory.set_membership(org.id, user.id, "owner")
        _, reader = directory.create_key(user.id, org.id)
        _, writer = directory.create_token("writers", ["usage:write"])
    finally:
        store.close()
    return Access(org.id, reader, writer)


def make_events(org_id: str, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for n in range(count):
        moment = DAY0 + timedelta(seconds=rng.randrange(3 * 86_400))
        event: dict[str, Any] = {
            "id": f"ev-{seed}-{n}",
            "orgId": org_id,
            "timestamp": moment.isoformat().replace("+00:00", "Z"),
            "product": rng.choice(PRODUCTS),
            "credits": Decimal(rng.randrange(0, 5_000_000)) / 1_000_000,
        }
        if (file_type := rng.choice(FILE_TYPES)) is not None:
            event["fileType"] = file_type
        events.append(event)
    return events


def _exact_json(events: list[dict[str, Any]]) -> bytes:
    parts = []
    for event in events:
        fields = [f'"{k}": {json.dumps(v)}' for k, v in event.items() if k != "credits"]
        fields.append(f'"credits": {event["credits"]}')
        parts.append("{" + ", ".join(fields) + "}")
    return ('{"events": [' + ", ".join(parts) + "]}").encode()


def oracle(events: list[dict[str, Any]], group_by: str) -> list[dict[str, Any]]:
    field_of = {"product": "product", "file_type": "fileType"}[group_by]
    sums: dict[tuple[str, str | None], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for event in events:
        key = (event["timestamp"][:10], event.get(field_of))
        sums[key][0] += event["credits"]
        sums[key][1] += 1
    ordered = sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1] or ""))
    return [
        {"date": day, "group": group, "credits": float(credits), "requestCount": count}
        for (day, group), (credits, count) in ordered
    ]


def export(url: str, access: Access, **params: str) -> httpx.Response:
    params = {"startDate": "2026-03-01", "endDate": "2026-03-04", **params}
    return httpx.get(
        f"{url}/api/v1/usage/export",
        params=params,
        headers={"Authorization": f"Bearer {access.reader}"},
        timeout=30,
    )


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
                "/api/v1/usage/events", content=_exact_json(events),
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


def test_sixteen_writers_on_two_servers_count_every_event_exactly_once(
    postgres_server: postgres.PostgresServer, servers: list[ServerProcess]
) -> None:
    database_url = postgres_server.create_database()
    # Both servers start at once on the empty database: the schema is created once.
    both = [ServerProcess(database_url), ServerProcess(database_url)]
    servers.extend(both)
    starting = [threading.Thread(target=server.start) for server in both]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join()
    for server in both:
        server.wait_healthy()
    access = set_up_org(database_url)
    events = make_events(access.org_id, 3000, seed=5)
    writers = 16
    # Every event goes to two different writers, which send it in their own order.
    assignments: list[list[dict[str, Any]]] = [[] for _ in range(writers)]
    for n, event in enumerate(events):
        first = n % writers
        second = (first + 1 + n % (writers - 1)) % writers
        assignments[first].append(event)
        assignments[second].append(event)
    totals = {"accepted": 0, "duplicates": 0}
    statuses: list[int] = []
    lock = threading.Lock()

    def write(number: int) -> None:
        rng = random.Random(number)
        mine = assignments[number][:]
        rng.shuffle(mine)
        with httpx.Client(
            timeout=60, headers={"Authorization": f"Bearer {access.writer}"}
        ) as client:
            position = 0
            while position < len(mine):
                size = rng.randrange(20, 200)
                batch = mine[position : position + size]
                server = servers[rng.randrange(len(servers))]
                response = client.post(
                    f"{server.url}/api/v1/usage/events", content=_exact_json(batch),
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        answer = response.json()
                        totals["accepted"] += answer["accepted"]
                        totals["duplicates"] += answer["duplicates"]
                        assert answer["conflicts"] == []
                if response.status_code == 200:
                    position += size

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(statuses) == {200}
    assert totals == {"accepted": len(events), "duplicates": len(events)}
    for group_by in ("product", "file_type"):
        for server in servers:
            response = export(server.url, access, groupBy=group_by)
            assert response.status_code == 200
            assert response.json()["data"] == oracle(events, group_by)


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
                                f"{server.url}/api/v1/usage/events", content=_exact_json(batch)
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
        time.sleep(1.0)
        database.start()
        sender.join(timeout=120)
        assert not sender.is_alive()

        assert acknowledged == set(range(len(batches)))
        assert 503 in seen["statuses"], seen["statuses"][:50]
        assert seen["unavailable_readyz"] == [503]
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
