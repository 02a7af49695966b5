"""``creditmeter export``: read a server's usage as a user would, through the Python client."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from creditmeter import Client, CreditmeterError, Export
from creditmeter.cli.common import console, err_console, fail
from creditmeter.client._base import API_KEY_ENV, DEFAULT_BASE_URL, URL_ENV
from creditmeter.credits import format_micro, to_micro
from creditmeter.dimensions import DEFAULT_GROUP_BY, GROUP_BY
from creditmeter.suggest import spoken_list


class Period(StrEnum):
    last_7_days = "last-7-days"
    last_30_days = "last-30-days"
    last_90_days = "last-90-days"
    this_month = "this-month"
    last_month = "last-month"


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


_LAST_DAYS = {Period.last_7_days: 7, Period.last_30_days: 30, Period.last_90_days: 90}
#: The null group in a table, where an empty cell would read as missing data.
NONE_GROUP = "(none)"


def period_range(period: Period, today: date) -> tuple[date, date]:
    """The first and last day of ``period``; the last N days include today."""
    if period is Period.this_month:
        return today.replace(day=1), today
    if period is Period.last_month:
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    return today - timedelta(days=_LAST_DAYS[period] - 1), today


def usage_table(export: Export) -> Table:
    """A Rich table of the export's rows, with a totals row."""
    micro = [to_micro(row.credits) for row in export.data]
    table = Table(
        title=f"{export.org_id}, {export.start_date} to {export.end_date}",
        show_footer=True,
        caption=None if export.data else "No usage in this range.",
    )
    table.add_column("date", footer="total")
    table.add_column(export.group_by)
    table.add_column("credits", justify="right", footer=format_micro(sum(micro)))
    table.add_column(
        "requests", justify="right", footer=str(sum(row.request_count for row in export.data))
    )
    for row, credits_micro in zip(export.data, micro, strict=True):
        table.add_row(
            row.date.isoformat(),
            NONE_GROUP if row.group is None else row.group,
            format_micro(credits_micro),
            str(row.request_count),
        )
    return table


def _chosen_format(given: OutputFormat | None, output: Path | None) -> OutputFormat:
    if given is not None:
        return given
    if output is not None:
        return OutputFormat.csv if output.suffix.lower() == ".csv" else OutputFormat.json
    return OutputFormat.table if sys.stdout.isatty() else OutputFormat.json


def _write(export: Export, chosen: OutputFormat, output: Path | None) -> None:
    if chosen is OutputFormat.table:
        if output is None:
            console.print(usage_table(export))
            return
        with output.open("w", encoding="utf-8") as handle:
            Console(file=handle, width=100, color_system=None).print(usage_table(export))
        return
    text = export.to_csv(output) if chosen is OutputFormat.csv else export.to_json(output)
    if output is None:
        # The API's bytes as they are; a JSON document gets a newline for the shell.
        typer.echo(text.encode("utf-8"), nl=chosen is OutputFormat.json)


def export(
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="First day, yyyy-mm-dd (UTC) \\[default: 30 days before --end]",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end", help="Last day, yyyy-mm-dd (UTC) \\[default: today]", show_default=False
        ),
    ] = None,
    period: Annotated[
        Period | None,
        typer.Option(
            "--period",
            help="A range instead of --start/--end: the last 7, 30 or 90 days (today "
            "included), this month so far, or last month.",
            show_default=False,
        ),
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help=f"{spoken_list(GROUP_BY)} \\[default: {DEFAULT_GROUP_BY}]",
            show_default=False,
        ),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option(
            "--org", help="The organization to read \\[default: the key's]", show_default=False
        ),
    ] = None,
    product: Annotated[
        list[str] | None, typer.Option("--product", help="Only this product; repeatable.")
    ] = None,
    feature: Annotated[
        list[str] | None, typer.Option("--feature", help="Only this feature; repeatable.")
    ] = None,
    api_key_id: Annotated[
        list[str] | None,
        typer.Option("--api-key-id", help="Only this product API key (its id); repeatable."),
    ] = None,
    file_type: Annotated[
        list[str] | None, typer.Option("--file-type", help="Only this file type; repeatable.")
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            help="table (a summary with totals), json (the API's document) or csv (the API's "
            "CSV) \\[default: table on a terminal, else json; with --output, csv for a .csv file]",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write to FILE instead of stdout.", dir_okay=False),
    ] = None,
    url: Annotated[
        str, typer.Option("--url", envvar=URL_ENV, help="The creditmeter server.")
    ] = DEFAULT_BASE_URL,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar=API_KEY_ENV,
            help="Your personal API key (cmk_…).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Export usage per day and group from a creditmeter server, as a table, JSON or CSV."""
    if period is not None:
        if start is not None or end is not None:
            raise typer.BadParameter(
                "it cannot be combined with --start or --end.", param_hint="'--period'"
            )
        first, last = period_range(period, datetime.now(UTC).date())
        start, end = first.isoformat(), last.isoformat()
    if not api_key:
        raise typer.BadParameter(
            f"no key given: pass --api-key cmk_… or set {API_KEY_ENV}.", param_hint="'--api-key'"
        )
    try:
        client = Client(url, api_key)
    except CreditmeterError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--url'") from None
    try:
        with client:
            result = client.export(
                start_date=start,
                end_date=end,
                group_by=group_by,
                org_id=org,
                products=product or None,
                features=feature or None,
                api_keys=api_key_id or None,
                file_types=file_type or None,
            )
    except CreditmeterError as exc:
        fail(str(exc))
    chosen = _chosen_format(output_format, output)
    try:
        _write(result, chosen, output)
    except OSError as exc:
        fail(f"Could not write {output}: {exc.strerror or exc}.")
    if output is not None:
        rows = "1 row" if len(result) == 1 else f"{len(result):,} rows"
        err_console.print(
            f"Wrote {rows} ({result.org_id}, {result.start_date} to {result.end_date}, "
            f"by {result.group_by}) to {output} as {chosen.value}.",
            highlight=False,
            soft_wrap=True,
        )
