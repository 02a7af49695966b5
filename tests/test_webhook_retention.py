"""Retention of the outbox (creditmeter/webhooks/retention.py): a real server's delivery
worker removes finished deliveries older than ``CREDITMETER_WEBHOOK_RETENTION_DAYS``
with their attempts, then the messages no delivery refers to; pending ones stay,
whatever their age. Time is the worker's clock, moved on by the test, never slept."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import text

from creditmeter.settings import Settings
from creditmeter.store import Store, open_store
from creditmeter.store.database import _alembic_config, normalise_url
from creditmeter.webhooks import retention
from creditmeter.webhooks.endpoints import Webhooks
from creditmeter.webhooks.sealing import Sealer
from tests.alerting import FAST, make_alert, make_webhook, usage
from tests.conftest import Service, Tenant, running_service
from tests.processes import ServerProcess, start_together
from tests.receivers import Receiver, wait_until

WEBHOOKS = "/api/v1/webhooks"
DAY = 86_400.0


class Clock:
    """The delivery worker's clock: now, moved on by whole days when the test says."""

    def __init__(self, offset_days: float = 0.0) -> None:
        self.offset = offset_days * DAY

    def __call__(self) -> float:
        return time.time() + self.offset

    def us(self) -> int:
        return int(self() * 1_000_000)

    def move_on(self, days: float) -> None:
        self.offset += days * DAY


def deliveries(tenant: Tenant, hook: dict[str, Any]) -> list[dict[str, Any]]:
    answer = tenant.reader.get(f"{WEBHOOKS}/{hook['id']}/deliveries")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def statuses(tenant: Tenant, hook: dict[str, Any]) -> list[str]:
    return [d["status"] for d in deliveries(tenant, hook)]


def rows(store: Store, statement: str) -> list[tuple[Any, ...]]:
    with store.read() as connection:
        return [tuple(row) for row in connection.execute(text(statement))]


def message_ids(store: Store) -> set[str]:
    return {row[0] for row in rows(store, "SELECT id FROM webhook_messages")}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keeping(new_database: Callable[[], str], clock: Clock) -> Iterator[Service]:
    """A server keeping finished messages 30 days, its worker on ``clock``."""
    with running_service(
        new_database(),
        delivery_clock=clock,
        **{**FAST, "webhook_retry_schedule": "0.1,0.1", "webhook_retention_days": 30},
    ) as service:
        yield service


def test_old_finished_deliveries_go_with_their_attempts_and_messages_pending_and_recent_stay(
    keeping: Service, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="creditmeter.webhooks")
    org = keeping.tenant()
    lost_key = Sealer(Fernet.generate_key().decode())
    with Receiver() as good, Receiver(lambda n: (500, 0.0)) as bad:
        ok = make_webhook(org, good.url)
        failing = make_webhook(org, bad.url)
        # Sealed under a key the server does not have: its deliveries are held, pending.
        held, _ = Webhooks(keeping.store, allow_private=True, sealer=lost_key).add(
            org.org_id, {"url": good.url + "/held"}, None
        )
        make_alert(org, threshold=1)
        usage(org, 1)  # one alert.triggered message to the three endpoints
        test_message = org.reader.post(f"{WEBHOOKS}/{ok['id']}/test").json()["messageId"]
        wait_until(lambda: statuses(org, ok) == ["delivered"] * 2, what="two delivered")
        wait_until(lambda: statuses(org, failing) == ["failed"], what="failed for good")
        (triggered,) = deliveries(org, failing)
        assert len(triggered["attempts"]) == 3

        # Twenty days on: a message delivered then is recent at the end.
        clock.move_on(20)
        recent = org.reader.post(f"{WEBHOOKS}/{ok['id']}/test").json()["messageId"]
        wait_until(lambda: statuses(org, ok) == ["delivered"] * 3, what="the recent one")
        assert message_ids(keeping.store) == {triggered["messageId"], test_message, recent}

        # Thirty-one days after the first: the worker's next round sweeps.
        clock.move_on(11)
        wait_until(
            lambda: message_ids(keeping.store) == {triggered["messageId"], recent},
            what="the sweep",
        )
    # The deliveries log after the sweep: what is kept, as before.
    (kept,) = deliveries(org, ok)
    assert (kept["messageId"], kept["status"]) == (recent, "delivered")
    assert [a["statusCode"] for a in kept["attempts"]] == [200]
    assert deliveries(org, failing) == []
    (pending,) = deliveries(org, held)
    assert (pending["messageId"], pending["status"]) == (triggered["messageId"], "pending")
    assert pending["nextAttemptAt"] is not None
    # The dashboard's page says how long finished messages are listed.
    browser = httpx.Client(base_url=keeping.url, timeout=30)
    try:
        signed = browser.post(
            "/dashboard/sign-in", data={"key": org.key}, headers={"Origin": keeping.url}
        )
        assert signed.status_code == 303, signed.text
        page = browser.get("/dashboard/webhooks", params={"orgId": org.org_id})
    finally:
        browser.close()
    assert page.status_code == 200
    assert "Delivered and failed messages are listed for 30 days." in page.text
    sections = {
        hook_id: page.text.split(f'data-webhook="{hook_id}"')[1].split("</section>")[0]
        for hook_id in (ok["id"], failing["id"], held["id"])
    }
    assert "No messages in the last 30 days." in sections[failing["id"]]
    assert recent in sections[ok["id"]] and triggered["messageId"] not in sections[ok["id"]]
    assert triggered["messageId"] in sections[held["id"]]
    # The attempts of removed deliveries went with them.
    assert rows(keeping.store, "SELECT message_id FROM webhook_attempts") == [(recent,)]
    said = [r.getMessage() for r in caplog.records if "retention" in r.getMessage()]
    assert said == [
        "webhook retention: removed 3 deliveries (5 attempts) and 1 messages finished before "
        + said[0].rsplit(" ", 1)[1]
    ], said


