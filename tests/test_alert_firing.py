"""When alerts fire (``usage-alerts.md``, "Firing" and edge cases 6-13, 17, 21), on both
stores: through a real server, and through the store with a clock set in the past where
a test needs periods that already ended."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from creditmeter import alerting
from creditmeter.alert_operations import Alerts
from creditmeter.events import read_json_body
from creditmeter.ingest import _row as ingest_row
from creditmeter.ingest import now_us
from creditmeter.org_access import Actor
from creditmeter.store import alerts as alert_sql
from creditmeter.store import usage as usage_sql
from creditmeter.timestamps import parse_instant_us
from creditmeter.webhooks import verify
from tests.alerting import fast_service, make_alert, make_webhook, now_text, usage
from tests.conftest import Service, Tenant, new_tenant
from tests.fleet import exact_json
from tests.receivers import Receiver

ALERTS = "/api/v1/alerts"


@pytest.fixture(scope="module")
def firing(new_database: Callable[[], str]) -> Iterator[Service]:
    with fast_service(new_database()) as service:
        yield service


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def org(firing: Service) -> Tenant:
    return new_tenant(firing)


def messages(tenant: Tenant, hook: dict[str, Any]) -> list[dict[str, Any]]:
    """The endpoint's messages, oldest first: written in the transaction that made them,
    so listed as soon as the request that made them answered."""
    answer = tenant.reader.get(f"/api/v1/webhooks/{hook['id']}/deliveries")
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()))


def bodies(receiver: Receiver, hook: dict[str, Any], alert_id: str, count: int) -> list[Any]:
    """The ``count`` delivered messages of one alert, verified, in their creation order."""
    got = receiver.wait_for(count, where=lambda r: alert_id.encode() in r.body)
    for request in got:
        verify(hook["secret"], request.headers, request.body)
    found = sorted((r.json() for r in got), key=lambda body: body["timestamp"])
    assert len({r.message_id for r in got}) == len(got) == count, got
    return found


def state(tenant: Tenant, alert: dict[str, Any]) -> dict[str, Any]:
    return dict(tenant.reader.get(f"{ALERTS}/{alert['id']}").json()["current"])


def test_edge_06_equality_fires(org: Tenant, receiver: Receiver) -> None:
    hook = make_webhook(org, receiver.url)
    alert = make_alert(org, threshold=10.5)
    usage(org, 10.499999)
    assert state(org, alert)["status"] == "ok" and messages(org, hook) == []
    usage(org, 0.000001)
    assert state(org, alert) == {**state(org, alert), "status": "triggered", "value": 10.5}
    (body,) = bodies(receiver, hook, alert["id"], 1)
    assert body["type"] == "alert.triggered"
    data = body["data"]
    assert (data["value"], data["threshold"], data["alertName"]) == (10.5, 10.5, "Budget")
    assert data["periodStart"].endswith("T00:00:00+00:00") and data["timeZone"] == "UTC"
    assert data["filters"] == {} and data["orgId"] == org.org_id


def test_edge_07_once_per_period_and_several_messages_per_batch(
    org: Tenant, receiver: Receiver
) -> None:
    hook = make_webhook(org, receiver.url)
    one = make_alert(org, name="one", threshold=5)
    two = make_alert(org, name="two", metric="requestCount", threshold=2)
    usage(org, 5)
    usage(org, 5)
    usage(org, 50)
    listed = messages(org, hook)
    assert [m["type"] for m in listed] == ["alert.triggered", "alert.triggered"]
    assert len({m["messageId"] for m in listed}) == 2
    bodies(receiver, hook, one["id"], 1)
    bodies(receiver, hook, two["id"], 1)
    # One batch, two periods of one alert: today and tomorrow (events up to 24 h ahead).
    later = new_tenant(org.service)
    later_hook = make_webhook(later, receiver.url)
    alert = make_alert(later, threshold=3)
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(hours=23)).replace(microsecond=0)
    if tomorrow.date() == now.date():
        tomorrow = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    later.record(
        [
            {"id": "a", "timestamp": now.isoformat(), "product": "p", "credits": 3},
            {"id": "b", "timestamp": tomorrow.isoformat(), "product": "p", "credits": 3},
        ]
    )
    got = bodies(receiver, later_hook, alert["id"], 2)
    starts = sorted(body["data"]["periodStart"][:10] for body in got)
    assert starts == [now.date().isoformat(), tomorrow.date().isoformat()]


def test_edge_08_evaluate_on_create_and_on_enabling(org: Tenant, receiver: Receiver) -> None:
    hook = make_webhook(org, receiver.url)
    usage(org, 20)
    created = make_alert(org, threshold=20)
    assert created["current"]["status"] == "triggered" and created["current"]["value"] == 20.0
    bodies(receiver, hook, created["id"], 1)
    disabled = make_alert(org, threshold=10, enabled=False)
    assert disabled["current"] == {**disabled["current"], "status": "ok", "value": 20.0}
    usage(org, 1)
    assert [m for m in messages(org, hook) if m["type"] == "alert.triggered"].__len__() == 1
    enabled = org.reader.patch(f"{ALERTS}/{disabled['id']}", json={"enabled": True}).json()
    assert enabled["current"]["status"] == "triggered" and enabled["current"]["value"] == 21.0
    (body,) = bodies(receiver, hook, disabled["id"], 1)
    assert body["data"]["value"] == 21.0
    # Disabling sends nothing; enabling again keeps the period's state: no second message.
    org.reader.patch(f"{ALERTS}/{disabled['id']}", json={"enabled": False})
    again = org.reader.patch(f"{ALERTS}/{disabled['id']}", json={"enabled": True}).json()
    assert again["current"]["status"] == "triggered"
    assert len(messages(org, hook)) == 2


def test_edge_09_name_alone_or_empty_or_disabling_sends_nothing(org: Tenant) -> None:
    hook = make_webhook(org, "http://127.0.0.1:9/never")
    alert = make_alert(org, threshold=100)
    usage(org, 150)
    assert len(messages(org, hook)) == 1
    for body in ({"name": "Other"}, {}, {"enabled": False}):
        assert org.reader.patch(f"{ALERTS}/{alert['id']}", json=body).status_code == 200
    assert len(messages(org, hook)) == 1


def test_edge_10_deleting_an_alert_stops_it_and_keeps_its_messages(
    org: Tenant, receiver: Receiver
) -> None:
    hook = make_webhook(org, receiver.url)
    alert = make_alert(org, threshold=1)
    usage(org, 1)
    assert org.reader.delete(f"{ALERTS}/{alert['id']}").status_code == 204
    (body,) = bodies(receiver, hook, alert["id"], 1)
    assert body["type"] == "alert.triggered"
    other = make_alert(org, threshold=1000)
    org.reader.delete(f"{ALERTS}/{other['id']}")
    usage(org, 5000)
    assert len(messages(org, hook)) == 1


def test_edge_12_instants_and_periods_in_a_zone(firing: Service, org: Tenant) -> None:
    # A 23-hour day, a 25-hour day, a day whose midnight does not exist, a month.
    cases = [
        ("Europe/Berlin", "day", "2026-03-29T12:00:00Z", "2026-03-29T00:00:00+01:00",
         "2026-03-30T00:00:00+02:00"),
        ("Europe/Berlin", "day", "2026-10-25T12:00:00Z", "2026-10-25T00:00:00+02:00",
         "2026-10-26T00:00:00+01:00"),
        ("America/Santiago", "day", "2026-09-06T12:00:00Z", "2026-09-06T01:00:00-03:00",
         "2026-09-07T00:00:00-03:00"),
        ("Asia/Kolkata", "month", "2026-05-31T20:00:00Z", "2026-06-01T00:00:00+05:30",
         "2026-07-01T00:00:00+05:30"),
        ("UTC", "month", "2026-02-10T00:00:00Z", "2026-02-01T00:00:00+00:00",
         "2026-03-01T00:00:00+00:00"),
    ]  # fmt: skip
    for zone, period, now, start, end in cases:
        clock = parse_instant_us(now)
        alerts = Alerts(firing.store, clock=lambda clock=clock: clock)
        view = alerts.create(
            org.org_id,
            {"name": "z", "metric": "credits", "threshold": 1, "period": period, "timeZone": zone},
            Actor(org.user_id),
        )
        current = view.document()["current"]
        assert (current["periodStart"], current["periodEnd"]) == (start, end), zone
        assert view.document()["createdAt"] == now
        alerts.delete(view.alert.id, None)


def _created_yesterday(service: Service, tenant: Tenant, **fields: Any) -> str:
    """An alert created yesterday at noon UTC (a clock set back), its id."""
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    clock = int((noon - timedelta(days=1)).timestamp() * 1_000_000)
    view = Alerts(service.store, clock=lambda: clock).create(
        tenant.org_id,
        {"name": "old", "metric": "credits", "threshold": 10, "period": "day", **fields},
        Actor(tenant.user_id),
    )
    return view.alert.id


def test_a_late_event_fires_a_watched_past_period_and_a_backfill_never(
    firing: Service, org: Tenant
) -> None:
    hook = make_webhook(org, "http://127.0.0.1:9/never")
    alert_id = _created_yesterday(firing, org)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(hour=18).isoformat()
    before = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    usage(org, 50, at=before)  # a period that ended before the alert watched
    assert messages(org, hook) == []
    usage(org, 10, at=yesterday)  # late, in yesterday's period, which it watched
    (message,) = messages(org, hook)
    assert message["type"] == "alert.triggered"
    # The next period starts ok, silently.
    assert state(org, {"id": alert_id}) == {**state(org, {"id": alert_id}), "status": "ok"}
    usage(org, 10)
    assert [m["type"] for m in messages(org, hook)] == ["alert.triggered"] * 2


def void(tenant: Tenant, *ids: str) -> None:
    """Void events through the API (issue 14), as an operator would."""
    answer = tenant.writer.post(
        "/api/v1/usage/events/void",
        json={"orgId": tenant.org_id, "ids": list(ids), "reason": "test"},
    )
    assert answer.status_code == 200, answer.text


def test_edge_13_resolved_carries_the_new_total_and_a_new_crossing_fires_again(
    firing: Service, org: Tenant, receiver: Receiver
) -> None:
    hook = make_webhook(org, receiver.url)
    alert = make_alert(org, threshold=10)
    org.record([{"id": "big", "timestamp": datetime.now(UTC).isoformat(), "product": "parse",
                 "credits": 8}])  # fmt: skip
    usage(org, 4)
    void(org, "big")
    assert state(org, alert) == {**state(org, alert), "status": "ok", "value": 4.0}
    usage(org, 6)
    got = bodies(receiver, hook, alert["id"], 3)
    assert [(b["type"], b["data"]["value"]) for b in got] == [
        ("alert.triggered", 12.0), ("alert.resolved", 4.0), ("alert.triggered", 10.0)
    ]  # fmt: skip


def test_edge_17_an_alert_fires_without_endpoints_and_nothing_is_replayed(org: Tenant) -> None:
    alert = make_alert(org, threshold=2)
    usage(org, 3)
    assert state(org, alert)["status"] == "triggered"
    hook = make_webhook(org, "http://127.0.0.1:9/never")
    usage(org, 3)
    assert messages(org, hook) == []


def test_edge_21_what_counts_as_a_change(org: Tenant) -> None:
    hook = make_webhook(org, "http://127.0.0.1:9/never")
    alert = make_alert(org, threshold=5, filters={"product": ["parse"]})
    usage(org, 6)
    assert len(messages(org, hook)) == 1
    path = f"{ALERTS}/{alert['id']}"
    same = {"metric": "credits", "threshold": 5.0, "period": "day", "timeZone": "UTC",
            "filters": {"product": ["parse", "parse"]}}  # fmt: skip
    answer = org.reader.patch(path, json=same).json()
    assert answer["current"]["status"] == "triggered" and len(messages(org, hook)) == 1
    assert answer["updatedAt"] == alert["updatedAt"]
    # A new threshold resets every period to ok and evaluates: the total is over it again.
    changed = org.reader.patch(path, json={"threshold": 6}).json()
    assert changed["current"]["status"] == "triggered"
    assert [m["type"] for m in messages(org, hook)] == ["alert.triggered"] * 2


def test_filters_and_request_counts_choose_the_events(org: Tenant) -> None:
    hook = make_webhook(org, "http://127.0.0.1:9/never")
    pdf = make_alert(org, threshold=10, filters={"product": ["parse"], "fileType": ["pdf"]})
    calls = make_alert(org, metric="requestCount", threshold=3, filters={"apiKey": ["k1"]})
    usage(org, 9, fileType="pdf")
    usage(org, 9, fileType="docx")
    usage(org, 9, product="other", fileType="pdf")
    usage(org, 1, apiKey="k1", requestCount=2)
    assert state(org, pdf)["value"] == 9.0 and state(org, calls)["value"] == 2
    assert messages(org, hook) == []
    usage(org, 1, fileType="pdf", apiKey="k1")
    types = [m["type"] for m in messages(org, hook)]
    assert types == ["alert.triggered", "alert.triggered"]
    assert state(org, pdf)["value"] == 10.0 and state(org, calls)["value"] == 3


def test_the_kept_totals_equal_the_rollups(firing: Service) -> None:
    """The totals ingest keeps per period (the fast path) against a sum of the rollups."""
    rng = random.Random(16)
    tenant = new_tenant(firing)
    filters = [{}, {"product": ["a"]}, {"product": ["a", "b"], "feature": ["x"]},
               {"apiKey": ["k"]}, {"fileType": ["pdf"], "feature": ["y", "x"]}]  # fmt: skip
    ids = [
        make_alert(tenant, threshold=10**9, metric=metric, filters=f, period=period,
                   timeZone=zone)["id"]
        for f in filters for metric in ("credits", "requestCount")
        for period, zone in (("day", "UTC"), ("month", "Pacific/Chatham"))
    ]  # fmt: skip
    now = datetime.now(UTC)
    for batch in range(12):
        events = []
        for n in range(rng.randint(1, 40)):
            event: dict[str, Any] = {
                "id": f"e{batch}-{n}-{rng.randint(0, 30)}",
                "timestamp": (now - timedelta(minutes=rng.randint(0, 600))).isoformat(),
                "product": rng.choice("abc"),
                "credits": rng.choice([0, 0.5, 1.25, 3]),
                "requestCount": rng.randint(0, 3),
            }
            for field, values in (("feature", "xy"), ("apiKey", "kl"), ("fileType", ["pdf"])):
                if rng.random() < 0.6:
                    event[field] = rng.choice(list(values))
            events.append(event)
        tenant.record(events)
    checked = 0
    with firing.store.read() as connection:
        for alert_id in ids:
            alert = alerting.alert_of_row(alert_sql.get_alert(connection, alert_id) or {})
            for row in alert_sql.periods_of(connection, alert_id):
                if row["value"] is None:
                    continue  # not kept (never touched since the alert was created)
                period = alert.period_at(row["period_start_us"])
                assert row["value"] == alerting.total(connection, alert, period), alert
                checked += 1
    assert checked >= len(ids)


def test_concurrent_batches_fire_a_period_once_and_keep_its_exact_total(firing: Service) -> None:
    """Writers of one organization crossing the threshold together: one message, and the
    kept total equals the rollups' (PostgreSQL runs them concurrently)."""
    import threading

    tenant = new_tenant(firing)
    hook = make_webhook(tenant, "http://127.0.0.1:9/never")
    alert = make_alert(tenant, threshold=100)
    now = datetime.now(UTC).isoformat()
    failures: list[str] = []

    def send(sender: int) -> None:
        client = tenant.writer
        for batch in range(5):
            events = [
                {"orgId": tenant.org_id, "id": f"s{sender}-b{batch}-{n}", "timestamp": now,
                 "product": "parse", "credits": 1}
                for n in range(5)
            ]  # fmt: skip
            answer = client.post("/api/v1/usage/events", json={"events": events})
            if answer.status_code != 200:
                failures.append(answer.text)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert [m["type"] for m in messages(tenant, hook)] == ["alert.triggered"]
    assert state(tenant, alert) == {**state(tenant, alert), "value": 200.0, "status": "triggered"}
    with firing.store.read() as connection:
        stored = alerting.alert_of_row(alert_sql.get_alert(connection, alert["id"]) or {})
        (row,) = alert_sql.periods_of(connection, alert["id"])
        assert row["value"] == 200_000_000
        assert alerting.total(connection, stored, stored.period_at(row["period_start_us"])) == (
            200_000_000
        )


