"""The client's alert and webhook methods against a real server, sync and async."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import anyio
import pytest

from creditmeter import AsyncClient, Client, InvalidRequestError, PermissionDeniedError
from creditmeter.webhooks import verify
from tests.alerting import fast_service, member_key, usage
from tests.conftest import Service, new_tenant
from tests.receivers import Receiver, wait_until


@pytest.fixture(scope="module")
def served(new_database: Callable[[], str]) -> Iterator[Service]:
    with fast_service(new_database()) as service:
        yield service


def test_the_client_manages_alerts_and_webhooks(served: Service) -> None:
    tenant = new_tenant(served)
    with Receiver() as receiver, Client(served.url, tenant.key) as client:
        endpoint = client.create_webhook(receiver.url, description="Ops")
        assert endpoint.secret and endpoint.secret.startswith("whsec_")
        assert "whsec_" not in repr(endpoint)
        assert client.get_webhook(endpoint.id).secret is None
        alert = client.create_alert(
            "Budget", metric="credits", threshold=Decimal("10.000001"), period="month",
            time_zone="Europe/Berlin", products=["parse"],
        )  # fmt: skip
        assert alert.threshold == Decimal("10.000001") and alert.filters == {"product": ["parse"]}
        assert alert.current.status == "ok" and alert.current.value == Decimal("0")
        usage(tenant, 10.000001)
        fired = client.get_alert(alert.id)
        assert fired.current.status == "triggered" and fired.current.value == Decimal("10.000001")
        (got,) = receiver.wait_for(1)
        verify(endpoint.secret, got.headers, got.body)
        calls = client.create_alert("Calls", metric="requestCount", threshold=5, period="day")
        assert calls.threshold == 5 and isinstance(calls.current.value, int)
        assert [a.id for a in client.list_alerts()] == [alert.id, calls.id]
        changed = client.update_alert(calls.id, name="Renamed", filters={})
        assert changed.name == "Renamed" and changed.metric == "requestCount"
        with pytest.raises(InvalidRequestError) as refused:
            client.update_alert(calls.id, threshold="2.5")
        assert refused.value.param == "threshold"
        message_id = client.test_webhook(endpoint.id)
        wait_until(
            lambda: any(
                d.message_id == message_id and d.status == "delivered"
                for d in client.webhook_deliveries(endpoint.id)
            ),
            what="the test message delivered",
        )
        rotated = client.rotate_webhook_secret(endpoint.id)
        assert rotated.secret and rotated.secret != endpoint.secret
        assert [e.id for e in client.list_webhooks()] == [endpoint.id]
        client.delete_alert(calls.id)
        client.delete_webhook(endpoint.id)
        assert client.list_webhooks() == []
    with Client(served.url, member_key(tenant, "member")) as member:
        with pytest.raises(PermissionDeniedError):
            member.create_alert("x", metric="credits", threshold=1, period="day")
        assert [a.id for a in member.list_alerts()] == [alert.id]


def test_the_async_client_manages_alerts_and_webhooks(served: Service) -> None:
    tenant = new_tenant(served)

    async def run() -> None:
        async with AsyncClient(served.url, tenant.key) as client:
            endpoint = await client.create_webhook("http://127.0.0.1:9/never")
            alert = await client.create_alert("A", metric="credits", threshold=1, period="day")
            assert alert.threshold == Decimal("1.0")
            assert [a.id for a in await client.list_alerts()] == [alert.id]
            updated = await client.update_alert(alert.id, enabled=False)
            assert updated.enabled is False
            message_id = await client.test_webhook(endpoint.id)
            (delivery,) = await client.webhook_deliveries(endpoint.id)
            assert delivery.message_id == message_id and delivery.type == "webhook.test"
            await client.delete_alert(alert.id)
            assert await client.list_alerts() == []
            await client.delete_webhook(endpoint.id)

    anyio.run(run)