def test_a_pending_delivery_stays_whatever_its_age_and_its_message_with_it(
    keeping: Service, clock: Clock
) -> None:
    org = keeping.tenant()
    lost_key = Sealer(Fernet.generate_key().decode())
    with Receiver() as receiver:
        ok = make_webhook(org, receiver.url)
        held, _ = Webhooks(keeping.store, allow_private=True, sealer=lost_key).add(
            org.org_id, {"url": receiver.url}, None
        )
        make_alert(org, threshold=1)
        usage(org, 1)
        (message,) = wait_until(
            lambda: (d := deliveries(org, ok)) and d[0]["status"] == "delivered" and d,
            what="delivered",
        )
        # A year on, then the sweep of another message shows a round went by.
        clock.move_on(365)
        other = make_webhook(org, receiver.url + "/other")
        sent = org.reader.post(f"{WEBHOOKS}/{other['id']}/test").json()["messageId"]
        wait_until(lambda: deliveries(org, ok) == [], what="the sweep")
        wait_until(lambda: statuses(org, other) == ["delivered"], what="the next delivery")
    (pending,) = deliveries(org, held)
    assert (pending["messageId"], pending["status"]) == (message["messageId"], "pending")
    assert message_ids(keeping.store) >= {message["messageId"], sent}


def test_a_retention_of_zero_keeps_everything(new_database: Callable[[], str]) -> None:
    assert Settings(webhook_retention_days=0).delivery_options().retention_s is None
    assert Settings().delivery_options().retention_s == 30 * DAY
    clock = Clock()
    with (
        running_service(
            new_database(), delivery_clock=clock, **{**FAST, "webhook_retention_days": 0}
        ) as service,
        Receiver() as receiver,
    ):
        org = service.tenant()
        hook = make_webhook(org, receiver.url)
        org.reader.post(f"{WEBHOOKS}/{hook['id']}/test")
        wait_until(lambda: statuses(org, hook) == ["delivered"], what="delivered")
        clock.move_on(3650)
        org.reader.post(f"{WEBHOOKS}/{hook['id']}/test")
        # Delivered after the round that would have swept: nothing was removed.
        wait_until(lambda: statuses(org, hook) == ["delivered"] * 2, what="ten years on")
        assert len(message_ids(service.store)) == 2


def test_a_sweep_goes_in_batches_and_stops_when_asked(
    new_database: Callable[[], str],
) -> None:
    # Seven deliveries finished forty days ago, through a real server on that clock.
    database_url = new_database()
    forty_days_ago = Clock(-40)
    with (
        running_service(database_url, delivery_clock=forty_days_ago, **FAST) as service,
        Receiver() as receiver,
    ):
        org = service.tenant()
        hook = make_webhook(org, receiver.url)
        webhooks = Webhooks(
            service.store, clock=forty_days_ago.us, sealer=Settings().sealer(service.store.url)
        )
        for _ in range(7):
            webhooks.test(hook["id"], None)
        wait_until(lambda: statuses(org, hook) == ["delivered"] * 7, what="delivered")
    store = open_store(database_url)
    try:
        cutoff_us = int((time.time() - 30 * DAY) * 1_000_000)
        pauses: list[int] = []
        stopped = retention.sweep(
            store, cutoff_us=cutoff_us, batch=2, between=lambda: pauses.append(1) or True
        )
        assert (stopped.deliveries, stopped.attempts, stopped.messages) == (2, 2, 0)
        pauses.clear()
        swept = retention.sweep(
            store, cutoff_us=cutoff_us, batch=2, between=lambda: bool(pauses.append(1))
        )
        # Deliveries 2+2+1, messages 2+2+2+1 (the first two of a full batch of 2 each).
        assert (swept.deliveries, swept.attempts, swept.messages) == (5, 5, 7)
        assert len(pauses) == 2 + 3
        assert message_ids(store) == set()
        assert rows(store, "SELECT count(*) FROM webhook_deliveries") == [(0,)]
        assert rows(store, "SELECT count(*) FROM webhook_attempts") == [(0,)]
    finally:
        store.close()


_SWEPT = re.compile(
    r"webhook retention: removed (\d+) deliveries \((\d+) attempts\) and (\d+) messages"
)


