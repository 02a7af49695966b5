"""``creditmeter void`` and ``creditmeter voids list``: corrections, on the database directly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from creditmeter.cli.common import (
    DatabaseUrl,
    JsonOutput,
    err_console,
    opened_store,
    print_json,
    reports_errors,
)
from creditmeter.errors import InvalidItems, Problem
from creditmeter.voids import (
    Author,
    VoidRequest,
    id_problem,
    org_problem,
    reason_problem,
    void,
    void_entries,
)

#: A command reports at most this many problems of its input.
MAX_PROBLEMS = 100

voids_app = typer.Typer(help="The audit trail of voided usage.", no_args_is_help=True)

Org = Annotated[
    str, typer.Option("--org", metavar="ORG", help="The organization.", show_default=False)
]


def _file_ids(source: str) -> list[tuple[int, str | None]]:
    """(1-based line number, id) of each non-empty line of FILE (``-``: stdin); the
    id is None for a line that is not UTF-8. Only the line ending (LF or CRLF) is removed."""
    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise typer.BadParameter(f"'{source}' is not a file.", param_hint="'--file'")
        data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the last line's ending, not an empty line
    found: list[tuple[int, str | None]] = []
    for number, line in enumerate(lines, 1):
        line = line.removesuffix(b"\r")
        if not line:
            continue
        try:
            found.append((number, line.decode("utf-8")))
        except UnicodeDecodeError:
            found.append((number, None))
    return found


def _problems(
    org: str, reason: str, ids: list[tuple[int, str | None]], where: str
) -> list[Problem]:
    """Every problem of the command's input, by the API's rules, in its order."""
    problems: list[Problem] = []
    if (problem := org_problem(org)) is not None:
        problems.append(Problem(None, "--org", problem.replace("'orgId'", "--org")))
    if not ids:
        problems.append(Problem(None, "ids", "No id was given: list at least one event id."))
    for number, event_id in ids:
        problem = "The line is not UTF-8." if event_id is None else id_problem(event_id)
        if problem is not None:
            problems.append(Problem(number, "ids", f"{where} {number}: {problem}"))
    if (problem := reason_problem(reason)) is not None:
        problems.append(Problem(None, "--reason", problem.replace("'reason'", "--reason")))
    return problems


@reports_errors
def void_command(
    org: Org,
    reason: Annotated[
        str,
        typer.Option(
            "--reason", metavar="TEXT", help="Why, for the audit trail.", show_default=False
        ),
    ],
    ids: Annotated[
        list[str] | None,
        # Hidden from the Arguments list, which would label it <list[str]>: the
        # usage line and the description name it.
        typer.Argument(metavar="ID", show_default=False, hidden=True),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            metavar="FILE",
            help="Read the ids from FILE, one a line (- for stdin), instead of arguments.",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Void recorded usage events of an organization: they stop counting everywhere.

    The ids come as arguments (ID...) or from --file, never both. Every id
    and the reason are checked first; if anything is wrong nothing is
    voided and up to 100 problems are listed. Then all of them are voided in
    one transaction. Voiding again is harmless: those ids are counted as
    already voided. A void is final.
    """
    if ids and file is not None:
        raise typer.BadParameter(
            "give the ids as arguments or with --file, not both.", param_hint="'--file'"
        )
    if not ids and file is None:
        raise typer.BadParameter("give the ids as arguments or with --file.", param_hint="'ID'")
    numbered = _file_ids(file) if file is not None else list(enumerate(ids or [], 1))
    problems = _problems(org, reason, numbered, "line" if file is not None else "id")
    if problems:
        shown = problems[:MAX_PROBLEMS]
        for problem in shown:
            err_console.print(problem.message, highlight=False, soft_wrap=True, markup=False)
        more = f" (the first {MAX_PROBLEMS} are listed)" if len(problems) > MAX_PROBLEMS else ""
        message = f"nothing was voided: fix the problems above{more} and run the command again."
        if json_output:
            error = InvalidItems(message, param=shown[0].field or "ids", problems=shown)
            print_json(error.body())
        err_console.print(f"[bold red]error:[/] {message}", highlight=False)
        raise typer.Exit(1)
    request = VoidRequest(org, [i for _, i in numbered if i is not None], reason)
    with opened_store(database_url) as store:
        result = void(store, request, Author("cli")).result
    if json_output:
        print_json(result.as_dict())
        return
    typer.echo(
        f"voided {result.voided}, already voided {len(result.already_voided)}, "
        f"not found {len(result.not_found)}"
    )


@voids_app.command("list")
@reports_errors
def voids_list(org: Org, database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """List an organization's voided events, oldest void first (the audit trail)."""
    with opened_store(database_url) as store:
        entries = void_entries(store, org)
    if json_output:
        print_json(entries)
        return
    if not entries:
        typer.echo(f"{org} has no voided events.")
        return
    typer.echo("voided at (UTC)\tevent\ttimestamp\tproduct\tcredits\tby\treason")
    for entry in entries:
        author = entry["tokenName"] or entry["source"]
        typer.echo(
            f"{entry['voidedAt'][:19].replace('T', ' ')}\t{entry['eventId']}\t"
            f"{entry['timestamp']}\t{entry['product']}\t"
            f"{entry['credits']}\t{author}\t{entry['reason']}"
        )
