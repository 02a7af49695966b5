"""The one place errors become HTTP answers, all in the contract's JSON shape."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from creditmeter.errors import (
    InvalidParameter,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceError,
)
from creditmeter.web.auth import caller_first

log = logging.getLogger("creditmeter.web")


def error_response(error: ServiceError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=dict(error.headers()))


async def _judged_first(request: Request) -> ServiceError | None:
    # A body is read (and refused) before the route checks its caller; who may
    # call still comes first. The check reads the store: off the event loop.
    return await run_in_threadpool(caller_first, request)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if isinstance(exc, PayloadTooLarge) and (earlier := await _judged_first(request)) is not None:
        return error_response(earlier)
    if exc.status >= 500:
        log.warning("answered %s %s: %s", exc.status, exc.code, exc.message)
    return error_response(exc)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (Starlette names one route's only)."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.routes
        )
    ]


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, ServiceError):
        # FastAPI wraps what reading the body raised (a body over its limit).
        return await _service_error(request, exc.__cause__)
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        return error_response(
            MethodNotAllowed(
                f"{request.method} is not allowed on {request.url.path}; "
                f"use {', '.join(allowed) or 'another method'}.",
                allowed=allowed,
            )
        )
    if exc.status_code == 404:
        return error_response(NotFound(f"There is nothing at {request.url.path}."))
    generic = ServiceError(str(exc.detail))
    generic.status = exc.status_code  # type: ignore[misc]
    return error_response(generic)


def _location(loc: tuple[Any, ...]) -> str | None:
    parts = [str(part) for part in loc if part not in ("body", "query", "path")]
    return ".".join(parts) or None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if (earlier := await _judged_first(request)) is not None:
        return error_response(earlier)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = _location(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        message = "The body is not valid JSON."
        param = None
    elif first.get("type") == "extra_forbidden":
        message = f"Unknown field '{param}'; remove it."
    elif first.get("type") == "missing" and param is None:
        message = "The request needs a JSON body."
    elif first.get("type") == "missing":
        message = f"'{param}' is required."
    else:
        message = (
            f"'{param}': {first.get('msg', 'invalid value')}." if param else str(first.get("msg"))
        )
    return error_response(InvalidParameter(message, param=param))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(ServiceError("The server met an unexpected error; try again later."))


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the contract's JSON shape."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
