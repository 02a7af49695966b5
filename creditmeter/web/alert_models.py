"""The JSON shapes of ``/api/v1/alerts`` and ``/api/v1/webhooks``, for the OpenAPI document.

The routes read their bodies themselves (exact numbers, the contract's order of
checks) and write their answers with exact decimals; these models describe both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from creditmeter.alerts import MAX_FILTER_VALUES, METRICS, PERIODS
from creditmeter.web.models import Instant, Model

Metric = Literal[METRICS]  # type: ignore[valid-type]
PeriodName = Literal[PERIODS]  # type: ignore[valid-type]
Values = list[str]


class AlertFilters(Model):
    """OR within a filter, AND across filters, as in the export."""

    product: Values | None = Field(None, min_length=1, max_length=MAX_FILTER_VALUES)
    feature: Values | None = Field(None, min_length=1, max_length=MAX_FILTER_VALUES)
    api_key: Values | None = Field(None, min_length=1, max_length=MAX_FILTER_VALUES)
    file_type: Values | None = Field(None, min_length=1, max_length=MAX_FILTER_VALUES)


class AlertCreate(Model):
    name: str = Field(min_length=1, max_length=128)
    metric: Metric
    threshold: float = Field(
        gt=0,
        le=9_000_000_000_000,
        description="Credits: at most 6 decimal places; requestCount: an integer.",
    )
    period: PeriodName = Field(description="A calendar day or month in timeZone.")
    time_zone: str = Field("UTC", description="An IANA zone name, exact case.")
    filters: AlertFilters = Field(default_factory=AlertFilters)
    enabled: bool = True


class AlertPatch(Model):
    """Only the fields sent change; `filters` replaces the whole object."""

    name: str | None = Field(None, min_length=1, max_length=128)
    metric: Metric | None = None
    threshold: float | None = Field(None, gt=0, le=9_000_000_000_000)
    period: PeriodName | None = None
    time_zone: str | None = None
    filters: AlertFilters | None = None
    enabled: bool | None = None


class AlertCurrent(Model):
    period_start: str = Field(description="Local time with the zone's offset then.")
    period_end: str
    value: float = Field(description="The period's total so far, exact.")
    status: Literal["ok", "triggered"]


class AlertOut(Model):
    id: str
    org_id: str
    name: str
    metric: Metric
    threshold: float
    period: PeriodName
    time_zone: str
    filters: dict[str, list[str]] = Field(
        description="The filters given, keyed product, feature, apiKey, fileType."
    )
    enabled: bool
    created_at: Instant
    updated_at: Instant
    current: AlertCurrent


class WebhookCreate(Model):
    url: str = Field(max_length=2048, description="An absolute http(s) URL of a public host.")
    description: str | None = Field(None, min_length=1, max_length=256)


class WebhookOut(Model):
    id: str
    org_id: str
    url: str
    description: str | None
    created_at: Instant


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="`whsec_…`: shown only in this answer; keep it safe.")


class MessageQueued(Model):
    message_id: str


class AttemptOut(Model):
    attempted_at: Instant
    status_code: int | None
    error: Literal["timeout", "connection_error", "private_address"] | None
    duration_ms: int


class DeliveryOut(Model):
    message_id: str
    type: Literal["alert.triggered", "alert.resolved", "webhook.test"]
    created_at: Instant
    status: Literal["pending", "delivered", "failed"]
    next_attempt_at: Instant | None
    attempts: list[AttemptOut]
