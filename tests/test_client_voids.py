"""``Client.void`` and ``AsyncClient.void`` against a real server on each store."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from creditmeter import (
    AsyncClient,
    Client,
    InvalidRequestError,
    PermissionDeniedError,
    VoidResult,
)
from tests.conftest import Service, Tenant
from tests.test_client import FAST, Traffic, table_away


def _recorded(tenant: Tenant, count: int) -> list[str]:
    ids = [f"req_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    tenant.record(
        [
            {"id": i, "timestamp": "2026-05-19T12:00:00Z", "product": "parse", "credits": 1}
            for i in ids
        ]
    )
    return ids


def _total(tenant: Tenant) -> int:
    rows = tenant.export(startDate="2026-05-19", endDate="2026-05-19").json()["data"]
    return sum(row["requestCount"] for row in rows)


def test_void_returns_a_void_result(tenant: Tenant) -> None:
    a, b = _recorded(tenant, 2)
    with Client(tenant.service.url, tenant.writer_secret, backoff=FAST) as client:
        first = client.void(tenant.org_id, [a, "nope", a], "Refund: ticket 1")
        again = client.void(tenant.org_id, (i for i in [b, a]), "Refund: ticket 1")
    assert first == VoidResult(voided=1, already_voided=[], not_found=["nope"])
    assert again == VoidResult(voided=1, already_voided=[a], not_found=[])
    assert _total(tenant) == 0


def test_a_refused_void_raises_with_the_servers_details(tenant: Tenant) -> None:
    traffic = Traffic()
    with Client(
        tenant.service.url, tenant.writer_secret, backoff=FAST, http_client=traffic.client()
    ) as client:
        with pytest.raises(InvalidRequestError) as caught:
            client.void(tenant.org_id, ["ok", ""], "r")
        assert caught.value.param == "ids"
        assert [detail["index"] for detail in caught.value.details] == [1]
        with pytest.raises(TypeError):
            client.void(tenant.org_id, "one-string", "r")  # type: ignore[arg-type]
    assert traffic.count == 1  # a client error is not retried
    with (
        Client(tenant.service.url, tenant.key) as reader,
        pytest.raises(PermissionDeniedError),
    ):
        reader.void(tenant.org_id, ["a"], "r")


def test_a_void_is_retried_until_the_server_recovers(make_service: Any) -> None:
    service: Service = make_service()
    tenant = service.tenant()
    ids = _recorded(tenant, 3)
    traffic = Traffic()
    with table_away(service.store, "usage_voids") as restore:
        traffic.on_answer.append(lambda response: response.status_code >= 500 and restore())
        with Client(
            service.url, tenant.writer_secret, backoff=FAST, http_client=traffic.client()
        ) as client:
            result = client.void(tenant.org_id, ids, "r")
    assert traffic.statuses[0] >= 500 and traffic.statuses[1:] == [200]
    assert result.voided == 3
    assert _total(tenant) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_void_equals_the_sync_clients(tenant: Tenant, anyio_backend: str) -> None:
    a, b = _recorded(tenant, 2)
    async with AsyncClient(tenant.service.url, tenant.writer_secret, backoff=FAST) as client:
        result = await client.void(tenant.org_id, [b, "nope", a, b], "Refund")
        again = await client.void(tenant.org_id, [a], "Refund")
    assert result == VoidResult(voided=2, already_voided=[], not_found=["nope"])
    assert again == VoidResult(voided=0, already_voided=[a], not_found=[])
