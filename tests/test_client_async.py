"""``AsyncClient`` against a real server: the same surface and answers as ``Client``.

Runs on anyio's pytest plugin (asyncio). The shared request, answer and error
code is pinned by ``test_client.py``; these tests check that the async I/O
path uses it: results, every error class, retries after ``Retry-After``,
batches, closing, and an in-process app through ``http_client``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from creditmeter import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    Client,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    RecordResult,
    ServerError,
)
from tests.conftest import Service, Tenant
from tests.ports import free_port
from tests.test_client import (
    BY_PRODUCT,
    FAST,
    NEW_PARAMETERS,
    PAGED,
    RANGE,
    api_params,
    raw_export,
    server_message,
    table_away,
    tenant_with_data,
    writer_events,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def shared(service: Service) -> Tenant:
    return tenant_with_data(service)


class AsyncTraffic:
    """An ``httpx.AsyncClient`` that notes each request sent and each answer received."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.statuses: list[int] = []

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        async def on_request(request: httpx.Request) -> None:
            self.sent.append(time.monotonic())

        async def on_response(response: httpx.Response) -> None:
            self.statuses.append(response.status_code)

        return httpx.AsyncClient(
            event_hooks={"request": [on_request], "response": [on_response]}, **kwargs
        )


@pytest.fixture
async def reader(shared: Tenant) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(shared.service.url, shared.key, backoff=FAST) as client:
        yield client


async def test_async_export_returns_typed_rows_with_exact_credits(
    reader: AsyncClient, shared: Tenant
) -> None:
    result = await reader.export(start_date=date(2026, 5, 19), end_date="2026-05-21")
    assert result.org_id == shared.org_id
    assert result.data == BY_PRODUCT
    assert len(result) == 5 and list(result) == BY_PRODUCT


async def test_async_export_equals_the_sync_clients(reader: AsyncClient, shared: Tenant) -> None:
    with Client(shared.service.url, shared.key) as sync:
        expected = sync.export(**RANGE, group_by="file_type", products=["parse", "extract"])
    got = await reader.export(**RANGE, group_by="file_type", products=["parse", "extract"])
    assert got == expected


@pytest.mark.parametrize("group_by", ["product", "feature", "api_key", "file_type"])
async def test_async_to_csv_is_byte_identical_to_the_servers_csv(
    reader: AsyncClient, shared: Tenant, group_by: str
) -> None:
    served = raw_export(
        shared, startDate="2026-05-19", endDate="2026-05-22", groupBy=group_by, format="csv"
    )
    result = await reader.export(**RANGE, group_by=group_by)
    assert result.to_csv().encode("utf-8") == served.content


# -- time zones, bucket widths, several dimensions, pages ------------------------------


@pytest.mark.parametrize("asked", NEW_PARAMETERS, ids=str)
async def test_async_export_with_the_new_parameters_equals_the_sync_clients(
    reader: AsyncClient, shared: Tenant, asked: dict[str, Any]
) -> None:
    with Client(shared.service.url, shared.key) as sync:
        expected = sync.export(start_date="2026-05-18", end_date="2026-05-22", **asked)
    got = await reader.export(start_date="2026-05-18", end_date="2026-05-22", **asked)
    assert got == expected and len(got) > 0
    params = api_params(startDate="2026-05-18", endDate="2026-05-22", **asked)
    assert got.to_csv().encode("utf-8") == raw_export(shared, **params, format="csv").content


async def test_async_export_pages_concatenate_to_the_whole_export(
    reader: AsyncClient, shared: Tenant
) -> None:
    whole = await reader.export(**PAGED)
    pages = [page async for page in reader.export_pages(**PAGED, limit=4)]
    assert [len(page) for page in pages] == [4, 4, 1]
    assert [row for page in pages for row in page] == whole.data
    assert [page.next_page is None for page in pages] == [False, False, True]
    with Client(shared.service.url, shared.key) as sync:
        assert pages == list(sync.export_pages(**PAGED, limit=4))


async def test_async_iter_rows_sends_one_request_per_page(shared: Tenant) -> None:
    traffic = AsyncTraffic()
    async with AsyncClient(shared.service.url, shared.key, http_client=traffic.client()) as client:
        whole = await client.export(**PAGED)
        rows = [row async for row in client.iter_rows(**PAGED, limit=3)]
    assert rows == whole.data
    assert len(traffic.sent) == 1 + 3  # 9 rows: pages of 3, 3 and 3, the last without a cursor


