"""What every command shares: the database option, error reporting, output helpers."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from sqlalchemy.exc import ArgumentError

from creditmeter.directory import Directory
from creditmeter.errors import ServiceError
from creditmeter.settings import Settings
from creditmeter.store import Store, StoreUnreachable, open_store

console = Console()
err_console = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy database URL \\[default: $CREDITMETER_DATABASE_URL, "
        "else sqlite:///creditmeter.db]",
        show_default=False,
    ),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str) -> NoReturn:
    """Print ``message`` on stderr and exit 1 (an error the user can fix)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into a one-line message on stderr and exit code 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except StoreUnreachable as exc:
            fail(f"Could not use the database: {exc.detail or exc.message}")
        except ServiceError as exc:
            fail(exc.message)
        except ArgumentError as exc:
            fail(f"The database URL is not valid: {exc}")

    return run


def settings_for(database_url: str | None, **overrides: Any) -> Settings:
    if database_url is not None:
        overrides["database_url"] = database_url
    return Settings(**overrides)


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
