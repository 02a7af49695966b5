"""Durability of the outbox with real ``creditmeter serve`` processes: a server killed
right after the crossing ingest's 200, or in the middle of an attempt, loses no message;
two servers on one database make each attempt once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from creditmeter.alert_operations import Alerts
from creditmeter.settings import Settings
from creditmeter.store import open_store
from creditmeter.webhooks import verify
from creditmeter.webhooks.endpoints import Webhooks
from tests.fleet import set_up_org
from tests.processes import ServerProcess, start_together
from tests.receivers import Receiver, wait_until

FAST = {"webhook_allow_private": "1", "webhook_poll_seconds": "0.05"}


def _endpoint_and_alert(database_url: str, org_id: str, url: str) -> tuple[str, str]:
    store = open_store(database_url)
    try:
        endpoint, secret = Webhooks(
            store, allow_private=True, sealer=Settings().sealer(store.url)
        ).add(org_id, {"url": url}, None)
        Alerts(store).create(
            org_id,
            {"name": "Crash", "metric": "credits", "threshold": 5, "period": "day"},
            None,
        )
    finally:
        store.close()
    return endpoint["id"], secret


def _cross(server: ServerProcess, writer: str, org_id: str) -> None:
    event = {"orgId": org_id, "id": "crossing", "product": "parse", "credits": 5,
             "timestamp": datetime.now(UTC).isoformat()}  # fmt: skip
    answer = httpx.post(
        f"{server.url}/api/v1/usage/events",
        json={"events": [event]},
        headers={"Authorization": f"Bearer {writer}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_a_server_killed_after_the_crossing_ingest_loses_no_message(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    database_url = new_database()
    access = set_up_org(database_url)
    with Receiver() as receiver:
        _, secret = _endpoint_and_alert(database_url, access.org_id, receiver.url)
        # A worker that looks at the outbox once a minute: the kill comes first.
        slow = ServerProcess(database_url, log=tmp_path / "a.log",
                             settings={**FAST, "webhook_poll_seconds": "60"}).start()  # fmt: skip
        _cross(slow, access.writer, access.org_id)
        slow.kill()
        assert receiver.received == []
        restarted = ServerProcess(database_url, log=tmp_path / "b.log", settings=FAST).start()
        try:
            (got,) = receiver.wait_for(1)
            verify(secret, got.headers, got.body)
            assert got.json()["type"] == "alert.triggered"
            store = open_store(database_url)
            try:
                wait_until(lambda: _statuses(store) == ["delivered"], what="delivered")
            finally:
                store.close()
        finally:
            restarted.stop()
    assert len({r.message_id for r in receiver.received}) == 1


def _statuses(store: object) -> list[str]:
    with store.read() as connection:  # type: ignore[attr-defined]
        return [
            row[0] for row in connection.exec_driver_sql("SELECT status FROM webhook_deliveries")
        ]


def test_an_attempt_cut_short_by_a_crash_is_made_again(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    database_url = new_database()
    access = set_up_org(database_url)
    timeout = 1.0
    settings = {**FAST, "webhook_timeout_seconds": str(timeout)}
    # The first attempt is held open until the server dies; the next is answered.
    with Receiver(lambda n: (200, 30.0 if n == 0 else 0.0)) as receiver:
        _endpoint_and_alert(database_url, access.org_id, receiver.url)
        server = ServerProcess(database_url, log=tmp_path / "a.log", settings=settings).start()
        _cross(server, access.writer, access.org_id)
        (first,) = receiver.wait_for(1)
        server.kill()
        again = ServerProcess(database_url, log=tmp_path / "b.log", settings=settings).start()
        try:
            _, second = receiver.wait_for(2, timeout=timeout + 20)
        finally:
            again.stop()
    assert second.message_id == first.message_id and second.body == first.body
    assert second.at - first.at <= timeout + 10 + 1  # within the timeout + 10 s (+ polling)


def test_two_servers_on_one_database_make_each_attempt_once(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    database_url = new_database()
    access = set_up_org(database_url)
    count = 60
    with Receiver() as receiver:
        store = open_store(database_url)
        try:
            webhooks = Webhooks(store, allow_private=True, sealer=Settings().sealer(store.url))
            endpoint, _ = webhooks.add(access.org_id, {"url": receiver.url}, None)
            pair = [ServerProcess(database_url, log=tmp_path / f"{n}.log", settings=FAST)
                    for n in range(2)]  # fmt: skip
            start_together(pair)
            try:
                sent = [webhooks.test(endpoint["id"], None) for _ in range(count)]
                receiver.wait_for(count)
                wait_until(
                    lambda: _statuses(store).count("delivered") == count, what="all delivered"
                )
            finally:
                for server in pair:
                    server.stop()
        finally:
            store.close()
    seen = Counter(r.message_id for r in receiver.received)
    assert set(seen) == set(sent)
    assert max(seen.values()) == 1, [m for m, n in seen.items() if n > 1]
