"""``creditmeter rates set | list | import``: the rate card from the command line.

Thin commands over :mod:`creditmeter.rates`: the same checks and messages as the
admin API, measured against this machine's clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from creditmeter import rate_import, rates
from creditmeter.card_rendering import card_rows_json, version_json
from creditmeter.cli.common import (
    DatabaseUrl,
    JsonOutput,
    err_console,
    opened_store,
    print_json,
    reports_errors,
)
from creditmeter.credits import format_micro
from creditmeter.errors import NotFound
from creditmeter.ingest import now_us
from creditmeter.pricing import RateVersion, instant_text
from creditmeter.store import directory as directory_sql

rates_app = typer.Typer(
    help="The rate card: credits per unit, by product and feature, globally or per organization.",
    no_args_is_help=True,
)


def _line(version: RateVersion) -> str:
    """A version as ``rates set`` prints it, id first."""
    return "\t".join(
        [
            version.id,
            version.org_id or "global",
            version.product,
            version.feature or "(any feature)",
            f"{format_micro(version.credits_per_unit_micro)} credits per {version.unit}",
            f"from {instant_text(version.effective_from_us)}",
        ]
    )


@rates_app.command("set")
@reports_errors
def rates_set(
    product: Annotated[str, typer.Argument(metavar="PRODUCT", help="The product priced.")],
    credits_per_unit: Annotated[
        str,
        typer.Option(
            "--credits-per-unit",
            metavar="X",
            help="Credits per unit: decimal text, at most 6 decimal places (0.25).",
        ),
    ],
    unit: Annotated[
        str, typer.Option("--unit", metavar="UNIT", help="What is counted (page); one a product.")
    ],
    feature: Annotated[
        str | None,
        typer.Option("--feature", metavar="F", help="Only this feature [default: any feature]"),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option("--org", metavar="ORG", help="Override for this org [default: global]"),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="INSTANT",
            help="RFC 3339 instant from which it is in force [default: now]",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Record a rate version (never edited or deleted; a later one supersedes it)."""
    now = now_us()
    draft = rates.draft(
        org_id=org,
        product=product,
        feature=feature,
        unit=unit,
        credits_per_unit=rates.decimal_of_text(credits_per_unit),
        effective_from=start,
        now_us=now,
    )
    with opened_store(database_url) as store:
        (version,) = rates.record(store, [draft], now_us=now)
    if json_output:
        typer.echo(version_json(version))
    else:
        typer.echo(_line(version))


@rates_app.command("list")
@reports_errors
def rates_list(
    org: Annotated[
        str | None,
        typer.Option("--org", metavar="ORG", help="This organization's card [default: global]"),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="INSTANT", help="RFC 3339 instant [default: now]"),
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """The card in force: the global one, or with --org that organization's."""
    at_us = rates.instant_us("at", at) if at is not None else now_us()
    with opened_store(database_url) as store:
        if org is not None:
            with store.read() as connection:
                if not directory_sql.existing_org_ids(connection, [org]):
                    raise NotFound(f"No organization has the id '{org}'.", param="orgId")
        rows = rates.card(store, org, at_us)
    if json_output:
        typer.echo(card_rows_json(rows).decode("utf-8"))
        return
    if not rows:
        err_console.print(f"No rate is in force at {instant_text(at_us)}.", highlight=False)
    for row in rows:
        version = row.version
        typer.echo(
            "\t".join(
                [
                    version.product,
                    version.feature or "(any feature)",
                    f"{format_micro(version.credits_per_unit_micro)} credits per {version.unit}",
                    f"from {instant_text(version.effective_from_us)}",
                    row.source,
                ]
            )
        )


@rates_app.command("import")
@reports_errors
def rates_import(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            help="A CSV file: a header naming product, unit, creditsPerUnit (feature, orgId, "
            "effectiveFrom optional), then one version a line.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Record many rate versions from a CSV file, all or nothing."""
    data = file.read_bytes()
    with opened_store(database_url) as store:
        try:
            recorded = rate_import.import_rates(store, data, now_us=now_us())
        except rate_import.RateFileProblems as exc:
            for problem in exc.problems:
                where = ", ".join(
                    part
                    for part in (
                        f"line {problem.index}" if problem.index is not None else None,
                        problem.field,
                    )
                    if part
                )
                err_console.print(
                    f"{where}: {problem.message}" if where else problem.message,
                    highlight=False,
                    soft_wrap=True,
                )
            more = " (the first 100 are listed)" if len(exc.problems) >= 100 else ""
            if json_output:
                print_json(
                    {
                        "error": {
                            "code": "invalid_rates",
                            "message": "Nothing was recorded.",
                            "details": [p.as_dict() for p in exc.problems],
                        }
                    }
                )
            err_console.print(
                f"[bold red]error:[/] nothing was recorded: fix the problems above{more} "
                "and run the import again.",
                highlight=False,
            )
            raise typer.Exit(1) from None
    if json_output:
        print_json({"imported": len(recorded)})
    else:
        typer.echo(f"imported {len(recorded)} rates")