async def test_async_bad_new_parameters_raise_the_servers_error(
    reader: AsyncClient, shared: Tenant
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await reader.export(time_zone="Kolkata", group_by=["product", "feature"])
    assert caught.value.param == "timeZone"
    served = raw_export(shared, timeZone="Kolkata", groupBy="product,feature")
    assert str(caught.value) == server_message(served)
    assert "Did you mean 'Asia/Kolkata'?" in str(caught.value)
    with pytest.raises(InvalidRequestError) as paged:
        await anext(aiter(reader.export_pages(limit=0)))
    assert paged.value.param == "limit"


async def test_async_errors_carry_the_status_and_the_servers_message(
    reader: AsyncClient, shared: Tenant
) -> None:
    with pytest.raises(InvalidRequestError) as bad:
        await reader.export(group_by="prodcut")
    assert bad.value.status_code == 400
    assert str(bad.value) == server_message(raw_export(shared, groupBy="prodcut"))
    with pytest.raises(PermissionDeniedError) as forbidden:
        await reader.export(org_id="org_somebody_else")
    assert forbidden.value.status_code == 403
    async with AsyncClient(shared.service.url, "cmk_not_a_real_key") as stranger:
        with pytest.raises(AuthenticationError) as unknown:
            await stranger.export()
    assert unknown.value.status_code == 401


async def test_async_rate_limited_key_raises_rate_limit_error(make_service: Any) -> None:
    tenant = make_service(export_rate_limit=1).tenant()
    async with AsyncClient(tenant.service.url, tenant.key, max_retries=0) as client:
        await client.export()
        with pytest.raises(RateLimitError) as caught:
            await client.export()
    assert caught.value.status_code == 429
    assert caught.value.retry_after is not None and 59 <= caught.value.retry_after <= 60


async def test_async_export_is_retried_after_the_retry_after_the_server_sent(
    make_service: Any,
) -> None:
    service = make_service(export_rate_limit=60)
    tenant = service.tenant()
    for _ in range(200):
        if raw_export(tenant).status_code == 429:
            break
    traffic = AsyncTraffic()
    async with AsyncClient(
        service.url, tenant.key, backoff=FAST, http_client=traffic.client()
    ) as client:
        result = await client.export()
    assert result.org_id == tenant.org_id
    assert traffic.statuses == [429, 200]
    assert traffic.sent[1] - traffic.sent[0] >= 0.95


async def test_async_server_error_is_retried_a_bounded_number_of_times(
    make_service: Any,
) -> None:
    service = make_service()
    tenant = service.tenant()
    traffic = AsyncTraffic()
    with table_away(service.store, "usage_product_quarter_rollups"):
        async with AsyncClient(
            service.url, tenant.key, max_retries=1, backoff=FAST, http_client=traffic.client()
        ) as client:
            with pytest.raises(ServerError) as caught:
                await client.export()
    assert caught.value.status_code >= 500
    assert len(traffic.sent) == 2


async def test_async_refused_connection_raises_api_connection_error() -> None:
    traffic = AsyncTraffic()
    async with AsyncClient(
        f"http://127.0.0.1:{free_port()}",
        "cmk_x",
        max_retries=2,
        backoff=FAST,
        http_client=traffic.client(),
    ) as client:
        with pytest.raises(APIConnectionError):
            await client.export()
    assert len(traffic.sent) == 3


async def test_async_server_that_never_answers_raises_api_timeout_error() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        async with AsyncClient(url, "cmk_x", timeout=0.2, max_retries=0) as client:
            with pytest.raises(APITimeoutError):
                await client.export()


async def test_async_record_sends_batches_and_says_what_was_stored_on_failure(
    tenant: Tenant,
) -> None:
    async with AsyncClient(tenant.service.url, tenant.writer_secret, backoff=FAST) as client:
        assert await client.record(writer_events(tenant.org_id, 5), batch_size=2) == RecordResult(
            5, 0, [], batches=3
        )
        events = writer_events(tenant.org_id, 9, prefix="x")
        events[7]["timestamp"] = "2026-05-19 12:00:00"
        with pytest.raises(InvalidRequestError) as caught:
            await client.record(events, batch_size=4)
    assert caught.value.stored == RecordResult(4, 0, [], batches=1)
    assert [(d["index"], d["field"]) for d in caught.value.details] == [(7, "timestamp")]


async def test_async_client_closes_its_connections_and_leaves_yours_open(
    shared: Tenant,
) -> None:
    async with AsyncClient(shared.service.url, shared.key) as own:
        await own.export(**RANGE)
    assert own._http.is_closed
    yours = httpx.AsyncClient()
    async with AsyncClient(shared.service.url, shared.key, http_client=yours) as borrowed:
        await borrowed.export(**RANGE)
    assert not yours.is_closed
    await yours.aclose()


async def test_async_client_works_over_an_in_process_app(service: Service, shared: Tenant) -> None:
    from creditmeter.web.app import create_app

    app = create_app(service.settings, store=service.store)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport) as in_process,
        AsyncClient("http://in-process", shared.key, http_client=in_process) as client,
    ):
        result = await client.export(start_date="2026-05-19", end_date="2026-05-21")
    assert result.data == BY_PRODUCT
