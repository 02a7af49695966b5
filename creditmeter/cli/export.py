"""``creditmeter export``: read a server's usage as a user would, through the Python client."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from creditmeter import APIConnectionError, APIError, Client, CreditmeterError, Export, UsageRow
from creditmeter.cli.common import console, err_console, fail, unreachable_message
from creditmeter.client._base import (
    API_KEY_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    URL_ENV,
    broke_off,
)
from creditmeter.credits import format_credits, to_micro
from creditmeter.dimensions import DEFAULT_GROUP_BY, GROUP_BY
from creditmeter.errors import InvalidParameter
from creditmeter.periods import BY_NAME, Period
from creditmeter.suggest import spoken_list, suggestion
from creditmeter.zones import zone_named


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class BucketWidth(StrEnum):
    """The export's bucketWidth values, offered as a choice (another value exits 2)."""

    hour = "hour"
    day = "day"
    month = "month"


#: The null group in a table, where an empty cell would read as missing data.
NONE_GROUP = "(none)"
#: The export API's parameter → this command's option, for the server's messages.
OPTION_FOR_PARAMETER = {
    "startDate": "--start",
    "endDate": "--end",
    "groupBy": "--group-by",
    "orgId": "--org",
    "product": "--product",
    "feature": "--feature",
    "apiKey": "--api-key-id",
    "fileType": "--file-type",
    "timeZone": "--time-zone",
    "bucketWidth": "--bucket-width",
}
#: Names that are only ever parameters, so they are replaced wherever the message says them.
_ONLY_PARAMETERS = (
    "startDate",
    "endDate",
    "groupBy",
    "orgId",
    "apiKey",
    "fileType",
    "timeZone",
    "bucketWidth",
)


def _period(name: str | None) -> Period | None:
    if name is None:
        return None
    if name not in BY_NAME:
        raise typer.BadParameter(
            f"'{name}' is not a period; use one of {', '.join(BY_NAME)}."
            + suggestion(name, list(BY_NAME)),
            param_hint="'--period'",
        )
    return BY_NAME[name]


def _today(time_zone: str | None) -> date:
    """Today in ``time_zone`` (UTC when None), for ``--period``.

    A zone the pinned database does not know is left for the server to refuse,
    with its message and suggestion: the period is then counted in UTC.
    """
    now = datetime.now(UTC)
    if time_zone is None:
        return now.date()
    try:
        return now.astimezone(zone_named(time_zone)).date()
    except InvalidParameter:
        return now.date()


def in_option_words(message: str, param: str | None) -> str:
    """The server's message, naming this command's options instead of the API's parameters.

    ``'startDate': …`` becomes ``--start: …``; a filter's name (``product``,
    which is also a groupBy value) only where the error is about that parameter.
    """
    for name, option in OPTION_FOR_PARAMETER.items():
        if name in _ONLY_PARAMETERS:
            message = re.sub(rf"'?\b{name}\b'?", option, message)
        elif name == param:
            message = message.replace(f"'{name}'", option)
    return message


@dataclass(frozen=True)
class GroupTotal:
    """One combination of grouped values over the whole range; None is a null value."""

    values: tuple[str | None, ...]
    credits_micro: int
    request_count: int


def _grouped_values(row: UsageRow) -> tuple[str | None, ...]:
    return tuple(row.dimensions.values())


def group_totals(export: Export) -> list[GroupTotal]:
    """Each combination's credits and requests over the range, the most credits first.

    Ties keep the export's order: each dimension's value in turn, null first,
    then byte order.
    """
    sums: dict[tuple[str | None, ...], tuple[int, int]] = {}
    for row in export.data:
        values = _grouped_values(row)
        credits, requests = sums.get(values, (0, 0))
        sums[values] = (credits + to_micro(row.credits), requests + row.request_count)
    totals = [GroupTotal(values, *sums[values]) for values in sums]
    return sorted(
        totals,
        key=lambda t: (
            -t.credits_micro,
            -t.request_count,
            tuple((value is not None, value or "") for value in t.values),
        ),
    )


