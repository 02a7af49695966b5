"""Helpers of the alert and webhook tests: a server that delivers quickly to a receiver
on this machine, and short ways to make alerts, endpoints and usage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from tests.conftest import Service, Tenant, running_service

#: Delivery that a test can wait for: polls often, retries soon, times out fast.
FAST = {
    "export_rate_limit": 0,
    "webhook_allow_private": True,
    "webhook_poll_seconds": 0.05,
    "webhook_retry_schedule": "0.3,0.3",
    "webhook_timeout_seconds": 2.0,
}


@contextmanager
def fast_service(database_url: str, **overrides: Any) -> Iterator[Service]:
    with running_service(database_url, **{**FAST, **overrides}) as service:
        yield service


def now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def make_alert(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"name": "Budget", "metric": "credits", "threshold": 10, "period": "day", **fields}
    response = tenant.reader.post("/api/v1/alerts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def make_webhook(tenant: Tenant, url: str, **fields: Any) -> dict[str, Any]:
    response = tenant.reader.post("/api/v1/webhooks", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()


_counter = iter(range(10**9))


def usage(tenant: Tenant, credits: float, *, at: str | None = None, **dimensions: Any) -> None:
    """Record one event of ``credits`` now (or ``at``), product ``parse`` by default."""
    event = {
        "id": f"evt_{next(_counter)}_{datetime.now(UTC).timestamp()}",
        "timestamp": at or now_text(),
        "product": "parse",
        "credits": credits,
        **dimensions,
    }
    tenant.record([event])


def member_key(tenant: Tenant, role: str) -> str:
    """A personal key of a new user holding ``role`` in the tenant's organization."""
    admin = tenant.service.admin
    suffix = datetime.now(UTC).strftime("%H%M%S%f")
    user = admin.post("/api/v1/admin/users", json={"email": f"{role}-{suffix}@example.com"})
    assert user.status_code == 201, user.text
    user_id = user.json()["id"]
    put = admin.put(f"/api/v1/admin/orgs/{tenant.org_id}/members/{user_id}", json={"role": role})
    assert put.status_code == 200, put.text
    key = admin.post(f"/api/v1/admin/users/{user_id}/keys", json={"orgId": tenant.org_id})
    assert key.status_code == 201, key.text
    return str(key.json()["secret"])
