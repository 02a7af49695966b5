"""Every error the service can answer with, as domain exceptions.

Each class carries the HTTP status and the stable ``code`` it maps to; the web
layer turns any :class:`ServiceError` into the one JSON error shape, with the
headers the error names (:meth:`ServiceError.headers`), in a single handler, and
the command line prints its ``message``. Nothing here knows about HTTP beyond
those numbers and header names::

    ServiceError
    ├── InvalidParameter        400 invalid_parameter
    │   ├── UnknownParameter    400 unknown_parameter
    │   ├── DuplicateParameter  400 duplicate_parameter
    │   ├── InvalidItems        400 invalid_parameter (details: one per bad element)
    │   └── RangeTooLong        400 range_too_long
    ├── InvalidEvents           400 invalid_events  (details: one per problem)
    ├── Unauthenticated         401 unauthenticated
    ├── Forbidden               403 forbidden
    ├── NotFound                404 not_found
    ├── MethodNotAllowed        405 method_not_allowed (Allow: the methods that are)
    ├── Conflict                409 conflict
    ├── PayloadTooLarge         413 payload_too_large
    ├── UnsupportedMediaType    415 unsupported_media_type
    ├── RateLimited             429 rate_limited   (Retry-After: retry_after seconds)
    └── Unavailable             503 unavailable
        ├── SchemaOutdated      503 unavailable    (the database needs `creditmeter migrate`)
        └── SealingError        503 unavailable    (a webhook secret cannot be sealed or opened)
            ├── SecretKeyMissing                   (no key: set CREDITMETER_SECRET_KEY)
            └── SecretUnreadable                   (no key of the server opens a stored secret)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Problem:
    """One problem with one item of a batch: ``index`` and ``field`` may be None."""

    index: int | None
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


class ServiceError(Exception):
    """Base of every error a caller can be told about."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def headers(self) -> Mapping[str, str]:
        """Headers the answer carries besides the body (``Retry-After``, ``Allow``)."""
        return {}

    def body(self) -> dict[str, Any]:
        """The JSON error body every endpoint answers with."""
        error: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


class InvalidParameter(ServiceError):
    status = 400
    code = "invalid_parameter"


class UnknownParameter(InvalidParameter):
    code = "unknown_parameter"


class DuplicateParameter(InvalidParameter):
    code = "duplicate_parameter"


class RangeTooLong(InvalidParameter):
    code = "range_too_long"


class InvalidItems(InvalidParameter):
    """Elements of the list parameter ``param`` that break its rules, each a problem."""

    #: At most this many problems are listed in one answer.
    MAX_DETAILS: ClassVar[int] = 1000

    def __init__(self, message: str, *, param: str, problems: list[Problem]) -> None:
        super().__init__(message, param=param)
        self.problems = problems[: self.MAX_DETAILS]

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["details"] = [p.as_dict() for p in self.problems]
        return body


class InvalidEvents(ServiceError):
    status = 400
    code = "invalid_events"

    #: At most this many problems are listed in one answer.
    MAX_DETAILS: ClassVar[int] = 1000

    def __init__(self, problems: list[Problem], *, total: int | None = None) -> None:
        total = len(problems) if total is None else total
        shown = problems[: self.MAX_DETAILS]
        noun = "problem" if total == 1 else "problems"
        message = (
            f"The batch was not stored: {total} {noun} found. "
            "Fix every listed problem and send the whole batch again."
        )
        if total > len(shown):
            message += f" The first {len(shown)} are listed."
        super().__init__(message)
        self.problems = shown
        self.total = total

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["details"] = [p.as_dict() for p in self.problems]
        return body


class Unauthenticated(ServiceError):
    status = 401
    code = "unauthenticated"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ServiceError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, *, allowed: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.allowed = tuple(allowed)

    def headers(self) -> Mapping[str, str]:
        return {"Allow": ", ".join(self.allowed)} if self.allowed else {}


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(ServiceError):
    status = 503
    code = "unavailable"


class SchemaOutdated(Unavailable):
    """The database's schema is older than this release: run ``creditmeter migrate``."""


class SealingError(Unavailable):
    """A webhook secret cannot be sealed or opened: the message says what to change
    (creditmeter/webhooks/sealing.py). It never holds a key or a secret."""


class SecretKeyMissing(SealingError):
    """No key to seal with: a server database needs ``CREDITMETER_SECRET_KEY``."""


class SecretUnreadable(SealingError):
    """A sealed secret opens with none of the server's keys (or the key file is missing)."""
