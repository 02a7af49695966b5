"""Delivering messages (``usage-alerts.md``, "Delivery" and edge cases 14, 16, 21, 22):
a real server sends to a real receiver in this process; nothing of the transport is mocked."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from creditmeter import __version__
from creditmeter.settings import Settings
from creditmeter.webhooks import WebhookVerificationError, verify
from creditmeter.webhooks.endpoints import Webhooks
from creditmeter.webhooks.signing import signature
from tests.alerting import fast_service, make_alert, make_webhook, usage
from tests.conftest import Service, Tenant, new_tenant
from tests.ports import free_port
from tests.receivers import Receiver, wait_until

WEBHOOKS = "/api/v1/webhooks"


@pytest.fixture(scope="module")
def delivering(new_database: Callable[[], str]) -> Iterator[Service]:
    with fast_service(
        new_database(), webhook_timeout_seconds=0.5, webhook_retry_schedule="0.2,0.4"
    ) as service:
        yield service


@pytest.fixture
def org(delivering: Service) -> Tenant:
    return new_tenant(delivering)


def deliveries(tenant: Tenant, hook: dict[str, Any]) -> list[dict[str, Any]]:
    answer = tenant.reader.get(f"{WEBHOOKS}/{hook['id']}/deliveries")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def settled(tenant: Tenant, hook: dict[str, Any], count: int = 1) -> list[dict[str, Any]]:
    """The deliveries once ``count`` of them are no longer pending."""
    return list(
        wait_until(
            lambda: (
                listed
                if len(listed := deliveries(tenant, hook)) >= count
                and all(d["status"] != "pending" for d in listed)
                else None
            ),
            what="the deliveries to settle",
        )
    )


def test_edge_22_verify_accepts_a_real_delivery_and_says_why_it_refuses(
    org: Tenant,
) -> None:
    with Receiver() as receiver:
        hook = make_webhook(org, receiver.url)
        sent = org.reader.post(f"{WEBHOOKS}/{hook['id']}/test").json()
        (got,) = receiver.wait_for(1)
    assert got.message_id == sent["messageId"]
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == f"creditmeter/{__version__}"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 30
    assert got.json()["type"] == "webhook.test"
    assert got.json()["data"] == {"orgId": org.org_id, "webhookId": hook["id"]}
    secret = hook["secret"]
    verify(secret, got.headers, got.body)
    verify(secret, got.headers, got.body.decode())
    stamp = int(got.headers["webhook-timestamp"])
    verify(secret, got.headers, got.body, tolerance=5, now=stamp + 5)
    verify(secret, got.headers, got.body, tolerance=5, now=stamp - 5)
    refusals = {
        "too old": dict(now=stamp + 301),
        "too new": dict(now=stamp - 301),
    }
    for words, options in refusals.items():
        with pytest.raises(WebhookVerificationError, match=words):
            verify(secret, got.headers, got.body, **options)
    with pytest.raises(WebhookVerificationError, match="No v1 signature matches"):
        verify(secret, got.headers, got.body + b" ")
    other = make_webhook(org, receiver.url)["secret"]
    with pytest.raises(WebhookVerificationError, match="No v1 signature matches"):
        verify(other, got.headers, got.body)
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {k: v for k, v in got.headers.items() if k != header}
        with pytest.raises(WebhookVerificationError, match=header):
            verify(secret, partial, got.body)
    with pytest.raises(WebhookVerificationError, match="not unix seconds"):
        verify(secret, {**got.headers, "webhook-timestamp": "soon"}, got.body)
    v2 = {
        **got.headers,
        "webhook-signature": got.headers["webhook-signature"].replace("v1,", "v2,"),
    }
    with pytest.raises(WebhookVerificationError):
        verify(secret, v2, got.body)


def test_failed_attempts_are_retried_on_the_schedule_then_delivered(org: Tenant) -> None:
    with Receiver(lambda n: (500 if n < 2 else 204, 0.0)) as receiver:
        hook = make_webhook(org, receiver.url)
        alert = make_alert(org, threshold=1)
        usage(org, 1)
        got = receiver.wait_for(3)
    (delivery,) = settled(org, hook)
    assert delivery["status"] == "delivered" and delivery["nextAttemptAt"] is None
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 500, 204]
    assert all(a["error"] is None for a in delivery["attempts"])
    # The same message each time: its id and body bytes; signed when made.
    assert len({r.message_id for r in got}) == 1 and len({r.body for r in got}) == 1
    assert alert["id"].encode() in got[0].body
    for request in got:
        verify(hook["secret"], request.headers, request.body)
    # The delays of the schedule, counted from each failure.
    assert got[1].at - got[0].at >= 0.2 and got[2].at - got[1].at >= 0.4


def test_a_message_fails_when_the_schedule_is_spent(org: Tenant) -> None:
    with Receiver(lambda n: (302, 0.0)) as receiver:
        hook = make_webhook(org, receiver.url)
        org.reader.post(f"{WEBHOOKS}/{hook['id']}/test")
        receiver.wait_for(3)
        (delivery,) = settled(org, hook)
    assert delivery["status"] == "failed" and delivery["nextAttemptAt"] is None
    # A redirect is a failure, and is not followed.
    assert [a["statusCode"] for a in delivery["attempts"]] == [302, 302, 302]
    assert len(receiver.received) == 3


def test_a_slow_receiver_times_out_and_a_closed_port_is_a_connection_error(org: Tenant) -> None:
    with Receiver(lambda n: (200, 5.0 if n == 0 else 0.0)) as receiver:
        hook = make_webhook(org, receiver.url)
        org.reader.post(f"{WEBHOOKS}/{hook['id']}/test")
        (delivery,) = settled(org, hook)
    first, second = delivery["attempts"]
    assert (first["statusCode"], first["error"]) == (None, "timeout")
    assert 500 <= first["durationMs"] < 2500
    assert (second["statusCode"], delivery["status"]) == (200, "delivered")
    closed = make_webhook(org, f"http://127.0.0.1:{free_port()}/hook")
    org.reader.post(f"{WEBHOOKS}/{closed['id']}/test")
    (refused,) = settled(org, closed)
    assert refused["status"] == "failed"
    assert [a["error"] for a in refused["attempts"]] == ["connection_error"] * 3


def test_an_attempt_to_a_private_address_fails_unless_allowed(
    service: Service, org: Tenant
) -> None:
    # An endpoint accepted while private addresses were allowed, delivered by a server
    # that refuses them (the session's): each attempt resolves and checks again.
    tenant = new_tenant(service)
    with Receiver() as receiver:
        endpoint, _ = Webhooks(
            service.store, allow_private=True, sealer=Settings().sealer(service.store.url)
        ).add(tenant.org_id, {"url": receiver.url}, None)
        tenant.reader.post(f"{WEBHOOKS}/{endpoint['id']}/test")
        (delivery,) = wait_until(
            lambda: (d := deliveries(tenant, endpoint)) and d[0]["attempts"] and d,
            what="an attempt",
        )
    assert delivery["attempts"][0]["error"] == "private_address"
    assert receiver.received == []


def test_edge_14_and_21_rotation_signs_with_the_new_secret_then_the_one_it_replaced(
    org: Tenant,
) -> None:
    with Receiver() as receiver:
        hook = make_webhook(org, receiver.url)
        first = org.reader.post(f"{WEBHOOKS}/{hook['id']}/rotate").json()["secret"]
        org.reader.post(f"{WEBHOOKS}/{hook['id']}/test")
        (once,) = receiver.wait_for(1)
        second = org.reader.post(f"{WEBHOOKS}/{hook['id']}/rotate").json()["secret"]
        org.reader.post(f"{WEBHOOKS}/{hook['id']}/test")
        _, twice = receiver.wait_for(2)
    stamp = int(once.headers["webhook-timestamp"])
    assert once.headers["webhook-signature"] == " ".join(
        signature(secret, once.message_id, stamp, once.body) for secret in (first, hook["secret"])
    )
    stamp = int(twice.headers["webhook-timestamp"])
    assert twice.headers["webhook-signature"] == " ".join(
        signature(secret, twice.message_id, stamp, twice.body) for secret in (second, first)
    )
    for secret in (second, first):
        verify(secret, twice.headers, twice.body)
    with pytest.raises(WebhookVerificationError):
        verify(hook["secret"], twice.headers, twice.body)


def test_edge_16_test_events_go_to_that_endpoint_only_and_are_retried(org: Tenant) -> None:
    with Receiver(lambda n: (503 if n == 0 else 200, 0.0)) as receiver:
        hook = make_webhook(org, receiver.url)
        other = make_webhook(org, receiver.url + "/other")
        sent = org.reader.post(f"{WEBHOOKS}/{hook['id']}/test").json()["messageId"]
        receiver.wait_for(2)
        (delivery,) = settled(org, hook)
    assert delivery["messageId"] == sent and delivery["type"] == "webhook.test"
    assert [a["statusCode"] for a in delivery["attempts"]] == [503, 200]
    assert deliveries(org, other) == []
    assert {r.path for r in receiver.received} == {"/hook"}


def test_deleting_an_endpoint_drops_its_pending_messages(delivering: Service, org: Tenant) -> None:
    hook = make_webhook(org, "http://127.0.0.1:9/never")
    make_alert(org, threshold=1)
    usage(org, 1)
    assert len(deliveries(org, hook)) == 1
    assert org.reader.delete(f"{WEBHOOKS}/{hook['id']}").status_code == 204
    with delivering.store.read() as connection:
        left = connection.execute(
            text("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = :w"),
            {"w": hook["id"]},
        ).scalar()
    assert left == 0
    assert org.reader.get(f"{WEBHOOKS}/{hook['id']}/deliveries").status_code == 404


def test_deliveries_list_the_newest_hundred_newest_first(org: Tenant) -> None:
    hook = make_webhook(org, "http://127.0.0.1:9/never")
    sent = [org.reader.post(f"{WEBHOOKS}/{hook['id']}/test").json()["messageId"] for _ in range(3)]
    listed = deliveries(org, hook)
    assert [d["messageId"] for d in listed] == list(reversed(sent))
    assert all(d["status"] == "pending" and d["nextAttemptAt"] for d in listed)


def test_edge_14_the_replaced_secret_stops_signing_after_24_hours(
    delivering: Service, org: Tenant
) -> None:
    day_and_more_ago = int((time.time() - 25 * 3600) * 1_000_000)
    with Receiver() as receiver:
        hook = make_webhook(org, receiver.url)
        _, new = Webhooks(
            delivering.store,
            clock=lambda: day_and_more_ago,
            sealer=Settings().sealer(delivering.store.url),
        ).rotate(hook["id"], None)
        org.reader.post(f"{WEBHOOKS}/{hook['id']}/test")
        (got,) = receiver.wait_for(1)
    assert len(got.headers["webhook-signature"].split()) == 1
    verify(new, got.headers, got.body)
    with pytest.raises(WebhookVerificationError):
        verify(hook["secret"], got.headers, got.body)
