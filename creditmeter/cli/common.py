"""What every command shares: the database option, error reporting, output helpers.

Errors: an error the user can fix is one line on stderr and exit 1
(:func:`fail`); wrong options are Click's usage errors, exit 2. A command run
with ``--json`` also prints either as the API's error body on stdout,
``{"error": {"code", "message", …}}``, so that a script reading stdout sees
why nothing came (:class:`CommandLine`, :func:`reports_errors`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import ArgumentError
from typer._click import Context
from typer._click.exceptions import BadParameter, UsageError
from typer.core import TyperGroup

from creditmeter import APIConnectionError, APITimeoutError
from creditmeter.directory import Directory
from creditmeter.errors import InvalidParameter, ServiceError, Unavailable
from creditmeter.settings import Settings
from creditmeter.store import Store, StoreUnreachable, open_store

console = Console()
err_console = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy database URL [default: $CREDITMETER_DATABASE_URL, "
        "else sqlite:///creditmeter.db]",
        show_default=False,
    ),
]
JSON_OPTION = "--json"
JsonOutput = Annotated[
    bool,
    typer.Option(JSON_OPTION, help='Print JSON for scripts; an error as {"error": {...}}.'),
]
#: Pydantic's prefix on a ValueError's message, which Typer's choice checks pass on.
_PYDANTIC_PREFIX = "Value error, "

P = ParamSpec("P")
R = TypeVar("R")


def fail(error: ServiceError | str, *, as_json: bool = False) -> NoReturn:
    """Print the error on stderr and exit 1 (an error the user can fix).

    With ``as_json`` (the command's ``--json``), also print its body on stdout:
    a :class:`ServiceError`'s is the one the API answers for the same error.
    """
    message = error if isinstance(error, str) else error.message
    if as_json:
        print_json(
            error.body() if isinstance(error, ServiceError) else {"error": {"message": message}}
        )
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into a one-line message on stderr and exit code 1.

    A command with a ``json_output`` parameter also prints them as JSON (see :func:`fail`).
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("json_output"))
        try:
            return command(*args, **kwargs)
        except StoreUnreachable as exc:
            detail = exc.detail or exc.message
            fail(Unavailable(f"Could not use the database: {detail}"), as_json=as_json)
        except ServiceError as exc:
            fail(exc, as_json=as_json)
        except ArgumentError as exc:
            fail(
                InvalidParameter(f"The database URL is not valid: {exc}", param="--database-url"),
                as_json=as_json,
            )

    return run


def usage_error_body(error: UsageError) -> dict[str, Any]:
    """A usage error in the API's error shape; ``param`` is the option at fault, when known."""
    param = None
    if isinstance(error, BadParameter) and error.param is not None:
        names = [*error.param.opts, *error.param.secondary_opts]
        param = next((name for name in names if name.startswith("--")), None) or (
            error.param.get_error_hint().strip("'")
        )
    elif isinstance(error, BadParameter) and isinstance(error.param_hint, str):
        param = error.param_hint.strip("'")
    return InvalidParameter(error.format_message(), param=param).body()


class CommandLine(TyperGroup):
    """The ``creditmeter`` group: usage errors of every sub-command pass through here.

    Typer checks choices with Pydantic, whose messages start "Value error, ":
    that is cut. With ``--json`` among the arguments, the error is also
    printed as JSON on stdout before Typer prints it on stderr.
    """

    def invoke(self, ctx: Context) -> Any:
        as_json = JSON_OPTION in [*ctx._protected_args, *ctx.args]
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            exc.message = exc.message.removeprefix(_PYDANTIC_PREFIX)
            if as_json:
                print_json(usage_error_body(exc))
            raise


def unreachable_message(url: str, error: APIConnectionError) -> str:
    """Why a server gave no answer, and what to try: the words for every command that calls one."""
    if isinstance(error, APITimeoutError):
        return f"{error.message} Give it longer with --timeout SECONDS."
    if _refused(error):
        return (
            f"Cannot reach {url} (connection refused): is the creditmeter server running? "
            "Start it with `creditmeter serve`, or point --url at the one that is."
        )
    return f"Cannot reach {url}: {error.__cause__ or error.message}. Check --url."


def _refused(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def settings_for(database_url: str | None, **overrides: Any) -> Settings:
    """The settings (environment, then ``overrides``); a bad value ends the command with
    the setting's name and what it must be, never a traceback (nor the value)."""
    if database_url is not None:
        overrides["database_url"] = database_url
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        fail(
            "; ".join(
                f"CREDITMETER_{'_'.join(str(part) for part in problem['loc']).upper()}: "
                f"{problem['msg'].removeprefix('Value error, ')}"
                for problem in exc.errors()
            )
        )


@contextmanager
def opened_store(database_url: str | None) -> Iterator[Store]:
    """The store named by ``--database-url`` (or the settings), its schema current."""
    settings = settings_for(database_url)
    store = open_store(settings.database_url, settings.store_options())
    try:
        yield store
    finally:
        store.close()


@contextmanager
def opened_directory(database_url: str | None) -> Iterator[Directory]:
    with opened_store(database_url) as store:
        yield Directory(store)


def print_json(value: Any) -> None:
    """JSON on stdout: a Pydantic model (by alias), a list of them, or plain data."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [item.model_dump(mode="json", by_alias=True) for item in value]
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))
