"""The ``creditmeter`` command line: thin commands over the library."""

from __future__ import annotations

import typer

from creditmeter.cli import directory, export, ingest, server

app = typer.Typer(
    name="creditmeter",
    help="Usage metering and usage export for API platforms that bill in credits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(server.serve)
app.command()(server.demo)
app.command()(server.migrate)
app.command()(ingest.ingest)
app.command()(export.export)
app.add_typer(directory.org_app, name="org")
app.add_typer(directory.user_app, name="user")
app.add_typer(directory.member_app, name="member")
app.add_typer(directory.key_app, name="key")
app.add_typer(directory.token_app, name="token")


def main() -> None:
    app()
