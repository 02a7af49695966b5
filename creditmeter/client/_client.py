"""The synchronous client: :class:`Client`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from creditmeter.client._base import (
    DEFAULT_BACKOFF,
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    NOTHING_RECORDED,
    BaseClient,
    Day,
    Filter,
    Timeout,
)
from creditmeter.client._events import batches
from creditmeter.client._exceptions import CreditmeterError
from creditmeter.client._models import Export, RecordResult


class Client(BaseClient):
    """Reads usage from a creditmeter server, and records it.

    ``base_url`` defaults to ``$CREDITMETER_URL``, else ``http://127.0.0.1:8000``;
    ``api_key`` to ``$CREDITMETER_API_KEY``: a personal key (``cmk_…``) to read
    usage, a service token (``cmt_…``) with ``usage:write`` to record it.
    ``timeout`` (seconds) applies to every request; failed requests are retried
    up to ``max_retries`` times, the first after ``backoff`` seconds (see
    ``docs/client.md``). ``http_client`` brings your own :class:`httpx.Client`
    (transport, proxies, an in-process app); it is left open on close.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url, api_key, timeout=timeout, max_retries=max_retries, backoff=backoff
        )
        self._own_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()

    def export(
        self,
        *,
        start_date: Day | None = None,
        end_date: Day | None = None,
        group_by: str | None = None,
        org_id: str | None = None,
        products: Filter = None,
        features: Filter = None,
        api_keys: Filter = None,
        file_types: Filter = None,
    ) -> Export:
        """Usage per day and group. Left out, a parameter takes the server's default:
        the 30 days before ``end_date``, ``end_date`` today (UTC), ``group_by``
        ``"product"``, ``org_id`` the key's organization. Dates are
        :class:`datetime.date` or ``"yyyy-mm-dd"``; each filter is a string or a
        list of them (OR within a filter, AND between filters).
        """
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
        )
        return self._export(self._send(request))

    def record(
        self, events: Iterable[Mapping[str, Any]], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> RecordResult:
        """Send usage events in batches of ``batch_size``; the sums of the answers.

        Needs a service token with the ``usage:write`` scope. Sending an event
        again never counts twice (events are idempotent on their ``orgId`` and
        ``id``), so batches are retried, and after an error (whose ``.stored``
        says what the earlier batches stored) sending the same events again
        completes the job.
        """
        total = NOTHING_RECORDED
        for first, body in batches(events, batch_size):
            try:
                response = self._send(self._record_request(self._http, body))
            except CreditmeterError as error:
                self._record_failed(error, total, first)
                raise
            total += self._recorded(response)
        return total

    def _send(self, request: httpx.Request) -> httpx.Response:
        retries = 0
        while True:
            try:
                response = self._http.send(request)
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
            time.sleep(wait)
            retries += 1

    def close(self) -> None:
        """Close the connections (not those of an ``http_client`` you passed)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