def test_a_batch_after_a_change_uses_the_changed_alert(org: Tenant) -> None:
    """Each ingest works its batch out with the alerts the last one found, and checks
    their versions in its transaction: a change in between is not missed."""
    hook = make_webhook(org, "http://127.0.0.1:9/never")
    alert = make_alert(org, threshold=5, filters={"product": ["a"]})
    usage(org, 1, product="a")  # the ingest that remembers the alert as it is now
    changed = org.reader.patch(f"{ALERTS}/{alert['id']}", json={"filters": {"product": ["b"]}})
    assert changed.status_code == 200
    usage(org, 10, product="a")
    assert messages(org, hook) == []
    usage(org, 5, product="b")
    assert [m["type"] for m in messages(org, hook)] == ["alert.triggered"]
    other = make_alert(org, name="second", threshold=1)  # a new alert: a new version list
    assert other["current"]["status"] == "triggered"
    org.reader.delete(f"{ALERTS}/{other['id']}")
    usage(org, 1, product="c")
    assert len(messages(org, hook)) == 2


def test_a_void_resolves_a_local_period_that_another_utc_day_holds(
    org: Tenant, receiver: Receiver
) -> None:
    """An event early in a Berlin day lies in the UTC day before: the void of it still
    makes the alert of the Berlin day look again."""
    from zoneinfo import ZoneInfo

    hook = make_webhook(org, receiver.url)
    alert = make_alert(org, threshold=5, timeZone="Europe/Berlin")
    local = datetime.now(ZoneInfo("Europe/Berlin"))
    early = local.replace(hour=0, minute=30, second=0, microsecond=0).astimezone(UTC)
    assert early.date() != local.date()  # in UTC, the local day's first hours are the day before
    org.record([{"id": "early", "timestamp": early.isoformat(), "product": "p", "credits": 5}])
    assert state(org, alert)["status"] == "triggered"
    void(org, "early")
    assert state(org, alert) == {**state(org, alert), "status": "ok", "value": 0.0}
    got = bodies(receiver, hook, alert["id"], 2)
    assert [b["type"] for b in got] == ["alert.triggered", "alert.resolved"]
    assert got[1]["data"]["periodStart"].endswith(("T00:00:00+01:00", "T00:00:00+02:00"))


