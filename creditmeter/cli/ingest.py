"""``creditmeter ingest``: import a JSON-lines file (or stdin) into a database or a server."""

from __future__ import annotations

import gc
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.engine import make_url

from creditmeter import APIConnectionError, APIError, Client, CreditmeterError, RecordResult
from creditmeter.cli.common import (
    DatabaseUrl,
    JsonOutput,
    err_console,
    fail,
    opened_store,
    print_json,
    reports_errors,
    settings_for,
    unreachable_message,
    warn,
)
from creditmeter.demo import DEMO_DATABASE_URL
from creditmeter.errors import InvalidEvents, Problem
from creditmeter.event_spool import EventSpool
from creditmeter.events import loads
from creditmeter.ingest import MAX_FILE_PROBLEMS, check_events, check_file, record_events
from creditmeter.settling import settle as settle_days

#: Where ``--token`` is read from when it is not passed.
TOKEN_ENV = "CREDITMETER_TOKEN"
#: The unknown organizations the summary names before it counts the rest.
UNKNOWN_ORGS_SHOWN = 10
#: The collector's threshold for its youngest generation during an import (see
#: _collecting_rarely).
YOUNG_OBJECTS = 50_000


def _file(source: str) -> Path:
    path = Path(source)
    if not path.is_file():
        raise typer.BadParameter(f"'{source}' is not a file.", param_hint="'FILE'")
    return path


