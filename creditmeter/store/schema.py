"""The tables, as SQLAlchemy Core metadata; Alembic migrations create them.

Two stores share this schema: SQLite (embedded default) and PostgreSQL.
Everything that must behave identically on both is chosen for that:

- Instants of events are integer microseconds since the epoch (exact, no
  time-zone handling by the driver); directory times use :class:`UTCDateTime`.
- Credits are integer micro-credits (``BigInteger``), never floats.
- Rollup key columns are NOT NULL and hold ``''`` for "no value", because a
  unique key treats NULLs as distinct; ``''`` is never a valid value, and it
  sorts first, like the ``null`` group must.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

from creditmeter.credits import MAX_TOTAL_MICRO

NAME_LENGTH = 128

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every store (SQLite keeps no offset of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


organizations = Table(
    "organizations",
    metadata,
    Column("id", String(NAME_LENGTH), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("org_id", String(NAME_LENGTH), ForeignKey("organizations.id"), nullable=False),
    Column("user_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("org_id", "user_id"),
    Index("ix_memberships_user_id", "user_id"),
)

personal_keys = Table(
    "personal_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("org_id", String(NAME_LENGTH), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index("ix_personal_keys_user_id", "user_id"),
)

service_tokens = Table(
    "service_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    # Space-separated scopes, e.g. "admin usage:write".
    Column("scopes", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

# Every event as received: the idempotency record and the audit trail.
# Absent optional dimensions are NULL here.
usage_events = Table(
    "usage_events",
    metadata,
    Column("org_id", String(NAME_LENGTH), nullable=False),
    Column("event_id", String(NAME_LENGTH), nullable=False),
    Column("timestamp_us", BigInteger, nullable=False),
    Column("product", String(NAME_LENGTH), nullable=False),
    Column("feature", String(NAME_LENGTH), nullable=True),
    Column("api_key", String(NAME_LENGTH), nullable=True),
    Column("file_type", String(NAME_LENGTH), nullable=True),
    Column("credits_micro", BigInteger, nullable=False),
    Column("request_count", BigInteger, nullable=False),
    Column("received_at_us", BigInteger, nullable=False),
    # What an event sent with units held, in micro-units (NULL: it was sent with
    # credits); its credits_micro were priced from the rate card at ingest.
    Column("units_micro", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "event_id"),
)

# Daily totals per (org, UTC day, one dimension's value): the full rollups summed
# over the other three dimensions and the day's quarters, kept in the same
# transaction. An export with no filter on another dimension than the one it
# groups by reads these: a few rows a day instead of every combination (see
# docs/decisions/0004-dimension-rollups.md).
usage_dimension_rollups = Table(
    "usage_dimension_rollups",
    metadata,
    Column("org_id", String(NAME_LENGTH), nullable=False),
    # One of product, feature, api_key, file_type: the rollup column it sums by.
    Column("dimension", String(16), nullable=False),
    Column("day", Date, nullable=False),
    Column("value", String(NAME_LENGTH), nullable=False),
    Column("credits_micro", BigInteger, nullable=False),
    Column("request_count", BigInteger, nullable=False),
    # How many events the row sums: a row of zero credits and requests still has
    # events, and a part subtracted from a larger one leaves a row only if some remain.
    Column("event_count", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("org_id", "dimension", "day", "value"),
    sqlite_with_rowid=False,
)

# Totals per (org, UTC quarter hour, product, feature, apiKey, fileType), kept in
# the same transaction as the events: the full rollups, at the finest step any
# zone's local day or hour needs since 1980 (every offset since then is a whole
# number of quarter hours). ``quarter`` is floor(timestamp_us / 900,000,000):
# quarter hours since the epoch. Exports read these, or the coarser per-dimension
# rollups, never the events (docs/decisions/0008-local-time-rollups.md).
usage_quarter_rollups = Table(
    "usage_quarter_rollups",
    metadata,
    Column("org_id", String(NAME_LENGTH), nullable=False),
    Column("quarter", BigInteger, nullable=False),
    Column("product", String(NAME_LENGTH), nullable=False),
    Column("feature", String(NAME_LENGTH), nullable=False),
    Column("api_key", String(NAME_LENGTH), nullable=False),
    Column("file_type", String(NAME_LENGTH), nullable=False),
    Column("credits_micro", BigInteger, nullable=False),
    Column("request_count", BigInteger, nullable=False),
    Column("event_count", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "quarter", "product", "feature", "api_key", "file_type"),
    sqlite_with_rowid=False,
)

# Totals per (org, UTC quarter hour, product): the full quarter rollups summed over
# the other dimensions. The product is the export's default grouping, so an export
# by product in any zone reads a few rows per quarter hour at the ends of its local
# days, not every combination used in them (docs/decisions/0009-product-quarters.md).
usage_product_quarter_rollups = Table(
    "usage_product_quarter_rollups",
    metadata,
    Column("org_id", String(NAME_LENGTH), nullable=False),
    Column("quarter", BigInteger, nullable=False),
    Column("product", String(NAME_LENGTH), nullable=False),
    Column("credits_micro", BigInteger, nullable=False),
    Column("request_count", BigInteger, nullable=False),
    Column("event_count", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "quarter", "product"),
    sqlite_with_rowid=False,
)

# Totals per (org, UTC day, product, one other dimension's value), for the days that
# stopped changing: the full rollups summed over the day's quarters and the two other
# dimensions. ``dimension`` names the other one (feature, api_key or file_type),
# ``value`` holds its value. Not written by ingest: each server's settling pass builds
# a day's rows from its quarter rollups once the day has not changed for a while, and
# an export reads them only for days whose totals say they are current
# (docs/decisions/0014-settled-pair-rollups.md).
usage_pair_rollups = Table(
    "usage_pair_rollups",
    metadata,
    Column("org_id", String(NAME_LENGTH), nullable=False),
    Column("dimension", String(16), nullable=False),
    Column("day", Date, nullable=False),
    Column("product", String(NAME_LENGTH), nullable=False),
    Column("value", String(NAME_LENGTH), nullable=False),
    Column("credits_micro", BigInteger, nullable=False),
    Column("request_count", BigInteger, nullable=False),
    Column("event_count", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "dimension", "day", "product", "value"),
    sqlite_with_rowid=False,
)

# The running totals of each product through a settled day: ``quarter`` n (1-96)
# holds the sums of the day's first n UTC quarter hours. A local day, or hour, whose
# ends fall inside UTC days reads one or two of these per end instead of up to 95
# product quarter rows. Built with the pair rollups, for the days dense enough that
# they hold at most four times the day's product quarter rows
# (docs/decisions/0014-settled-pair-rollups.md).
usage_product_running_totals = Table(
    "usage_product_running_totals",
    metadata,
    Column("org_id", String(NAME_LENGTH), nullable=False),
    Column("day", Date, nullable=False),
    Column("quarter", Integer, nullable=False),
    Column("product", String(NAME_LENGTH), nullable=False),
    Column("credits_micro", BigInteger, nullable=False),
    Column("request_count", BigInteger, nullable=False),
    Column("event_count", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "day", "quarter", "product"),
    sqlite_with_rowid=False,
)

# One organization's whole day. Its CHECK is the guard that keeps every export
# sum (a subset of one day's rollups) inside 64 bits on both stores: SQLite turns
# an overflowing integer sum into a float, which this check also refuses.
# ``changes`` counts the writes (ingests and voids) that changed the day and
# ``changed_at_us`` is the last one's time; ``pairs_changes`` is the ``changes`` the
# day's pair rollups were built at: they are current while the two are equal.
usage_daily_totals = Table(
    "usage_daily_totals",
    metadata,
    Column("org_id", String(NAME_LENGTH), nullable=False),
    Column("day", Date, nullable=False),
    Column("credits_micro", BigInteger, nullable=False),
    Column("request_count", BigInteger, nullable=False),
    Column("changes", BigInteger, nullable=False, server_default="1"),
    Column("changed_at_us", BigInteger, nullable=False, server_default="0"),
    Column("pairs_changes", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("org_id", "day"),
    CheckConstraint(f"credits_micro <= {MAX_TOTAL_MICRO}", name="credits_limit"),
    sqlite_with_rowid=False,
)
# The days whose pair rollups are not current, by when they last changed: what the
# settling pass looks for (a partial index: settled days are not in it).
Index(
    "ix_usage_daily_totals_unsettled",
    usage_daily_totals.c.changed_at_us,
    sqlite_where=text("changes <> pairs_changes"),
    postgresql_where=text("changes <> pairs_changes"),
)

# The export rate limit shared by the servers of one PostgreSQL database: per
# personal key, the instant its bucket is full again (store/rate_limits.py).
# SQLite keeps it in each server's memory instead; the table stays empty there.
export_rate_limits = Table(
    "export_rate_limits",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("full_at_us", BigInteger, nullable=False),
)

# -- usage alerts and their webhooks (docs/alerts.md, decisions/0011) ------------------
#
# An alert's threshold and a period's value are integers in the metric's unit:
# micro-credits for ``credits``, requests for ``requestCount``. Instants are
# integer microseconds since the epoch, as the events' are.

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", String(NAME_LENGTH), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("threshold", BigInteger, nullable=False),
    Column("period", String(8), nullable=False),
    Column("time_zone", String(64), nullable=False),
    # The filters as JSON text: {"product": [...], ...} keyed by the API's field names.
    Column("filters", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    # Periods ending after this instant are watched (created, last enabled or changed).
    Column("watched_from_us", BigInteger, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Index("ix_alerts_org_id", "org_id", "enabled"),
)

# One row per period of an alert that an evaluation has looked at: its state and
# its total so far (NULL: not known, read from the rollups at the next evaluation).
alert_periods = Table(
    "alert_periods",
    metadata,
    Column("alert_id", String(64), ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("period_start_us", BigInteger, nullable=False),
    Column("period_end_us", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("value", BigInteger, nullable=True),
    PrimaryKeyConstraint("alert_id", "period_start_us"),
)

# A webhook endpoint. ``secret`` is stored encrypted (a Fernet token,
# webhooks/sealing.py): the server signs with it, so it cannot be a hash
# (decisions/0011). ``previous_secret`` also signs until ``previous_until_us``,
# 24 hours after a rotation.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", String(NAME_LENGTH), ForeignKey("organizations.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("description", String(256), nullable=True),
    Column("secret", String(512), nullable=False),
    Column("previous_secret", String(512), nullable=True),
    Column("previous_until_us", BigInteger, nullable=True),
    Column("created_at_us", BigInteger, nullable=False),
    Index("ix_webhook_endpoints_org_id", "org_id"),
)

# The outbox: every message, written in the transaction that made it; its body is
# the exact bytes every attempt sends.
webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", String(NAME_LENGTH), nullable=False),
    Column("type", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    # The retention sweep (webhooks/retention.py) reads the oldest first.
    Index("ix_webhook_messages_created", "created_at_us"),
)

# A message on its way to one endpoint. ``next_attempt_us`` is when the next attempt
# is due; while an attempt runs it is pushed past the attempt's timeout (a lease), so
# an attempt cut short by a crash is made again, and ``claim`` names the attempt.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("message_id", String(64), ForeignKey("webhook_messages.id"), nullable=False),
    Column(
        "webhook_id",
        String(64),
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("status", String(16), nullable=False),
    Column("next_attempt_us", BigInteger, nullable=True),
    Column("attempt_count", BigInteger, nullable=False),
    Column("claim", String(64), nullable=True),
    Column("created_at_us", BigInteger, nullable=False),
    # When it became delivered or failed (its last attempt's end); NULL while pending.
    # Finished deliveries older than the retention are removed (webhooks/retention.py).
    Column("finished_at_us", BigInteger, nullable=True),
    PrimaryKeyConstraint("message_id", "webhook_id"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_us"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at_us"),
    Index("ix_webhook_deliveries_finished", "finished_at_us"),
)

# The deliveries log: every attempt, oldest first.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("message_id", String(64), nullable=False),
    Column("webhook_id", String(64), nullable=False),
    Column("attempted_at_us", BigInteger, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(32), nullable=True),
    Column("duration_ms", BigInteger, nullable=False),
    Index("ix_webhook_attempts_delivery", "message_id", "webhook_id"),
)

# The voids of usage events (docs/decisions/0010-voids.md): the row is the mark
# that the event no longer counts, and its audit entry. The event stays in
# usage_events (its id stays taken); the rollups and totals no longer hold it.
# A void is final: rows are never changed or removed.
usage_voids = Table(
    "usage_voids",
    metadata,
    Column("org_id", String(NAME_LENGTH), nullable=False),
    Column("event_id", String(NAME_LENGTH), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("voided_at_us", BigInteger, nullable=False),
    # "api" or "cli"; the service token of an "api" void (both NULL for "cli").
    Column("source", String(8), nullable=False),
    Column("token_id", String(64), nullable=True),
    Column("token_name", String(200), nullable=True),
    PrimaryKeyConstraint("org_id", "event_id"),
    Index("ix_usage_voids_org_id", "org_id", "voided_at_us"),
    sqlite_with_rowid=False,
)

# The rate card (credit-rates.md): every version ever recorded, never edited or
# deleted. ``org_id`` and ``feature`` hold ``''`` for the global card and for any
# feature, as the rollups do, so that one index serves the lookup. ``seq`` is the
# order of recording, which breaks ties between versions of one effectiveFrom.
rate_versions = Table(
    "rate_versions",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("org_id", String(NAME_LENGTH), nullable=False),
    Column("product", String(NAME_LENGTH), nullable=False),
    Column("feature", String(NAME_LENGTH), nullable=False),
    Column("unit", String(NAME_LENGTH), nullable=False),
    Column("credits_per_unit_micro", BigInteger, nullable=False),
    Column("effective_from_us", BigInteger, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Index("ix_rate_versions_product", "product", "org_id", "feature", "effective_from_us", "seq"),
)

# One unit a product (credit-rates.md, edge case 8): the first version of a product
# names its unit here, and every later one must name the same. A row per product,
# so that two writers racing to record a product's first version meet on its key.
rate_units = Table(
    "rate_units",
    metadata,
    Column("product", String(NAME_LENGTH), primary_key=True),
    Column("unit", String(NAME_LENGTH), nullable=False),
)