def summary_heading(export: Export, *, per_bucket: bool = False) -> str:
    """What the table shows: ``org: usage by product, first to last (N days)``, and
    the bucket width and time zone when they were asked for."""
    days = (export.end_date - export.start_date).days + 1
    by = f"{export.group_by} per {export.bucket_width}" if per_bucket else export.group_by
    zone = f", {export.time_zone}" if export.time_zone is not None else ""
    return (
        f"{export.org_id}: usage by {by}, {export.start_date} to "
        f"{export.end_date} ({days:,} {'day' if days == 1 else 'days'}{zone})"
    )


def clock(start: datetime) -> str:
    """An hour row's start for the table, beside its date: the local time and the
    offset (``02:00+01:00``); seconds only where there are some."""
    written = start.isoformat()  # yyyy-mm-ddThh:mm:ss±hh:mm[:ss], as the API writes it
    time, offset = written[11:19], written[19:]
    return (time[:5] if time.endswith(":00") else time) + offset


def _cell(value: str | None) -> str | Text:
    return NONE_GROUP if value is None else Text(value)  # never read as markup


def usage_table(export: Export, *, per_bucket: bool = False) -> Table:
    """A Rich table of the export, with a total row.

    By default each combination of grouped values' totals over the range, one
    column per grouped dimension. ``per_bucket`` (the command was given
    ``--bucket-width``): a row per bucket and combination, in the API's order,
    after a ``date`` column and, for hours, a ``start`` column (:func:`clock`).
    """
    lines: list[tuple[list[str | Text], int, int]]
    if per_bucket:
        lines = [
            (
                [
                    row.date.isoformat(),
                    *([] if row.start is None else [clock(row.start)]),
                    *map(_cell, _grouped_values(row)),
                ],
                to_micro(row.credits),
                row.request_count,
            )
            for row in export.data
        ]
    else:
        lines = [
            (list(map(_cell, total.values)), total.credits_micro, total.request_count)
            for total in group_totals(export)
        ]
    table = Table(show_footer=True, caption=None if lines else "No usage in this range.")
    leading: list[str] = []
    if per_bucket:
        leading = ["date", "start"] if export.bucket_width == "hour" else ["date"]
    for index, name in enumerate((*leading, *export.grouped_by)):
        table.add_column(name, footer="total" if index == 0 else "")
    table.add_column(
        "credits", justify="right", footer=format_credits(sum(line[1] for line in lines))
    )
    table.add_column("requests", justify="right", footer=f"{sum(line[2] for line in lines):,}")
    for cells, credits_micro, request_count in lines:
        table.add_row(*cells, format_credits(credits_micro), f"{request_count:,}")
    return table


def _chosen_format(given: OutputFormat | None, output: Path | None) -> OutputFormat:
    if given is not None:
        return given
    if output is not None:
        return OutputFormat.csv if output.suffix.lower() == ".csv" else OutputFormat.json
    return OutputFormat.table if sys.stdout.isatty() else OutputFormat.json


def _print_summary(target: Console, export: Export, *, per_bucket: bool) -> None:
    target.print(summary_heading(export, per_bucket=per_bucket), highlight=False, soft_wrap=True)
    target.print(usage_table(export, per_bucket=per_bucket))