def test_edge_08_an_alert_created_during_an_ingest_sees_its_events(
    firing: Service, store_kind: str
) -> None:
    """An ingest that read the organization's alerts before a new alert existed, and has
    not committed yet: the alert's evaluation on create waits for it and counts its
    events, so the crossing fires at once rather than at the next batch (PostgreSQL's
    writers run at the same time; the two would otherwise each miss the other)."""
    if store_kind != "postgresql":
        pytest.skip("SQLite's writers take turns: a write transaction excludes every other")
    import threading

    tenant = new_tenant(firing)
    received = now_us()
    batch = read_json_body(
        exact_json(
            [{"id": "during-1", "orgId": tenant.org_id, "timestamp": now_text(),
              "product": "parse", "credits": 25}]
        ),
        received,
    )  # fmt: skip
    created: list[dict[str, Any]] = []
    with firing.store.write() as connection:
        # What ingest.record does in its transaction: the events stored, then the
        # organization's alerts read and evaluated (there are none yet).
        inserted = usage_sql.insert_events(
            connection, [ingest_row(event, received) for event in batch.events]
        )
        alerting.prepare(batch.events).apply(connection, inserted, received)
        creating = threading.Thread(target=lambda: created.append(make_alert(tenant)))
        creating.start()
        # Commit only once the alert's evaluation waits for this transaction.
        deadline = time.monotonic() + 30
        with firing.store.read() as watcher:
            while not watcher.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).scalar_one():
                assert time.monotonic() < deadline, "the alert's creation never waited"
                assert creating.is_alive(), "the alert was created without waiting"
    creating.join(timeout=30)
    (alert,) = created
    assert alert["current"]["status"] == "triggered"
    assert alert["current"]["value"] == 25.0
