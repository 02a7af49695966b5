from __future__ import annotations

from collections.abc import Callable

from creditmeter.webhooks import verify
from tests.alerting import fast_service, make_alert, make_webhook, usage
from tests.conftest import new_tenant
from tests.receivers import Receiver


def test_smoke(new_database: Callable[[], str]) -> None:
    with fast_service(new_database()) as service, Receiver() as receiver:
        tenant = new_tenant(service)
        hook = make_webhook(tenant, receiver.url)
        alert = make_alert(tenant)
        assert alert["current"]["status"] == "ok", alert
        usage(tenant, 10)
        (got,) = receiver.wait_for(1)
        verify(hook["secret"], got.headers, got.body)
        print(got.json())
        assert got.json()["type"] == "alert.triggered"
        print(tenant.reader.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json())
        print(tenant.reader.get(f"/api/v1/alerts/{alert['id']}").json())
