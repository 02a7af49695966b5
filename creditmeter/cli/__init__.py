"""The ``creditmeter`` command line: thin commands over the library."""

from __future__ import annotations

from typing import Annotated

import typer

from creditmeter._version import __version__
from creditmeter.cli import alerts, directory, export, ingest, rates, server, settle, voids
from creditmeter.cli.common import CommandLine

app = typer.Typer(
    name="creditmeter",
    cls=CommandLine,
    help="Usage metering and usage export for API platforms that bill in credits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help, as Click writes it: an option's value is named by its metavar
    # (DATE, [table|json|csv]), never cut mid-word, and pastes into docs as text.
    rich_markup_mode=None,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"creditmeter {__version__}")
        raise typer.Exit()


@app.callback()
def creditmeter(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Usage metering and usage export for API platforms that bill in credits."""


app.command()(server.serve)
app.command()(server.demo)
app.command()(server.migrate)
app.command("secret-key")(server.secret_key)
app.command()(ingest.ingest)
app.command()(export.export)
app.command("void")(voids.void_command)
app.command()(settle.settle)
app.add_typer(directory.org_app, name="org")
app.add_typer(directory.user_app, name="user")
app.add_typer(directory.member_app, name="member")
app.add_typer(directory.key_app, name="key")
app.add_typer(directory.token_app, name="token")
app.add_typer(alerts.alert_app, name="alert")
app.add_typer(alerts.webhook_app, name="webhook")
app.add_typer(rates.rates_app, name="rates")
app.add_typer(voids.voids_app, name="voids")


def main() -> None:
    app()
