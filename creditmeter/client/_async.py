"""The asynchronous client: :class:`AsyncClient`, the same surface as ``Client``, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

import anyio
import httpx

from creditmeter.client._base import (
    DEFAULT_BACKOFF,
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_TIMEOUT,
    NOTHING_RECORDED,
    BaseClient,
    Day,
    Filter,
    GroupBy,
    Timeout,
)
from creditmeter.client._events import batches
from creditmeter.client._exceptions import CreditmeterError
from creditmeter.client._models import Export, RecordResult, UsageRow, VoidResult
from creditmeter.client._rates import RateCard


class AsyncClient(BaseClient):
    """:class:`~creditmeter.Client` for asyncio (or trio): the same arguments and methods,
    awaited. ``http_client`` takes an :class:`httpx.AsyncClient`; close with ``aclose()``
    or ``async with``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url, api_key, timeout=timeout, max_retries=max_retries, backoff=backoff
        )
        self._own_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()

    async def export(
        self,
        *,
        start_date: Day | None = None,
        end_date: Day | None = None,
        group_by: GroupBy = None,
        org_id: str | None = None,
        products: Filter = None,
        features: Filter = None,
        api_keys: Filter = None,
        file_types: Filter = None,
        time_zone: str | None = None,
        bucket_width: str | None = None,
    ) -> Export:
        """Usage per bucket and group: see :meth:`creditmeter.Client.export`."""
        request = self._export_request(
            self._http,
            start_date=start_date,
            end_date=end_date,
            group_by=group_by,
            org_id=org_id,
            products=products,
            features=features,
            api_keys=api_keys,
            file_types=file_types,
            time_zone=time_zone,
            bucket_width=bucket_width,
        )
        return self._export(await self._send(request))

    async def export_pages(
        self,
        *,
        start_date: Day | None = None,
        end_date: Day | None = None,
        group_by: GroupBy = None,
        org_id: str | None = None,
        products: Filter = None,
        features: Filter = None,
        api_keys: Filter = None,
        file_types: Filter = None,
        time_zone: str | None = None,
        bucket_width: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        page: str | None = None,
    ) -> AsyncIterator[Export]:
        """The export page by page (``async for``): see :meth:`creditmeter.Client.export_pages`."""
        while True:
            request = self._export_request(
                self._http,
                start_date=start_date,
                end_date=end_date,
                group_by=group_by,
                org_id=org_id,
                products=products,
                features=features,
                api_keys=api_keys,
                file_types=file_types,
                time_zone=time_zone,
                bucket_width=bucket_width,
                limit=limit,
                page=page,
            )
            result = self._export(await self._send(request))
            yield result
            if result.next_page is None:
                return
            page = result.next_page

    async def iter_rows(
        self,
        *,
        start_date: Day | None = None,
        end_date: Day | None = None,
        group_by: GroupBy = None,
        org_id: str | None = None,
        products: Filter = None,
        features: Filter = None,
        api_keys: Filter = None,
        file_types: Filter = None,
        time_zone: str | None = None,
        bucket_width: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[UsageRow]:
        """Every row, a page at a time (``async for``): see :meth:`creditmeter.Client.iter_rows`."""
        async for result in self.export_pages(
            start_date=start_date,
            end_date=end_date,
            group_by=group_by,
            org_id=org_id,
            products=products,
            features=features,
            api_keys=api_keys,
            file_types=file_types,
            time_zone=time_zone,
            bucket_width=bucket_width,
            limit=limit,
        ):
            for row in result:
                yield row

    async def rates(
        self, *, org_id: str | None = None, at: datetime | str | None = None
    ) -> RateCard:
        """The rate card in force for ``org_id`` (default: the key's organization) at
        ``at`` (default: now; an aware datetime or RFC 3339 text): the rates that price
        its events, each a :class:`RateRow` with its exact ``credits_per_unit``.
        Reading counts against the key's export rate limit.
        """
        request = self._rates_request(self._http, org_id=org_id, at=at)
        return self._rate_card(await self._send(request))

    async def record(
        self, events: Iterable[Mapping[str, Any]], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> RecordResult:
        """Send usage events in batches: see :meth:`creditmeter.Client.record`."""
        total = NOTHING_RECORDED
        for first, body in batches(events, batch_size):
            try:
                response = await self._send(self._record_request(self._http, body))
            except CreditmeterError as error:
                self._record_failed(error, total, first)
                raise
            total += self._recorded(response)
        return total

    async def void(self, org_id: str, ids: Iterable[str], reason: str) -> VoidResult:
        """Void recorded events of ``org_id``: see :meth:`creditmeter.Client.void`."""
        request = self._void_request(self._http, org_id, ids, reason)
        return self._voided(await self._send(request))

    async def _send(self, request: httpx.Request) -> httpx.Response:
        retries = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.RequestError as exc:
                error: CreditmeterError = self._unreachable(exc)
            else:
                failure = self._failure(response)
                if failure is None:
                    return response
                error = failure
            wait = self._retry.delay(retries, error)
            if wait is None:
                raise error
            await anyio.sleep(wait)
            retries += 1

    async def aclose(self) -> None:
        """Close the connections (not those of an ``http_client`` you passed)."""
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
