"""Many writers and readers at once, on two server processes sharing one database.

SQLite (one file, WAL, one writer at a time across processes) and PostgreSQL
(concurrent transactions) must both give exact totals, with no 5xx and no
"database is locked" reaching a caller, while exports run alongside.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.fleet import (
    audit_trail,
    dimension_rollups_disagreeing,
    exact_json,
    export,
    make_events,
    oracle,
    raw_and_rolled_disagreeing,
    set_up_org,
    void_body,
)
from tests.processes import ServerProcess, start_together


def test_sixteen_writers_and_four_exporters_on_two_servers_count_every_event_once(
    new_database: Callable[[], str], servers: list[ServerProcess]
) -> None:
    database_url = new_database()
    # Both servers start at once on the empty database: the schema is created once.
    both = [ServerProcess(database_url), ServerProcess(database_url)]
    servers.extend(both)
    start_together(both)
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
                    f"{server.url}/api/v1/usage/events", content=exact_json(batch),
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

    writing = threading.Event()
    writing.set()
    seen_by_exporters: list[list[int]] = []

    def read(number: int) -> None:
        # Each exporter's totals only grow: committed usage never goes back.
        totals_seen: list[int] = []
        seen_by_exporters.append(totals_seen)
        while writing.is_set():
            response = export(servers[number % 2].url, access, groupBy="product")
            with lock:
                statuses.append(response.status_code)
            if response.status_code == 200:
                totals_seen.append(sum(r["requestCount"] for r in response.json()["data"]))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    readers = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for thread in threads + readers:
        thread.start()
    for thread in threads:
        thread.join()
    writing.clear()
    for thread in readers:
        thread.join()

    assert set(statuses) == {200}
    for totals_seen in seen_by_exporters:
        assert totals_seen, "an exporter never got an answer while writers ran"
        assert totals_seen == sorted(totals_seen)
        assert totals_seen[-1] <= len(events)
    assert totals == {"accepted": len(events), "duplicates": len(events)}
    for group_by in ("product", "file_type"):
        for server in servers:
            response = export(server.url, access, groupBy=group_by)
            assert response.status_code == 200
            assert response.json()["data"] == oracle(events, group_by)
    # Every per-dimension rollup is the full rollups summed over the other dimensions.
    assert dimension_rollups_disagreeing(database_url) == []


def test_voids_and_ingests_of_the_same_ids_from_many_writers_on_two_servers(
    new_database: Callable[[], str], servers: list[ServerProcess]
) -> None:
    """Voids edge case 12: writers send every event twice while voiders void a third
    of them, each id by two voiders in their own order, on either server; a void
    that found an event not stored yet is sent again until it finds it. Every
    chosen event is voided exactly once, and the exports equal an oracle of the
    others."""
    database_url = new_database()
    both = [ServerProcess(database_url), ServerProcess(database_url)]
    servers.extend(both)
    start_together(both)
    access = set_up_org(database_url)
    events = make_events(access.org_id, 2000, seed=12)
    chosen = [event["id"] for event in events[::3]]
    writers, voiders = 8, 6
    plans: list[list[dict[str, Any]]] = [[] for _ in range(writers)]
    for n, event in enumerate(events):
        plans[n % writers].append(event)
        plans[(n + 1 + n % (writers - 1)) % writers].append(event)
    void_plans: list[list[str]] = [[] for _ in range(voiders)]
    for n, event_id in enumerate(chosen):
        void_plans[n % voiders].append(event_id)
        void_plans[(n + 1 + n % (voiders - 1)) % voiders].append(event_id)
    statuses: list[int] = []
    newly_voided: list[str] = []
    lock = threading.Lock()

    def post(client: httpx.Client, rng: random.Random, path: str, body: bytes) -> httpx.Response:
        server = servers[rng.randrange(len(servers))]
        response = client.post(
            f"{server.url}{path}", content=body, headers={"Content-Type": "application/json"}
        )
        with lock:
            statuses.append(response.status_code)
        return response

    def write(number: int) -> None:
        rng = random.Random(number)
        mine = plans[number][:]
        rng.shuffle(mine)
        headers = {"Authorization": f"Bearer {access.writer}"}
        with httpx.Client(timeout=60, headers=headers) as client:
            for start in range(0, len(mine), 40):
                batch = exact_json(mine[start : start + 40])
                while post(client, rng, "/api/v1/usage/events", batch).status_code != 200:
                    pass

    def void(number: int) -> None:
        rng = random.Random(100 + number)
        waiting = void_plans[number][:]
        rng.shuffle(waiting)
        headers = {"Authorization": f"Bearer {access.writer}"}
        with httpx.Client(timeout=60, headers=headers) as client:
            while waiting:
                ids = waiting[:30]
                response = post(
                    client, rng, "/api/v1/usage/events/void",
                    void_body(access.org_id, ids, f"voider {number}"),
                )  # fmt: skip
                if response.status_code != 200:
                    continue
                answer = response.json()
                assert answer["voided"] + len(answer["alreadyVoided"]) + len(
                    answer["notFound"]
                ) == len(set(ids))
                with lock:
                    newly_voided.extend(
                        i
                        for i in ids
                        if i not in answer["alreadyVoided"] and i not in answer["notFound"]
                    )
                # What was not stored yet is sent again, after what was not tried yet.
                waiting = waiting[30:] + answer["notFound"]

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    threads += [threading.Thread(target=void, args=(n,)) for n in range(voiders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(statuses) == {200}
    assert sorted(newly_voided) == sorted(chosen)  # each chosen event voided once
    entries = audit_trail(servers[0].url, access)
    assert sorted(entry["eventId"] for entry in entries) == sorted(chosen)
    kept = [event for event in events if event["id"] not in set(chosen)]
    for group_by in ("product", "file_type"):
        for server in servers:
            response = export(server.url, access, groupBy=group_by)
            assert response.status_code == 200
            assert response.json()["data"] == oracle(kept, group_by)
    assert dimension_rollups_disagreeing(database_url) == []
    assert raw_and_rolled_disagreeing(database_url, access.org_id) == []
