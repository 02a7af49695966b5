"""What :class:`~creditmeter.Client` and :class:`~creditmeter.AsyncClient` share.

Configuration, building each request, reading each answer, mapping transport
failures and summing ``record()`` batches all live here, once. The two clients
differ only in how they send a request and how they sleep between tries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import date, datetime

import httpx

from creditmeter._version import __version__
from creditmeter.client._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    CreditmeterError,
    error_from_response,
)
from creditmeter.client._models import (
    Export,
    RecordResult,
    VoidResult,
    parse_export,
    parse_record_result,
    parse_void_result,
)
from creditmeter.client._rates import RATES_PATH, RateCard, parse_rate_card
from creditmeter.client._retry import RetryPolicy
from creditmeter.dimensions import DIMENSIONS

#: Where the client looks for the server and the key when they are not passed.
URL_ENV = "CREDITMETER_URL"
API_KEY_ENV = "CREDITMETER_API_KEY"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_BATCH_SIZE = 10_000
#: Rows per page of ``export_pages``: the most the contract allows, so the fewest requests.
DEFAULT_PAGE_SIZE = 10_000

EXPORT_PATH = "/api/v1/usage/export"
EVENTS_PATH = "/api/v1/usage/events"
VOID_PATH = "/api/v1/usage/events/void"

Day = date | str
Filter = Iterable[str] | str | None
#: One dimension's name, or several in order (sent comma-joined).
GroupBy = str | Sequence[str] | None
Timeout = float | httpx.Timeout | None


class BaseClient:
    """Settings, requests and answers; no I/O."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        *,
        timeout: Timeout,
        max_retries: int,
        backoff: float,
    ) -> None:
        base_url = base_url or os.environ.get(URL_ENV) or DEFAULT_BASE_URL
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise CreditmeterError(
                f"base_url must be an http:// or https:// URL such as {DEFAULT_BASE_URL}, "
                f"not '{base_url}'."
            )
        api_key = api_key or os.environ.get(API_KEY_ENV)
        if not api_key:
            raise CreditmeterError(
                f"No API key: pass api_key=... or set the {API_KEY_ENV} environment variable."
            )
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self._retry = RetryPolicy(max_retries=max_retries, backoff=backoff)
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": f"creditmeter-python/{__version__}",
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # -- requests -----------------------------------------------------------------

    def _export_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        *,
        start_date: Day | None,
        end_date: Day | None,
        group_by: GroupBy,
        org_id: str | None,
        products: Filter,
        features: Filter,
        api_keys: Filter,
        file_types: Filter,
        time_zone: str | None,
        bucket_width: str | None,
        limit: int | None = None,
        page: str | None = None,
    ) -> httpx.Request:
        """The export's GET, its parameters in the contract's order; values go as given."""
        params: list[tuple[str, str]] = []
        if not isinstance(group_by, str) and group_by is not None:
            group_by = ",".join(group_by)
        for name, value in (
            ("startDate", start_date),
            ("endDate", end_date),
            ("groupBy", group_by),
            ("orgId", org_id),
        ):
            if value is not None:
                params.append((name, value.isoformat() if isinstance(value, date) else value))
        filters = (products, features, api_keys, file_types)
        for dimension, values in zip(DIMENSIONS, filters, strict=True):
            if values is not None:
                given = [values] if isinstance(values, str) else values
                params.extend((dimension.field, value) for value in given)
        for name, text in (
            ("timeZone", time_zone),
            ("bucketWidth", bucket_width),
            ("limit", None if limit is None else str(limit)),
            ("page", page),
        ):
            if text is not None:
                params.append((name, text))
        return http.build_request(
            "GET",
            self.base_url + EXPORT_PATH,
            params=params,
            headers={**self._headers, "Accept": "application/json"},
            timeout=self.timeout,
        )

    def _rates_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        *,
        org_id: str | None,
        at: datetime | str | None,
    ) -> httpx.Request:
        """The rate card's GET; an ``at`` datetime is sent as RFC 3339 (aware ones only
        carry the offset the server demands)."""
        params: list[tuple[str, str]] = []
        if org_id is not None:
            params.append(("orgId", org_id))
        if at is not None:
            params.append(("at", at.isoformat() if isinstance(at, datetime) else at))
        return http.build_request(
            "GET",
            self.base_url + RATES_PATH,
            params=params,
            headers={**self._headers, "Accept": "application/json"},
            timeout=self.timeout,
        )

    def _rate_card(self, response: httpx.Response) -> RateCard:
        try:
            return parse_rate_card(response.content)
        except (ValueError, KeyError, TypeError) as exc:
            raise CreditmeterError(
                f"The answer from {response.request.url} is not a rate card; "
                "is base_url a creditmeter server?"
            ) from exc

    def _record_request(self, http: httpx.Client | httpx.AsyncClient, body: bytes) -> httpx.Request:
        return http.build_request(
            "POST",
            self.base_url + EVENTS_PATH,
            content=body,
            headers={
                **self._headers,
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            timeout=self.timeout,
        )

    def _void_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        org_id: str,
        ids: Iterable[str],
        reason: str,
    ) -> httpx.Request:
        if isinstance(ids, str):
            raise TypeError("ids must be a list of event ids, not one string")
        return http.build_request(
            "POST",
            self.base_url + VOID_PATH,
            json={"orgId": org_id, "ids": list(ids), "reason": reason},
            headers={**self._headers, "Accept": "application/json"},
            timeout=self.timeout,
        )

    # -- answers ------------------------------------------------------------------

    def _failure(self, response: httpx.Response) -> APIError | None:
        """The error an answer stands for; None for a success."""
        return None if response.is_success else error_from_response(response)

    def _unreachable(self, exc: httpx.RequestError) -> APIConnectionError:
        """The error for a request that got no answer."""
        if isinstance(exc, httpx.TimeoutException):
            within = (
                f"within {self.timeout:g} seconds"
                if isinstance(self.timeout, int | float)
                else "in time"
            )
            error: APIConnectionError = APITimeoutError(f"{self.base_url} did not answer {within}.")
        elif broke_off(exc):
            error = APIConnectionError(f"The answer from {self.base_url} broke off: {exc}")
        else:
            error = APIConnectionError(f"Could not connect to {self.base_url}: {exc}")
        error.__cause__ = exc
        return error

    def _export(self, response: httpx.Response) -> Export:
        try:
            return parse_export(response.content)
        except (ValueError, KeyError, TypeError) as exc:
            raise CreditmeterError(
                f"The answer from {response.request.url} is not a usage export; "
                "is base_url a creditmeter server?"
            ) from exc

    @staticmethod
    def _recorded(response: httpx.Response) -> RecordResult:
        return parse_record_result(response.content)

    @staticmethod
    def _voided(response: httpx.Response) -> VoidResult:
        return parse_void_result(response.content)

    @staticmethod
    def _record_failed(error: CreditmeterError, stored: RecordResult, first: int) -> None:
        """Tell ``error`` what was stored before it, and where its problems are in the input."""
        error.stored = stored
        if isinstance(error, APIError):
            for detail in error.details:
                if isinstance(detail.get("index"), int):
                    detail["index"] += first


def broke_off(exc: BaseException | None) -> bool:
    """Whether the server answered but the answer stopped before its end.

    A streamed export that fails after its first byte ends the connection
    without the last chunk (the contract's edge case 19): the client sees this
    error, never a shorter answer, and retries the request like a lost connection.
    """
    return isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError)


NOTHING_RECORDED = RecordResult(accepted=0, duplicates=0, conflicts=[], batches=0)
