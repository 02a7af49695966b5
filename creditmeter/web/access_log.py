"""Structured access logs: one JSON line per request, with a request id.

The request id is the caller's ``X-Request-ID`` when it is a short token,
else a fresh one; it is echoed in the response's ``X-Request-ID`` so a user
reporting a problem can quote it. The line holds the path without the query
string and never a header: credentials travel in headers, so they can never
reach the log.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("creditmeter.access")
_GOOD_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class AccessLog:
    """ASGI middleware writing one JSON line to the ``creditmeter.access`` logger."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"")
        request_id = given.decode() if _GOOD_ID.fullmatch(given) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 500
        size = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            log.info(
                json.dumps(
                    {
                        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "bytes": size,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client": client[0] if client else None,
                    },
                    separators=(",", ":"),
                )
            )


def logging_config(level: str) -> dict[str, object]:
    """``logging.config.dictConfig`` for `creditmeter serve`: JSON access lines on stdout,
    everything else (uvicorn's and ours) as plain lines on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "bare": {"format": "%(message)s"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "bare",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "creditmeter": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "creditmeter.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