def _write(export: Export, chosen: OutputFormat, output: Path | None, *, per_bucket: bool) -> None:
    if chosen is OutputFormat.table:
        if output is None:
            _print_summary(console, export, per_bucket=per_bucket)
            return
        with output.open("w", encoding="utf-8") as handle:
            target = Console(file=handle, width=100, color_system=None)
            _print_summary(target, export, per_bucket=per_bucket)
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
            metavar="DATE",
            help="First day, yyyy-mm-dd (in --time-zone) [default: 30 days before --end]",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            metavar="DATE",
            help="Last day, yyyy-mm-dd (in --time-zone) [default: today]",
            show_default=False,
        ),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            metavar=f"[{'|'.join(BY_NAME)}]",
            help="A range of whole days instead of --start/--end; the last N days end today "
            "(in --time-zone), today included. this-month is the 1st through today; "
            "last-month is all of it.",
            show_default=False,
        ),
    ] = None,
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            "--group-by",
            metavar="DIMENSION",
            help=f"{spoken_list(GROUP_BY)}; up to four, as product,feature or the option "
            f"repeated [default: {DEFAULT_GROUP_BY}]",
            show_default=False,
        ),
    ] = None,
    time_zone: Annotated[
        str | None,
        typer.Option(
            "--time-zone",
            metavar="ZONE",
            help="The IANA time zone whose days (and hours) the dates and buckets follow, "
            "such as Europe/Berlin [default: UTC]",
            show_default=False,
        ),
    ] = None,
    bucket_width: Annotated[
        BucketWidth | None,
        typer.Option(
            "--bucket-width",
            metavar="[hour|day|month]",
            help="The time span of each row; with --format table, a row per bucket [default: day]",
            show_default=False,
        ),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            metavar="ORG_ID",
            help="The organization to read [default: the key's]",
            show_default=False,
        ),
    ] = None,
    product: Annotated[
        list[str] | None,
        typer.Option("--product", metavar="NAME", help="Only this product; repeatable."),
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", metavar="NAME", help="Only this feature; repeatable."),
    ] = None,
    api_key_id: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key-id", metavar="ID", help="Only this product API key (its id); repeatable."
        ),
    ] = None,
    file_type: Annotated[
        list[str] | None,
        typer.Option("--file-type", metavar="TYPE", help="Only this file type; repeatable."),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            metavar="[table|json|csv]",
            help="table (each group's totals over the range, or with --bucket-width a row "
            "per bucket, and a total row), json (the API's document) or csv (the API's CSV) "
            "[default: table on a terminal, else json; with --output, csv for a .csv file]",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", metavar="FILE", help="Write to FILE instead of stdout.", dir_okay=False
        ),
    ] = None,
    url: Annotated[
        str,
        typer.Option("--url", metavar="URL", envvar=URL_ENV, help="The creditmeter server."),
    ] = DEFAULT_BASE_URL,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            envvar=API_KEY_ENV,
            help="Your personal API key (cmk_…).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="SECONDS", help="How long to wait for each answer."),
    ] = DEFAULT_TIMEOUT,
    max_retries: Annotated[
        int,
        typer.Option(
            "--max-retries",
            metavar="N",
            help="Retries after no answer, a 429 or a 5xx (0: none).",
        ),
    ] = DEFAULT_MAX_RETRIES,
) -> None:
    """Export usage from a server: a table, JSON or CSV, per day, hour or month and group."""
    chosen_period = _period(period)
    if chosen_period is not None:
        if start is not None or end is not None:
            raise typer.BadParameter(
                "it cannot be combined with --start or --end.", param_hint="'--period'"
            )
        first, last = chosen_period.dates(_today(time_zone))
        start, end = first.isoformat(), last.isoformat()
    if not api_key:
        raise typer.BadParameter(
            f"no key given: pass --api-key cmk_… or set {API_KEY_ENV}.", param_hint="'--api-key'"
        )
    if not timeout > 0:
        raise typer.BadParameter(
            f"{timeout:g} is not a time to wait; give a number of seconds above 0.",
            param_hint="'--timeout'",
        )
    if max_retries < 0:
        raise typer.BadParameter(
            f"{max_retries} is not a number of retries; give 0 or more.",
            param_hint="'--max-retries'",
        )
    try:
        client = Client(url, api_key, timeout=timeout, max_retries=max_retries)
    except CreditmeterError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--url'") from None
    try:
        with client:
            result = client.export(
                start_date=start,
                end_date=end,
                group_by=",".join(group_by) if group_by else None,
                org_id=org,
                products=product or None,
                features=feature or None,
                api_keys=api_key_id or None,
                file_types=file_type or None,
                time_zone=time_zone,
                bucket_width=bucket_width.value if bucket_width is not None else None,
            )
    except APIError as exc:
        fail(in_option_words(exc.message, exc.param))
    except APIConnectionError as exc:
        if broke_off(exc.__cause__):
            fail(f"{exc.message}; nothing was written: run the command again.")
        fail(unreachable_message(client.base_url, exc))
    except CreditmeterError as exc:
        fail(str(exc))
    chosen = _chosen_format(output_format, output)
    try:
        _write(result, chosen, output, per_bucket=bucket_width is not None)
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