def test_two_servers_sweeping_one_postgresql_remove_each_row_once_and_fail_nothing(
    postgres_database: str, tmp_path: Path
) -> None:
    old_count, recent_count, live_count = 1_200, 20, 60
    forty_days_ago = Clock(-40)
    with Receiver() as receiver:
        # Old finished deliveries: a server on a clock forty days back delivered them.
        with running_service(
            postgres_database, delivery_clock=forty_days_ago, webhook_concurrency=32, **FAST
        ) as service:
            org = service.tenant()
            hooks = [make_webhook(org, f"{receiver.url}/{n}") for n in range(4)]
            old = Webhooks(
                service.store,
                clock=forty_days_ago.us,
                sealer=Settings().sealer(service.store.url),
            )
            for n in range(old_count):
                old.test(hooks[n % 4]["id"], None)
            wait_until(
                lambda: rows(service.store, "SELECT count(*) FROM webhook_deliveries "
                             "WHERE status = 'delivered'") == [(old_count,)],
                timeout=180, what="the old deliveries",
            )  # fmt: skip
            # A retry after an attempt that timed out under load adds one.
            ((old_attempts,),) = rows(service.store, "SELECT count(*) FROM webhook_attempts")
        # Recent ones, delivered now by a server that keeps everything.
        with running_service(postgres_database, webhook_retention_days=0, **FAST) as service:
            now = Webhooks(service.store, sealer=Settings().sealer(service.store.url))
            recent = [now.test(hooks[0]["id"], None) for _ in range(recent_count)]
            wait_until(
                lambda: rows(service.store, "SELECT count(*) FROM webhook_deliveries "
                             "WHERE status = 'delivered'") == [(old_count + recent_count,)],
                what="the recent deliveries",
            )  # fmt: skip
        received_before = len(receiver.received)

        # Two servers start at once: each sweeps at start, while delivering new messages.
        settings = {"webhook_allow_private": "1", "webhook_poll_seconds": "0.05"}
        pair = [ServerProcess(postgres_database, log=tmp_path / f"{n}.log", settings=settings)
                for n in range(2)]  # fmt: skip
        store = open_store(postgres_database)
        try:
            webhooks = Webhooks(store, sealer=Settings().sealer(store.url))
            start_together(pair)
            live = [webhooks.test(hooks[1]["id"], None) for _ in range(live_count)]
            wait_until(
                lambda: rows(store, "SELECT count(*) FROM webhook_messages")
                == [(recent_count + live_count,)]
                and rows(store, "SELECT count(*) FROM webhook_deliveries WHERE status = "
                         "'delivered'") == [(recent_count + live_count,)],
                timeout=60, what="the sweep and the live deliveries",
            )  # fmt: skip
            kept = message_ids(store)
        finally:
            for server in pair:
                server.stop()
            store.close()
    logs = [(tmp_path / f"{n}.log").read_text() for n in range(2)]
    counts = [[tuple(map(int, m)) for m in _SWEPT.findall(log)] for log in logs]
    assert sum(d for c in counts for d, _, _ in c) == old_count, counts
    assert sum(a for c in counts for _, a, _ in c) == old_attempts, counts
    assert sum(m for c in counts for _, _, m in c) == old_count, counts
    for log in logs:
        assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
    assert kept == set(recent) | set(live)
    # Each live message delivered once.
    seen = Counter(r.message_id for r in receiver.received[received_before:])
    assert set(seen) == set(live) and max(seen.values()) == 1


def test_migration_0012_dates_the_finished_deliveries_it_finds(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "0011")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO organizations (id, name, created_at) "
                    "VALUES ('org_m', 'M', CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO webhook_endpoints (id, org_id, url, secret, created_at_us) "
                    "VALUES ('whk_m', 'org_m', 'http://h/', 'x', 1)"
                )
            )
            for message, status in (("a", "delivered"), ("b", "failed"), ("c", "pending"),
                                    ("d", "failed")):  # fmt: skip
                connection.execute(
                    text(
                        "INSERT INTO webhook_messages (id, org_id, type, body, created_at_us) "
                        "VALUES (:m, 'org_m', 'webhook.test', '{}', 1000)"
                    ),
                    {"m": message},
                )
                connection.execute(
                    text(
                        "INSERT INTO webhook_deliveries (message_id, webhook_id, status, "
                        "next_attempt_us, attempt_count, created_at_us) "
                        "VALUES (:m, 'whk_m', :s, NULL, 2, 1000)"
                    ),
                    {"m": message, "s": status},
                )
                if message != "d":  # a failed one with no attempt left in the log
                    connection.execute(
                        text(
                            "INSERT INTO webhook_attempts (message_id, webhook_id, "
                            "attempted_at_us, status_code, error, duration_ms) VALUES "
                            "(:m, 'whk_m', 5000, 500, NULL, 1), (:m, 'whk_m', 9000, 200, NULL, 3)"
                        ),
                        {"m": message},
                    )
    finally:
        engine.dispose()
    store = Store(url)
    try:
        store.migrate()
        finished = dict(rows(store, "SELECT message_id, finished_at_us FROM webhook_deliveries"))
    finally:
        store.close()
    assert finished == {"a": 12_000, "b": 12_000, "c": None, "d": 1000}
