"""The asynchronous client: :class:`AsyncClient`, the same surface as ``Client``, awaited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any

import anyio
import httpx

from creditmeter.client._alerts import (
    ALERTS_PATH,
    WEBHOOKS_PATH,
    Alert,
    AlertRequests,
    WebhookDelivery,
    WebhookEndpoint,
    alert_body,
    filters_of,
    parse_alert,
    parse_alerts,
    parse_deliveries,
    parse_endpoint,
    parse_endpoints,
    parse_message_id,
)
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
from creditmeter.client._exceptions import CreditmeterError, RateLimitError
from creditmeter.client._models import Export, RecordResult, UsageRow, VoidResult
from creditmeter.client._rates import RateCard


class AsyncClient(AlertRequests, BaseClient):
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

    # -- usage alerts and webhook endpoints (docs/alerts.md) --------------------------

    async def list_alerts(self, *, org_id: str | None = None) -> list[Alert]:
        """The organization's alerts (default: the key's), oldest first, each with
        its ``current`` period."""
        request = self._resource_request(self._http, "GET", ALERTS_PATH, org_id=org_id)
        return parse_alerts(await self._send(request))

    async def create_alert(
        self,
        name: str,
        *,
        metric: str,
        threshold: Decimal | int | str,
        period: str,
        time_zone: str | None = None,
        products: Iterable[str] | None = None,
        features: Iterable[str] | None = None,
        api_keys: Iterable[str] | None = None,
        file_types: Iterable[str] | None = None,
        enabled: bool | None = None,
        org_id: str | None = None,
    ) -> Alert:
        """Create an alert (owners and admins): ``metric`` ``"credits"`` or
        ``"requestCount"``, ``period`` ``"day"`` or ``"month"`` of ``time_zone``
        (default UTC), filters as in :meth:`export`. It is evaluated at once.
        Not retried but after a 429: a lost answer may have created it."""
        filters = filters_of(
            products=products, features=features, api_keys=api_keys, file_types=file_types
        )
        body = alert_body(
            dict(name=name, metric=metric, threshold=threshold, period=period,
                 time_zone=time_zone, filters=filters, enabled=enabled)
        )  # fmt: skip
        request = self._resource_request(self._http, "POST", ALERTS_PATH, org_id=org_id, body=body)
        return parse_alert(await self._send(request, idempotent=False))

    async def get_alert(self, alert_id: str) -> Alert:
        """One alert, with its current period."""
        request = self._resource_request(self._http, "GET", f"{ALERTS_PATH}/{alert_id}")
        return parse_alert(await self._send(request))

    async def update_alert(
        self,
        alert_id: str,
        *,
        name: str | None = None,
        metric: str | None = None,
        threshold: Decimal | int | str | None = None,
        period: str | None = None,
        time_zone: str | None = None,
        filters: Mapping[str, Iterable[str]] | None = None,
        enabled: bool | None = None,
    ) -> Alert:
        """Change the fields given (owners and admins); ``filters`` (keyed ``product``,
        ``feature``, ``apiKey``, ``fileType``) replaces the whole object, ``{}`` clears it."""
        body = alert_body(
            dict(name=name, metric=metric, threshold=threshold, period=period,
                 time_zone=time_zone, filters=filters, enabled=enabled)
        )  # fmt: skip
        request = self._resource_request(
            self._http, "PATCH", f"{ALERTS_PATH}/{alert_id}", body=body
        )
        return parse_alert(await self._send(request))

    async def delete_alert(self, alert_id: str) -> None:
        """Delete an alert (owners and admins)."""
        await self._send(self._resource_request(self._http, "DELETE", f"{ALERTS_PATH}/{alert_id}"))

    async def list_webhooks(self, *, org_id: str | None = None) -> list[WebhookEndpoint]:
        """The organization's webhook endpoints, oldest first (without secrets)."""
        request = self._resource_request(self._http, "GET", WEBHOOKS_PATH, org_id=org_id)
        return parse_endpoints(await self._send(request))

    async def create_webhook(
        self, url: str, *, description: str | None = None, org_id: str | None = None
    ) -> WebhookEndpoint:
        """Add an endpoint (owners and admins); its ``secret`` is in this answer only.
        Not retried but after a 429."""
        body = json.dumps(
            {"url": url, **({"description": description} if description is not None else {})}
        ).encode()
        request = self._resource_request(
            self._http, "POST", WEBHOOKS_PATH, org_id=org_id, body=body
        )
        return parse_endpoint(await self._send(request, idempotent=False))

    async def get_webhook(self, webhook_id: str) -> WebhookEndpoint:
        """One webhook endpoint (without its secret)."""
        request = self._resource_request(self._http, "GET", f"{WEBHOOKS_PATH}/{webhook_id}")
        return parse_endpoint(await self._send(request))

    async def delete_webhook(self, webhook_id: str) -> None:
        """Remove an endpoint and drop its pending messages (owners and admins)."""
        await self._send(
            self._resource_request(self._http, "DELETE", f"{WEBHOOKS_PATH}/{webhook_id}")
        )

    async def rotate_webhook_secret(self, webhook_id: str) -> WebhookEndpoint:
        """A new secret (in the answer); the previous one also signs for 24 hours."""
        request = self._resource_request(self._http, "POST", f"{WEBHOOKS_PATH}/{webhook_id}/rotate")
        return parse_endpoint(await self._send(request, idempotent=False))

    async def test_webhook(self, webhook_id: str) -> str:
        """Queue a ``webhook.test`` message to this endpoint; its message id."""
        request = self._resource_request(self._http, "POST", f"{WEBHOOKS_PATH}/{webhook_id}/test")
        return parse_message_id(await self._send(request, idempotent=False))

    async def webhook_deliveries(self, webhook_id: str) -> list[WebhookDelivery]:
        """The endpoint's 100 newest messages, newest first, with their attempts."""
        request = self._resource_request(
            self._http, "GET", f"{WEBHOOKS_PATH}/{webhook_id}/deliveries"
        )
        return parse_deliveries(await self._send(request))

    async def void(self, org_id: str, ids: Iterable[str], reason: str) -> VoidResult:
        """Void recorded events of ``org_id``: see :meth:`creditmeter.Client.void`."""
        request = self._void_request(self._http, org_id, ids, reason)
        return self._voided(await self._send(request))

    async def _send(self, request: httpx.Request, *, idempotent: bool = True) -> httpx.Response:
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
            if not idempotent and not isinstance(error, RateLimitError):
                raise error  # it may have been carried out: trying again could repeat it
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
