"""``creditmeter serve``, ``demo``, ``migrate`` and ``secret-key``: running the service and
its database (``secret-key --reseal``: its webhook secrets under a new key)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from creditmeter.cli.common import (
    DatabaseUrl,
    JsonOutput,
    fail,
    opened_store,
    print_json,
    reports_errors,
    settings_for,
    warn,
)
from creditmeter.demo import DEMO_DATABASE_URL, DemoInfo, build_demo
from creditmeter.settings import Settings
from creditmeter.store import Store
from creditmeter.webhooks.resealing import Resealed, reseal_secrets
from creditmeter.webhooks.sealing import Sealer, new_key

Host = Annotated[str, typer.Option(metavar="HOST", help="Interface to listen on.")]
Port = Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")]


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


def _port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host``:``port``, as the server would bind it."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # the server's own bind will say what is wrong with the host
    family, kind, protocol, _, address = addresses[0]
    with socket.socket(family, kind, protocol) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False


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


@reports_errors
def secret_key(
    reseal: Annotated[
        bool,
        typer.Option(
            "--reseal",
            help="Instead, encrypt every stored webhook secret again with the first key of "
            "CREDITMETER_SECRET_KEY, so that the others can be removed.",
        ),
    ] = False,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Print a new key for CREDITMETER_SECRET_KEY, which encrypts webhook secrets.

    Set the same key on every server of one database, and keep it apart from the
    database's backups: without it the stored secrets cannot sign. To change the
    key, set CREDITMETER_SECRET_KEY to the new key and the old one, comma-separated,
    new first, on every server; run `creditmeter secret-key --reseal`; then remove
    the old key.
    """
    if not reseal:
        if database_url is not None:
            raise typer.BadParameter("it goes with --reseal", param_hint="--database-url")
        if json_output:
            print_json({"key": new_key()})
        else:
            typer.echo(new_key())
        return
    settings = settings_for(database_url)
    with opened_store(settings.database_url) as store:
        sealer = settings.sealer(store.url)
        done = reseal_secrets(store, sealer, now_us=time.time_ns() // 1000)
    if json_output:
        print_json(
            {
                "resealed": done.secrets,
                "previousResealed": done.previous,
                "previousRemoved": done.expired,
                "unreadable": done.unreadable,
                "previousUnreadable": done.previous_unreadable,
            }
        )
    elif done.secrets or not done.unreadable:
        typer.echo(_resealed_text(done, sealer))
    if done.previous_unreadable:
        warn(
            f"The secret that a rotation replaced, which signs for 24 hours, opens with no "
            f"key for {_endpoints(done.previous_unreadable)}: it does not sign, and was left "
            "as it was."
        )
    if done.unreadable:
        fail(
            f"The secret of {_endpoints(done.unreadable)} does not decrypt with "
            f"{sealer.source}, and was left as it was: add the key that encrypted it to "
            "CREDITMETER_SECRET_KEY and run this again, or rotate the endpoint's secret. Keep "
            "the old keys until then."
        )


def _endpoints(ids: list[str]) -> str:
    shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    return f"webhook endpoint {shown}" if len(ids) == 1 else f"webhook endpoints {shown}"


def _resealed_text(done: Resealed, sealer: Sealer) -> str:
    if not (done.secrets or done.unreadable):
        return "There are no webhook endpoints: no secret to encrypt again."
    noun = "endpoint" if done.secrets == 1 else "endpoints"
    newest = "the first key of CREDITMETER_SECRET_KEY" if sealer.key_count > 1 else sealer.source
    text = f"Encrypted the secrets of {done.secrets} webhook {noun} again with {newest}"
    if done.previous:
        text += f", and {done.previous} replaced secret{'s' if done.previous > 1 else ''} "
        text += "still signing"
    text += "."
    if done.expired:
        text += (
            f" Removed {done.expired} replaced secrets past their 24 hours."
            if done.expired > 1
            else " Removed 1 replaced secret past its 24 hours."
        )
    if not done.unreadable and sealer.key_count > 1:
        text += (
            " No stored secret needs the other keys now: remove them from "
            "CREDITMETER_SECRET_KEY on every server."
        )
    return text


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
        typer.Option(
            "--database-url",
            metavar="URL",
            help="Where to build the demo (a SQLite file, recreated).",
        ),
    ] = DEMO_DATABASE_URL,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the demo once it is built.")
    ] = True,
) -> None:
    """Build a demo database with 90 days of usage, print a key, serve it.

    The database is created afresh; the printed key reads its usage in the
    dashboard, with curl and with `creditmeter export`.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        fail("The demo builds a fresh SQLite file: pass --database-url sqlite:///FILE.db.")
    # Before the database is rebuilt: a demo already serving keeps its data and its keys.
    if serve_after and _port_in_use(host, port):
        fail(
            f"Port {port} on {host} is in use (is a creditmeter demo already running?); "
            f"stop it or pass --port {port + 1}."
        )
    path = Path(url.database)
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    with opened_store(database_url) as store:
        info = build_demo(store)
    typer.echo(demo_banner(info, path, f"http://{host}:{port}"))
    if serve_after:
        _serve(settings_for(database_url), host, port)
