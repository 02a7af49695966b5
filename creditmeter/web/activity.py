"""How busy the server is, for the work it does in the background.

The settling pass (:mod:`creditmeter.settling`) runs in the server's own process;
while requests are being answered it takes a small share of the time, so that it
never stands in their way, and it goes at full speed when the server is quiet.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

#: A server is busy while it answers a request, and this long after the last one.
QUIET_S = 0.5


class Activity:
    """Requests in flight and when the last one ended (read from other threads)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.last_end = 0.0

    def busy(self) -> bool:
        return self.in_flight > 0 or time.monotonic() - self.last_end < QUIET_S


class TrackActivity:
    """ASGI middleware keeping an :class:`Activity` up to date."""

    def __init__(self, app: ASGIApp, activity: Activity) -> None:
        self.app = app
        self.activity = activity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        activity = self.activity
        activity.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            activity.in_flight -= 1
            activity.last_end = time.monotonic()
