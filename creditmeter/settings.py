"""The one place creditmeter reads its configuration.

Every setting is a field of :class:`Settings`, read from a ``CREDITMETER_*``
environment variable (or a ``.env`` file), else its default. ``docs/settings.md``
is generated from this class by ``scripts/gen_settings_doc.py`` and a test keeps
it current.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from creditmeter.store.database import StoreOptions

DEFAULT_DATABASE_URL = "sqlite:///creditmeter.db"


class Settings(BaseSettings):
    """creditmeter's configuration; field descriptions are the documentation."""

    model_config = SettingsConfigDict(
        env_prefix="CREDITMETER_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description=(
            "SQLAlchemy database URL. `sqlite:///relative.db`, `sqlite:////absolute.db` "
            "or `postgresql://user@host/db`."
        ),
    )
    max_range_days: int = Field(
        366,
        ge=1,
        description="Longest export range, in days counted inclusively.",
    )
    max_hourly_range_days: int = Field(
        31,
        ge=1,
        description=(
            "Longest export range in hour buckets, in local days counted inclusively "
            "(instead of max_range_days)."
        ),
    )
    export_rate_limit: int = Field(
        600,
        ge=0,
        description=(
            "Export requests a minute allowed per personal key (`0` turns the limit off): "
            "across all servers on PostgreSQL, per server process on SQLite."
        ),
    )
    max_batch_events: int = Field(
        10_000,
        ge=1,
        description="Most events accepted in one ingest batch, and most ids in one void request.",
    )
    max_body_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Largest ingest (or void) request body, in bytes.",
    )
    sqlite_busy_timeout_ms: int = Field(
        30_000,
        ge=0,
        description="How long a SQLite connection waits for another process's write lock.",
    )
    pool_size: int = Field(
        5, ge=1, description="PostgreSQL: connections each server process keeps open."
    )
    pool_max_overflow: int = Field(
        10, ge=0, description="PostgreSQL: extra connections a process may open under load."
    )
    pool_timeout_seconds: float = Field(
        10.0, gt=0, description="PostgreSQL: how long a request waits for a free connection."
    )
    connect_timeout_seconds: int = Field(
        5,
        ge=1,
        description="PostgreSQL: how long opening a connection may take before the request "
        "fails with 503.",
    )
    log_level: str = Field("info", description="Log level of the server: debug, info, warning.")

    def store_options(self) -> StoreOptions:
        """The connection and pool options of the store these settings describe."""
        return StoreOptions(
            busy_timeout_ms=self.sqlite_busy_timeout_ms,
            pool_size=self.pool_size,
            max_overflow=self.pool_max_overflow,
            pool_timeout_s=self.pool_timeout_seconds,
            connect_timeout_s=self.connect_timeout_seconds,
        )


def settings_markdown() -> str:
    """``docs/settings.md``: every setting's variable, default and meaning."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated from creditmeter/settings.py by `make docs`; a test keeps it current. -->",
        "",
        "Every setting is read from its environment variable (or a `.env` file in the",
        "working directory), else it takes its default. Command-line options such as",
        "`--database-url` override the variable for that command.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, info in Settings.model_fields.items():
        variable = f"CREDITMETER_{name.upper()}"
        lines.append(f"| `{variable}` | `{info.default}` | {info.description} |")
    return "\n".join(lines) + "\n"
