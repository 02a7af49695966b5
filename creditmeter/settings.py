"""The one place creditmeter reads its configuration.

Every setting is a field of :class:`Settings`, read from a ``CREDITMETER_*``
environment variable (or a ``.env`` file), else its default. ``docs/settings.md``
is generated from this class by ``scripts/gen_settings_doc.py`` and a test keeps
it current.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from creditmeter.store.database import StoreOptions
from creditmeter.webhooks.delivery import DEFAULT_RETRY_SCHEDULE, DeliveryOptions
from creditmeter.webhooks.sealing import Sealer, check_keys, sealer_for

DEFAULT_DATABASE_URL = "sqlite:///creditmeter.db"


class Settings(BaseSettings):
    """creditmeter's configuration; field descriptions are the documentation."""

    model_config = SettingsConfigDict(
        env_prefix="CREDITMETER_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        # An error names the setting, never repeats its value (a key, a password).
        hide_input_in_errors=True,
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
    max_alerts_per_org: int = Field(
        100, ge=0, description="Most usage alerts one organization may have."
    )
    max_webhooks_per_org: int = Field(
        10, ge=0, description="Most webhook endpoints one organization may have."
    )
    webhook_allow_private: bool = Field(
        False,
        description=(
            "`1` lets webhook endpoints point at private, loopback and other non-public "
            "addresses (for a receiver on your own network)."
        ),
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="How long one webhook attempt may take, whole, before it fails."
    )
    webhook_retry_schedule: str = Field(
        ",".join(str(delay) for delay in DEFAULT_RETRY_SCHEDULE),
        description=(
            "Seconds between a failed webhook attempt and the next, comma-separated; after "
            "the last the message is `failed`."
        ),
    )
    webhook_poll_seconds: float = Field(
        0.5, gt=0, description="How often each server looks for due webhook attempts."
    )
    webhook_concurrency: int = Field(
        8, ge=1, description="Webhook attempts one server makes at the same time."
    )
    webhook_retention_days: int = Field(
        30,
        ge=0,
        description=(
            "Days a webhook message is kept, with its attempts, once it is delivered or has "
            "failed for good (counted from its last attempt); then each server removes it, "
            "hourly, and it leaves the deliveries log. Pending messages are kept whatever "
            "their age. `0` keeps everything for ever."
        ),
    )
    secret_key: SecretStr | None = Field(
        None,
        description=(
            "Key that encrypts webhook signing secrets in the database (a Fernet key: "
            "`creditmeter secret-key` prints a new one). Every server of one database sets "
            "the same key. To change it, set several, comma-separated, the new one first: "
            "the first encrypts, any of them decrypts; `creditmeter secret-key --reseal` "
            "then encrypts every stored secret with the first, and the others can go "
            "(docs/alerts.md). Unset: for a SQLite file, a key file beside it "
            "(`<database>.key`, mode 0600, one key) made on first use; for PostgreSQL, "
            "adding an endpoint or rotating its secret fails (503), and messages are held, "
            "until it is set."
        ),
    )
    settle_after_seconds: float = Field(
        60.0,
        ge=0,
        description=(
            "Seconds a UTC day of an organization goes unchanged (no ingest, no void) before "
            "the server settles it: builds its per-dimension and pair rollups, which answer "
            "exports by one dimension, or by the product and one other, from a few rows a "
            "day, and its products' running totals, which answer the ends of local days. "
            "Until then such exports read the day's quarter-hour rollups: the same answer, "
            "slower."
        ),
    )
    log_level: str = Field("info", description="Log level of the server: debug, info, warning.")

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        retry_schedule(value)
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(",".join(check_keys(value.get_secret_value())))

    def sealer(self, database_url: str | None = None) -> Sealer:
        """What seals the webhook secrets of ``database_url`` (default: this database's)."""
        key = self.secret_key.get_secret_value() if self.secret_key is not None else None
        return sealer_for(database_url or self.database_url, key)

    def delivery_options(self) -> DeliveryOptions:
        """How this server's webhook worker delivers."""
        return DeliveryOptions(
            timeout_s=self.webhook_timeout_seconds,
            retry_schedule=retry_schedule(self.webhook_retry_schedule),
            poll_s=self.webhook_poll_seconds,
            allow_private=self.webhook_allow_private,
            concurrency=self.webhook_concurrency,
            retention_s=self.webhook_retention_days * 86_400.0 or None,
        )

    def store_options(self) -> StoreOptions:
        """The connection and pool options of the store these settings describe."""
        return StoreOptions(
            busy_timeout_ms=self.sqlite_busy_timeout_ms,
            pool_size=self.pool_size,
            max_overflow=self.pool_max_overflow,
            pool_timeout_s=self.pool_timeout_seconds,
            connect_timeout_s=self.connect_timeout_seconds,
        )


def retry_schedule(text: str) -> tuple[float, ...]:
    """The delays of ``CREDITMETER_WEBHOOK_RETRY_SCHEDULE``; ValueError if one is not a
    number of seconds of at least 0."""
    delays = []
    for part in text.split(","):
        try:
            delay = float(part.strip()) if part.strip() else -1.0
        except ValueError:
            delay = -1.0
        if not delay >= 0:
            raise ValueError(
                f"the retry schedule must be seconds separated by commas, such as "
                f"'5,300,1800'; '{part.strip()}' is not"
            )
        delays.append(delay)
    return tuple(delays)


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
