"""``creditmeter ingest``: bulk import of a JSON-lines file (or stdin)."""

from __future__ import annotations

import gc
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from creditmeter.cli.common import (
    DatabaseUrl,
    JsonOutput,
    err_console,
    fail,
    opened_store,
    print_json,
    reports_errors,
    settings_for,
)
from creditmeter.errors import InvalidEvents, Problem
from creditmeter.ingest import MAX_FILE_PROBLEMS, check_lines, record_lines


@contextmanager
def _readable(source: str) -> Iterator[Path]:
    """The file to read twice: the path itself, or stdin spooled to a temporary file."""
    if source != "-":
        path = Path(source)
        if not path.is_file():
            raise typer.BadParameter(f"'{source}' is not a file.", param_hint="'FILE'")
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="creditmeter-ingest-", suffix=".jsonl") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.flush()
        yield Path(spool.name)


def _report(problems: list[Problem]) -> None:
    for problem in problems:
        where = f"line {problem.index}" + (f", {problem.field}" if problem.field else "")
        err_console.print(f"{where}: {problem.message}", highlight=False, soft_wrap=True)


@reports_errors
def ingest(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="A JSON-lines file of events, or - for stdin.")
    ],
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Import usage events from a JSON-lines file, idempotently.

    Every line is validated first; if any is wrong nothing is stored and up to
    100 problems are listed. Then events are committed in batches; a run cut
    short is finished by running it again.
    """
    settings = settings_for(database_url)
    # What is loaded now lives until the command ends: keep it out of the
    # collector's full passes, which millions of events would otherwise trigger.
    gc.collect()
    gc.freeze()
    with _readable(file) as path:
        with path.open("rb") as lines:
            count, problems = check_lines(lines)
        if problems:
            _report(problems)
            more = " (the first 100 are listed)" if len(problems) >= MAX_FILE_PROBLEMS else ""
            if json_output:
                print_json(InvalidEvents(problems).body())
            err_console.print(
                f"[bold red]error:[/] nothing was stored: fix the problems above{more} "
                "and run the import again.",
                highlight=False,
            )
            raise typer.Exit(1)
        with (
            opened_store(database_url) as store,
            Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                disable=not err_console.is_terminal,
            ) as progress,
            path.open("rb") as lines,
        ):
            task = progress.add_task("events", total=count)
            stored = [0]

            def committed(events: int) -> None:
                stored[0] += events
                progress.advance(task, events)

            try:
                result = record_lines(
                    store, lines, max_events=settings.max_batch_events, on_batch=committed
                )
            except InvalidEvents as exc:
                # Only a limit that depends on what is stored (the daily total) gets here.
                _report(exc.problems)
                if json_output:
                    print_json(exc.body())
                fail(
                    f"{exc.message} The first {stored[0]:,} events of the file were stored "
                    "in earlier batches; after fixing the file, run the import again."
                )
    if json_output:
        print_json(result.as_dict())
    else:
        typer.echo(
            f"accepted {result.accepted}, duplicates {result.duplicates}, "
            f"conflicts {len(result.conflicts)}"
        )
