"""The HTTP application: routes, error handling and the objects they share."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from creditmeter._version import __version__
from creditmeter.alert_operations import Alerts
from creditmeter.directory import Directory
from creditmeter.ratelimit import RateLimiter
from creditmeter.settings import Settings
from creditmeter.settling import Settler
from creditmeter.store import Store, open_store
from creditmeter.store.rate_limits import SharedRateLimiter
from creditmeter.web import api_docs, errors, openapi
from creditmeter.web.access_log import AccessLog
from creditmeter.web.activity import Activity, TrackActivity
from creditmeter.web.dashboard import STATIC
from creditmeter.web.limits import SMALL_BODY_BYTES, BodyLimit
from creditmeter.web.routes import (
    admin,
    alerts,
    dashboard,
    dashboard_alerts,
    events,
    export,
    health,
    rates,
    voids,
    webhooks,
)
from creditmeter.webhooks.delivery import DeliveryWorker
from creditmeter.webhooks.endpoints import Webhooks

DESCRIPTION = """\
Usage metering and usage export for API platforms that bill in credits.

* **Read usage** with a personal API key (`cmk_…`): `GET /api/v1/usage/export`.
* **Record usage** with a service token with the `usage:write` scope (`cmt_…`).
* **Manage the directory** with a service token with the `admin` scope.
* **See usage in a browser** at `/dashboard` (sign in with a personal API key).
* **Alert on usage** with a personal key of an owner or admin: `/api/v1/alerts` and
  `/api/v1/webhooks` (signed messages, Standard Webhooks).

Every error has one JSON shape: `{"error": {"status", "code", "message", "param"?, "details"?}}`.
"""


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    *,
    delivery_clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The service; opens the store of ``settings.database_url`` unless one is given.

    ``delivery_clock``: the delivery worker's clock, unix seconds (a test moves it on)."""
    settings = settings or Settings()
    own_store = store is None
    activity = Activity()
    store = store or open_store(settings.database_url, settings.store_options())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Everything built so far (the app, its routes, the libraries) lives as
        # long as the process: keep it out of the collector's full passes, which
        # would otherwise walk all of it every few large exports, in the tail
        # latency (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        worker = DeliveryWorker(
            store, settings.delivery_options(), sealer=sealer, clock=delivery_clock
        )
        delivering = asyncio.create_task(worker.run())
        settler = Settler(store, after_s=settings.settle_after_seconds, busy=activity.busy)
        settling = asyncio.create_task(settler.run())
        yield
        settler.stop()
        worker.stop()
        await settling
        await delivering
        if own_store:
            store.close()

    app = FastAPI(
        title="creditmeter",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by web/api_docs from local files, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.directory = Directory(store)
    # One machine serves a SQLite file: its count is the count (decision 0006).
    app.state.rate_limiter = (
        RateLimiter(settings.export_rate_limit)
        if store.dialect == "sqlite"
        else SharedRateLimiter(store, settings.export_rate_limit)
    )
    app.state.alerts = Alerts(store, max_per_org=settings.max_alerts_per_org)
    sealer = settings.sealer(store.url)
    app.state.webhooks = Webhooks(
        store,
        max_per_org=settings.max_webhooks_per_org,
        allow_private=settings.webhook_allow_private,
        sealer=sealer,
    )
    errors.install(app)
    for module in (
        export,
        events,
        voids,
        admin,
        health,
        dashboard,
        alerts,
        webhooks,
        dashboard_alerts,
    ):
        app.include_router(module.router)
    app.include_router(rates.router)
    app.include_router(rates.admin)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
    app.include_router(api_docs.router)
    openapi.install(app)
    app.mount(api_docs.STATIC_PATH, StaticFiles(directory=api_docs.STATIC), name="docs-static")
    app.add_middleware(
        BodyLimit,
        large_paths={
            events.EVENTS_PATH: settings.max_body_bytes,
            voids.VOID_PATH: settings.max_body_bytes,
        },
        default=SMALL_BODY_BYTES,
    )
    app.add_middleware(TrackActivity, activity=activity)
    app.add_middleware(AccessLog)  # outermost: it sees every answer
    return app
