"""Crash safety: a server killed with SIGKILL at random moments loses nothing, counts nothing twice.

Concurrent senders stream batches at a `creditmeter serve` process; the test
kills it several times and starts it again. Senders resend every batch they
got no 200 for, as the contract tells them to. At the end the export must
equal an oracle of all events exactly, and the rollups must equal a GROUP BY
over the raw events.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from creditmeter.events import read_json_body
from creditmeter.ingest import now_us, record_batch
from creditmeter.store import open_store
from creditmeter.store.database import normalise_url
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
from tests.processes import ServerProcess

SENDERS = 6
BATCHES_PER_SENDER = 100
KILLS = 5


def test_sigkill_at_random_moments_loses_nothing_and_counts_nothing_twice(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    database_url = new_database()
    access = set_up_org(database_url)
    events = make_events(access.org_id, SENDERS * BATCHES_PER_SENDER * 20, seed=3)
    rng = random.Random(4)
    # Each sender gets its own batches plus a share of another sender's events:
    # overlapping, duplicated batches as a retrying fleet would send them.
    plans: list[list[list[dict[str, Any]]]] = []
    per_sender = len(events) // SENDERS
    for number in range(SENDERS):
        mine = events[number * per_sender : (number + 1) * per_sender]
        other = events[((number + 1) % SENDERS) * per_sender :][: per_sender // 4]
        pool = mine + other
        rng.shuffle(pool)
        plans.append([pool[i : i + 25] for i in range(0, len(pool), 25)])

    server = ServerProcess(database_url, log=tmp_path / "server.log").start()
    stats = {"acknowledged_batches": 0, "failed_attempts": 0, "events_sent": 0}
    lock = threading.Lock()
    done = threading.Event()

    def send(plan: list[list[dict[str, Any]]]) -> None:
        headers = {"Authorization": f"Bearer {access.writer}", "Content-Type": "application/json"}
        with httpx.Client(timeout=10, headers=headers) as client:
            for batch in plan:
                body = exact_json(batch)
                while True:
                    try:
                        response = client.post(f"{server.url}/api/v1/usage/events", content=body)
                        ok = response.status_code == 200
                    except httpx.TransportError:
                        ok = False
                    with lock:
                        stats["events_sent"] += len(batch)
                        if ok:
                            stats["acknowledged_batches"] += 1
                        else:
                            stats["failed_attempts"] += 1
                    if ok:
                        break
                    time.sleep(0.05)

    threads = [threading.Thread(target=send, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    kills = 0
    try:
        while kills < KILLS and any(t.is_alive() for t in threads):
            time.sleep(random.Random(kills).uniform(0.2, 0.6))
            server.kill()
            kills += 1
            time.sleep(0.1)
            server.start()
        for thread in threads:
            thread.join(timeout=120)
        done.set()
        assert not any(t.is_alive() for t in threads)

        assert kills == KILLS
        assert stats["acknowledged_batches"] == sum(len(plan) for plan in plans)
        assert stats["failed_attempts"] > 0, "no batch was caught by a kill: the test saw no crash"

        exported = export(server.url, access, groupBy="product")
        assert exported.status_code == 200
        assert exported.json()["data"] == oracle(events, "product")
    finally:
        server.stop()

    # The rollups agree with the raw events they summarise.
    engine = sa.create_engine(normalise_url(database_url), poolclass=sa.NullPool)
    with engine.connect() as connection:
        raw = connection.execute(
            sa.text("SELECT COUNT(*), SUM(credits_micro) FROM usage_events WHERE org_id = :org"),
            {"org": access.org_id},
        ).one()
        rolled = connection.execute(
            sa.text(
                "SELECT SUM(request_count), SUM(credits_micro) FROM usage_quarter_rollups "
                "WHERE org_id = :org"
            ),
            {"org": access.org_id},
        ).one()
    engine.dispose()
    assert int(raw[0]) == len(events) == int(rolled[0])
    assert int(raw[1]) == int(rolled[1])
    assert dimension_rollups_disagreeing(database_url) == []
    print(
        f"\ncrash test: {kills} kills survived, {stats['events_sent']} events sent "
        f"({len(events)} distinct), {stats['failed_attempts']} attempts without a 200, "
        "0 lost, 0 counted twice"
    )


def test_edge_13_sigkill_during_a_stream_of_voids_voids_each_event_once(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    """Voids edge case 13: voiders stream overlapping void requests at a server
    killed with SIGKILL several times, and resend each request that got no 200.
    In the end each chosen event is voided exactly once, the audit trail holds
    one entry for each, and the exports equal an oracle of the others."""
    database_url = new_database()
    access = set_up_org(database_url)
    events = make_events(access.org_id, 6000, seed=13)
    store = open_store(database_url)
    try:
        received = now_us()
        for start in range(0, len(events), 2000):
            batch = read_json_body(exact_json(events[start : start + 2000]), received)
            record_batch(store, batch, max_events=10_000, received_us=received)
    finally:
        store.close()
    chosen = [event["id"] for event in events if int(event["id"].rsplit("-", 1)[1]) % 2 == 0]
    rng = random.Random(13)
    plans: list[list[list[str]]] = []
    per_voider = len(chosen) // SENDERS
    for number in range(SENDERS):
        mine = chosen[number * per_voider : (number + 1) * per_voider]
        other = chosen[((number + 1) % SENDERS) * per_voider :][: per_voider // 4]
        pool = mine + other
        rng.shuffle(pool)
        plans.append([pool[i : i + 10] for i in range(0, len(pool), 10)])

    server = ServerProcess(database_url, log=tmp_path / "server.log").start()
    stats = {"acknowledged": 0, "failed_attempts": 0}
    lock = threading.Lock()

    def send(number: int, plan: list[list[str]]) -> None:
        headers = {"Authorization": f"Bearer {access.writer}", "Content-Type": "application/json"}
        with httpx.Client(timeout=10, headers=headers) as client:
            for ids in plan:
                body = void_body(access.org_id, ids, f"voider {number}")
                while True:
                    try:
                        response = client.post(
                            f"{server.url}/api/v1/usage/events/void", content=body
                        )
                        ok = response.status_code == 200
                    except httpx.TransportError:
                        ok = False
                    with lock:
                        stats["acknowledged" if ok else "failed_attempts"] += 1
                    if ok:
                        assert response.json()["notFound"] == []
                        break
                    time.sleep(0.05)

    threads = [threading.Thread(target=send, args=item) for item in enumerate(plans)]
    for thread in threads:
        thread.start()
    kills = 0
    try:
        while kills < KILLS and any(t.is_alive() for t in threads):
            time.sleep(random.Random(kills).uniform(0.2, 0.6))
            server.kill()
            kills += 1
            time.sleep(0.1)
            server.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert stats["acknowledged"] == sum(len(plan) for plan in plans)
        assert stats["failed_attempts"] > 0, "no void was caught by a kill: the test saw no crash"

        entries = audit_trail(server.url, access)
        assert sorted(entry["eventId"] for entry in entries) == sorted(chosen)
        kept = [event for event in events if event["id"] not in set(chosen)]
        for group_by in ("product", "file_type"):
            exported = export(server.url, access, groupBy=group_by)
            assert exported.status_code == 200
            assert exported.json()["data"] == oracle(kept, group_by)
    finally:
        server.stop()
    assert dimension_rollups_disagreeing(database_url) == []
    assert raw_and_rolled_disagreeing(database_url, access.org_id) == []
    print(
        f"\nvoid crash test: {kills} kills survived, {stats['failed_attempts']} void "
        f"requests without a 200, {len(chosen)} events voided once each"
    )
