"""Request body limits: no request can make the server hold unbounded data in memory.

The ingest endpoint admits ``max_body_bytes`` (a full batch); every other
endpoint a small JSON body. The limit is enforced while the body is read,
whatever the ``Content-Length`` says, and answers 413 ``payload_too_large``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditmeter.errors import PayloadTooLarge

#: Bodies of every endpoint but ingest (admin JSON, sign-in forms) stay under this.
SMALL_BODY_BYTES = 1024 * 1024


class BodyLimit:
    """ASGI middleware: raise PayloadTooLarge from ``receive`` once a body passes its limit."""

    def __init__(self, app: ASGIApp, *, large_paths: dict[str, int], default: int) -> None:
        self.app = app
        self.large_paths = large_paths
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.large_paths.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        received = 0

        def too_large() -> PayloadTooLarge:
            return PayloadTooLarge(
                f"The request body is larger than the limit of {limit:,} bytes "
                f"({limit} bytes); send less in one request."
            )

        async def limited_receive() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > limit:
                raise too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large()
            return message

        await self.app(scope, limited_receive, send)
