"""Every error the Python client raises, and the one place HTTP answers become them::

    CreditmeterError                  anything the client raises (also: no API key, bad base_url)
    ├── APIError                      the server answered an error: .status_code .code .message
    │   │                             .param .details .retry_after
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── InvalidRequestError       400, 404, 405, 409, 413, 415, 422 (any other 4xx)
    │   ├── RateLimitError            429 (.retry_after: seconds to wait)
    │   └── ServerError               5xx
    └── APIConnectionError            no answer: refused, reset, DNS
        └── APITimeoutError           no answer in time

``str(error)`` of an :class:`APIError` is the server's ``message``, unchanged.
An error raised by ``record()`` also carries ``.stored``: what the batches sent
before it stored, a :class:`~creditmeter.RecordResult`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from creditmeter.client._models import RecordResult


class CreditmeterError(Exception):
    """Base of every error the client raises."""

    #: Set on errors raised by ``record()``: what the batches before the failing one stored.
    stored: RecordResult | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIError(CreditmeterError):
    """The server answered with an error; ``str()`` is its message, unchanged."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        param: str | None = None,
        details: list[dict[str, Any]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        #: The stable machine-readable word: ``unauthenticated``, ``invalid_parameter``, …
        self.code = code
        #: The offending parameter, when one is at fault.
        self.param = param
        #: Per-item problems (``index``, ``field``, ``message``) of a rejected batch.
        self.details = details or []
        #: Seconds the server asked to wait (``Retry-After``), when it said.
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles its positional args only; status_code is keyword-only.
        return partial(type(self), status_code=self.status_code), (self.message,), self.__dict__


class AuthenticationError(APIError):
    """401: no key, an unknown, revoked or expired key."""


class PermissionDeniedError(APIError):
    """403: the key may not do this (another organization, the wrong kind of credential)."""


class InvalidRequestError(APIError):
    """400 and the other 4xx: the request must change before it can succeed."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` says how many seconds to wait."""


class ServerError(APIError):
    """5xx: the server failed; retrying later may succeed."""


class APIConnectionError(CreditmeterError):
    """The server could not be reached, or the connection broke before an answer."""


class APITimeoutError(APIConnectionError):
    """The server did not answer within the timeout."""


def error_from_response(response: httpx.Response) -> APIError:
    """The exception for an error answer, from its JSON body and status."""
    status = response.status_code
    error: dict[str, Any] = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
    message = error.get("message")
    if not isinstance(message, str):
        message = f"The server answered {status} {response.reason_phrase}.".replace(" .", ".")
    return _class_for(status)(
        message,
        status_code=status,
        code=error.get("code"),
        param=error.get("param"),
        details=error.get("details") if isinstance(error.get("details"), list) else None,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def _class_for(status: int) -> type[APIError]:
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return InvalidRequestError


def parse_retry_after(value: str | None) -> int | None:
    """``Retry-After`` as whole seconds from now: delay-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, math.ceil((moment - datetime.now(UTC)).total_seconds()))