@contextmanager
def _collecting_rarely() -> Iterator[None]:
    """The collector's youngest generation collected every YOUNG_OBJECTS objects instead
    of every 700 while the events are read and recorded: a batch in flight is tens of
    thousands of young objects, and the default ran about 8,700 collections a million
    events (1.1 s of 20 s of CPU) for the same peak memory."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def _lines(source: str) -> Iterator[Iterable[bytes]]:
    """The lines to read once: the file's, or stdin's."""
    if source == "-":
        yield sys.stdin.buffer
        return
    with _file(source).open("rb") as lines:
        yield lines


@contextmanager
def _readable(source: str) -> Iterator[Path]:
    """The file to read twice: the path itself, or stdin spooled to a temporary file."""
    if source != "-":
        yield _file(source)
        return
    with tempfile.NamedTemporaryFile(prefix="creditmeter-ingest-", suffix=".jsonl") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.flush()
        yield Path(spool.name)


def _report(problems: list[Problem]) -> None:
    for problem in problems:
        line = f"line {problem.index}" if problem.index is not None else None
        where = ", ".join(part for part in (line, problem.field) if part)
        err_console.print(
            f"{where}: {problem.message}" if where else problem.message,
            highlight=False,
            soft_wrap=True,
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
    )


def _stopped(
    message: str,
    stored: int,
    *,
    fix: str = "fixing the file",
    body: dict[str, Any] | None = None,
) -> NoReturn:
    """Fail after a batch was refused, saying what the earlier batches stored.

    ``body`` (the refusal in the API's error shape) is printed on stdout first:
    only a ``--json`` run passes it.
    """
    if body is not None:
        print_json(body)
    if stored:
        fail(
            f"{message} The first {stored:,} events of the file were stored in earlier "
            f"batches; after {fix}, run the import again."
        )
    fail(f"{message} Nothing was stored; after {fix}, run the import again.")


# -- into a database -------------------------------------------------------------------


def _shown(database_url: str) -> str:
    """The database URL to print: a SQLite file by its absolute path, never a password."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and _is_file(url.database):
        url = url.set(database=str(Path(url.database or "").resolve()))
    return url.render_as_string(hide_password=True)


def _exists(database_url: str | None) -> bool:
    """Whether the database is there already (a SQLite file that is not is made on opening)."""
    url = make_url(settings_for(database_url).database_url)
    if url.get_backend_name() == "sqlite" and _is_file(url.database):
        return Path(url.database or "").exists()
    return True


def _is_file(database: str | None) -> bool:
    return bool(database) and database != ":memory:" and not (database or "").startswith("file:")


def _into_database(
    events: EventSpool, database_url: str | None, *, json_output: bool, units: bool = False
) -> tuple[RecordResult, str]:
    settings = settings_for(database_url)
    url = make_url(settings.database_url)
    shown = _shown(settings.database_url)
    if (
        url.get_backend_name() == "sqlite"
        and _is_file(url.database)
        and not Path(url.database or "").exists()
    ):
        warn(
            f"{shown} does not exist: creating a new database. To import into another, pass "
            f"--database-url (the demo's is {DEMO_DATABASE_URL})."
        )
    with opened_store(database_url) as store, _progress() as progress:
        if units:
            # The events sent with units are priced by the card in this database:
            # every line is priced before anything is stored (credit-rates.md).
            priced = check_events(events, store).problems
            if priced:
                progress.stop()
                _refuse(priced, json_output=json_output)
        task = progress.add_task("events", total=len(events))
        stored = [0]

        def committed(count: int) -> None:
            stored[0] += count
            progress.advance(task, count)

        try:
            result = record_events(
                store, events, max_events=settings.max_batch_events, on_batch=committed
            )
        except InvalidEvents as exc:
            # Only a limit that depends on what is stored (the daily total) gets here.
            _report(exc.problems)
            _stopped(exc.message, stored[0], body=exc.body() if json_output else None)
        # The days just written are settled before the command ends, so that the first
        # exports after an import read settled rollups (decision 0016), not quarters
        # while a server's pass catches up.
        settle_days(store)
    return result, f"into {shown}"


# -- through a server ------------------------------------------------------------------


def _client(url: str, token: str | None) -> Client:
    if not token:
        raise typer.BadParameter(
            f"no token given: pass --token cmt_… (a service token with the usage:write scope) "
            f"or set {TOKEN_ENV}.",
            param_hint="'--token'",
        )
    try:
        return Client(url, token)
    except CreditmeterError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--url'") from None


def _through_server(
    path: Path, count: int, client: Client, *, json_output: bool
) -> tuple[RecordResult, str]:
    # (index in the input, line number) of the batch being sent: a problem the
    # server finds is named by its line, as the file's own problems are.
    batch_size = settings_for(None).max_batch_events
    lines_of_batch: deque[tuple[int, int]] = deque(maxlen=batch_size)
    with _progress() as progress, path.open("rb") as lines, client:
        task = progress.add_task("events", total=count)

        def events() -> Iterator[Any]:
            index = 0
            for number, line in enumerate(lines, 1):
                if line.strip():
                    lines_of_batch.append((index, number))
                    index += 1
                    progress.advance(task)
                    yield loads(line)

        try:
            result = client.record(events(), batch_size=batch_size)
        except CreditmeterError as exc:
            stored = exc.stored.accepted + exc.stored.duplicates if exc.stored else 0
            if isinstance(exc, APIConnectionError):
                message = unreachable_message(str(client.base_url), exc)
                body = {"error": {"message": message}} if json_output else None
                _stopped(message, stored, fix="fixing that", body=body)
            body = _error_body(exc) if json_output else None
            if isinstance(exc, APIError) and exc.details:
                _report(_problems_by_line(exc.details, dict(lines_of_batch).get))
                _stopped(str(exc), stored, body=body)
            _stopped(str(exc), stored, fix="fixing that", body=body)
    return result, f"through {client.base_url}"


def _error_body(error: CreditmeterError) -> dict[str, Any]:
    """The server's refusal in its own error shape (a connection failure has only a message)."""
    if not isinstance(error, APIError):
        return {"error": {"message": str(error)}}
    body: dict[str, Any] = {"status": error.status_code, "code": error.code, "message": str(error)}
    if error.param is not None:
        body["param"] = error.param
    if error.details:
        body["details"] = error.details
    return {"error": body}


def _problems_by_line(
    details: list[dict[str, Any]], line_of: Callable[[int], int | None]
) -> list[Problem]:
    return [
        Problem(
            line_of(detail["index"]) if isinstance(detail.get("index"), int) else None,
            detail.get("field"),
            str(detail.get("message", "")),
        )
        for detail in details
    ]


# -- the command -----------------------------------------------------------------------


def _summary(result: RecordResult, where: str) -> str:
    events = result.accepted + result.duplicates
    lines = [
        f"Recorded {events:,} event{'' if events == 1 else 's'} {where}: "
        f"accepted {result.accepted}, duplicates {result.duplicates}, "
        f"conflicts {len(result.conflicts)}"
    ]
    unknown = result.unknown_org_ids
    if unknown:
        named = ", ".join(unknown[:UNKNOWN_ORGS_SHOWN])
        more = len(unknown) - UNKNOWN_ORGS_SHOWN
        if more > 0:
            named += f" and {more:,} more"
        lines.append(
            f"Not in the directory: {named}. Their events are stored; create the "
            f"organization{'' if len(unknown) == 1 else 's'} "
            "(creditmeter org create NAME --id ORG_ID) to export them."
        )
    return "\n".join(lines)


def _refuse(problems: list[Problem], *, json_output: bool) -> NoReturn:
    """List the file's problems and stop: nothing was stored."""
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


def _import(file: str, database_url: str | None, *, json_output: bool) -> tuple[RecordResult, str]:
    """Check the file, then import it: read once, the events of a file found whole
    kept (packed, spilled to a temporary file past a bound) and imported from there."""
    with _lines(file) as lines, EventSpool() as events:
        # Into a database that exists, events sent with units are priced by its card
        # in the same pass; into a new one, after it is made (there is no card yet).
        priced = _exists(database_url)
        if priced:
            with opened_store(database_url) as store:
                checked = check_file(lines, store=store, keep=events)
        else:
            checked = check_file(lines, keep=events)
        if checked.problems:
            _refuse(checked.problems, json_output=json_output)
        return _into_database(
            events, database_url, json_output=json_output, units=checked.units > 0 and not priced
        )


def _send(file: str, client: Client, *, json_output: bool) -> tuple[RecordResult, str]:
    """Check the file, then send its lines as written through the server."""
    with _readable(file) as path:
        with path.open("rb") as lines:
            checked = check_file(lines)
        if checked.problems:
            _refuse(checked.problems, json_output=json_output)
        return _through_server(path, checked.seen, client, json_output=json_output)


@reports_errors
def ingest(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="A JSON-lines file of events, or - for stdin.")
    ],
    database_url: DatabaseUrl = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Send the events to this creditmeter server's API instead of writing a database.",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=TOKEN_ENV,
            help="With --url: a service token (cmt_…) with the usage:write scope.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Import usage events from a JSON-lines file, idempotently.

    Every line is validated first; if any is wrong nothing is stored and up to
    100 problems are listed. Then events are committed in batches, into the
    database or, with --url, through the server's API; a run cut short is
    finished by running it again.
    """
    if url is not None and database_url is not None:
        raise typer.BadParameter(
            "it cannot be combined with --url: the server writes its own database.",
            param_hint="'--database-url'",
        )
    client = _client(url, token) if url is not None else None
    # What is loaded now lives until the command ends: keep it out of the
    # collector's full passes, which millions of events would otherwise trigger.
    gc.collect()
    gc.freeze()
    with _collecting_rarely():
        if client is None:
            result, where = _import(file, database_url, json_output=json_output)
        else:
            result, where = _send(file, client, json_output=json_output)
    if json_output:
        print_json(result.as_dict())
    else:
        typer.echo(_summary(result, where))
