"""``creditmeter serve``, ``demo`` and ``migrate``: running the service and its database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from creditmeter.cli.common import (
    DatabaseUrl,
    fail,
    opened_store,
    reports_errors,
    settings_for,
)
from creditmeter.demo import DemoInfo, build_demo
from creditmeter.settings import Settings
from creditmeter.store import Store

DEMO_DATABASE_URL = "sqlite:///creditmeter-demo.db"

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.")]


def _serve(settings: Settings, host: str, port: int) -> None:
    # Imported here: the web stack is heavy, and only these commands need it.
    import uvicorn

    from creditmeter.web.access_log import logging_config
    from creditmeter.web.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level),
        access_log=False,  # ours is structured and carries a request id
        # SIGTERM: stop accepting, let in-flight requests (an ingest batch) finish.
        timeout_graceful_shutdown=60,
    )


@reports_errors
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the HTTP service."""
    settings = settings_for(database_url)
    # Open once here so that a schema problem is reported before the server starts.
    with opened_store(settings.database_url):
        pass
    _serve(settings, host, port)


@reports_errors
def migrate(database_url: DatabaseUrl = None) -> None:
    """Bring the database schema up to date."""
    settings = settings_for(database_url)
    store = Store(settings.database_url, settings.store_options())
    try:
        before, after = store.migrate()
    finally:
        store.close()
    if before == after:
        typer.echo(f"The schema is up to date (revision {after}).")
    else:
        typer.echo(f"Migrated the schema from revision {before or '(empty)'} to {after}.")


def demo_banner(info: DemoInfo, path: Path, base: str) -> str:
    """What ``creditmeter demo`` prints once the demo in ``path`` is built, served at ``base``."""
    return f"""
creditmeter demo: {info.events:,} usage events from {info.first_day} to {info.last_day}
in {path}, for three organizations.

Signed in as {info.email} (member of org_acme and org_globex).
Personal API key (reads usage):   {info.personal_key}
Service token (records usage):    {info.ingest_token}

Open the usage dashboard and sign in with the personal API key:

  {base}/

Try the Usage Export API:

  curl -H "Authorization: Bearer {info.personal_key}" \\
    "{base}/api/v1/usage/export"

  curl -H "Authorization: Bearer {info.personal_key}" \\
    "{base}/api/v1/usage/export?groupBy=file_type&orgId=org_globex&format=csv"

Or last month's usage by file type, as a CSV file, with the command line:

  creditmeter export --url {base} --api-key {info.personal_key} \\
    --period last-month --group-by file_type --format csv --output usage.csv

API reference: {base}/docs
"""


@reports_errors
def demo(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    database_url: Annotated[
        str,
        typer.Option("--database-url", help="Where to build the demo (a SQLite file, recreated)."),
    ] = DEMO_DATABASE_URL,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the demo once it is built.")
    ] = True,
) -> None:
    """Build a fresh demo database with 90 days of usage, print a key, and serve the dashboard."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        fail("The demo builds a fresh SQLite file: pass --database-url sqlite:///FILE.db.")
    path = Path(url.database)
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    with opened_store(database_url) as store:
        info = build_demo(store)
    typer.echo(demo_banner(info, path, f"http://{host}:{port}"))
    if serve_after:
        _serve(settings_for(database_url), host, port)
