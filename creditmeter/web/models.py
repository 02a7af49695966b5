"""The JSON shapes of the HTTP API, as Pydantic models (they also write the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from creditmeter.roles import Role
from creditmeter.scopes import Scope
from creditmeter.timestamps import format_instant

Instant = Annotated[
    datetime,
    PlainSerializer(format_instant, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# -- errors ------------------------------------------------------------------------


class ProblemDetail(Model):
    index: int | None
    field: str | None
    message: str


class ErrorInfo(Model):
    status: int
    code: str = Field(description="A stable machine-readable word, e.g. `unknown_parameter`.")
    message: str = Field(description="What went wrong and what to change.")
    param: str | None = Field(None, description="The offending parameter, when there is one.")
    details: list[ProblemDetail] | None = Field(
        None, description="Per-event problems of an ingest batch."
    )


class ErrorResponse(Model):
    """The one shape of every error answer."""

    error: ErrorInfo


#: What each error status means, for every operation that documents it.
ERROR_MEANINGS = {
    400: "Invalid request: the message says what to change",
    401: "Missing, unknown, revoked or expired credential",
    403: "The credential may not do this",
    404: "Unknown id",
    409: "Already exists",
    413: "Body too large",
    415: "Unsupported content type",
    429: "Rate limit exceeded; see Retry-After",
    503: "The store is unreachable, or its schema needs `creditmeter migrate`",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses an operation can really answer."""
    return {s: {"model": ErrorResponse, "description": ERROR_MEANINGS[s]} for s in statuses}


#: Models that a route documents by reference only (see :func:`schema_ref`).
REFERENCED_MODELS: dict[str, type[BaseModel]] = {}


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    """A ``$ref`` to ``model`` among the document's component schemas.

    For a body a route reads itself (FastAPI then knows no model for it): the
    document's builder adds the model's schema to the components.
    """
    REFERENCED_MODELS[model.__name__] = model
    return {"$ref": f"#/components/schemas/{model.__name__}"}


# -- usage ---------------------------------------------------------------------------


class UsageRowOut(Model):
    """One bucket and one combination of grouped values.

    Keys come in this order: ``date``, ``start`` (hour buckets only), the grouped
    dimension(s), ``credits``, ``requestCount``. ``date`` is the local date of the
    bucket's first instant; for months, the first day of the month, or startDate
    when the month began before it.
    """

    date: date
    start: datetime | None = Field(
        None,
        description="Hour buckets only: the bucket's first instant, RFC 3339 in local time "
        "with the offset in force then (e.g. 2026-10-25T02:00:00+01:00).",
    )
    group: str | None = Field(
        None,
        description="When groupBy names one dimension: its value; null when events had none.",
    )
    product: str | None = Field(None, description="When groupBy names several dimensions.")
    feature: str | None = Field(None, description="When groupBy names several dimensions.")
    api_key: str | None = Field(None, description="When groupBy names several dimensions.")
    file_type: str | None = Field(None, description="When groupBy names several dimensions.")
    credits: float = Field(description="Exact decimal sum, e.g. 150.0 or 2.000125.")
    request_count: int


class ExportDocument(Model):
    org_id: str
    start_date: date
    end_date: date
    group_by: str = Field(description="The groupBy list as given, e.g. product,feature.")
    time_zone: str | None = Field(
        None, description="Present, with bucketWidth, when the request gave either."
    )
    bucket_width: Literal["hour", "day", "month"] | None = Field(
        None, description="Present, with timeZone, when the request gave either."
    )
    data: list[UsageRowOut]
    next_page: str | None = Field(
        None,
        description="Present exactly when limit was given: the next page's cursor, or null "
        "on the last page.",
    )


class EventIn(Model):
    """One usage event (documentation of the ingest body; validation is stricter)."""

    id: str = Field(description="Idempotency key, unique per organization.")
    org_id: str
    timestamp: str = Field(description="RFC 3339 with an explicit offset.")
    product: str
    feature: str | None = None
    api_key: str | None = None
    file_type: str | None = None
    credits: float = Field(description="≥ 0, at most 6 decimal places.")
    request_count: int | None = 1


class EventBatch(Model):
    events: list[EventIn]


class RecordResultOut(Model):
    accepted: int
    duplicates: int
    conflicts: list[str]
    unknown_org_ids: list[str] = Field(
        description="The batch's organizations that the directory does not hold, sorted: "
        "their events are stored all the same."
    )


# -- directory -----------------------------------------------------------------------


class OrgCreate(Model):
    name: str
    id: str | None = None


class OrgOut(Model):
    id: str
    name: str
    created_at: Instant


class UserCreate(Model):
    email: str


class UserOut(Model):
    id: str
    email: str
    created_at: Instant


class MemberOut(Model):
    user_id: str
    email: str
    role: str


class MembershipOut(MemberOut):
    org_id: str


class MembershipPut(Model):
    role: Role | None = None


class KeyCreate(Model):
    org_id: str
    name: str | None = None
    # A string, parsed by the route: Pydantic would read a date as a naive datetime.
    expires_at: str | None = Field(
        None, description="yyyy-mm-dd (00:00 UTC that day) or an RFC 3339 instant."
    )


class KeyOut(Model):
    id: str
    name: str
    user_id: str
    email: str
    org_id: str
    created_at: Instant
    expires_at: Instant | None
    last_used_at: Instant | None
    revoked_at: Instant | None


class KeyCreated(KeyOut):
    secret: str = Field(description="Shown this once; only its hash is stored.")


class TokenCreate(Model):
    name: str
    scopes: list[Scope] = Field(min_length=1)


class TokenOut(Model):
    id: str
    name: str
    scopes: list[str]
    created_at: Instant
    last_used_at: Instant | None
    revoked_at: Instant | None


class TokenCreated(TokenOut):
    secret: str = Field(description="Shown this once; only its hash is stored.")


# -- voids ---------------------------------------------------------------------------


class VoidRequestIn(Model):
    """A void (documentation of the body; the route checks it in the contract's order)."""

    org_id: str = Field(description="The organization whose events are voided.")
    ids: list[str] = Field(
        min_length=1,
        description="1 … CREDITMETER_MAX_BATCH_EVENTS (10,000 by default) event ids; a "
        "repeated id counts once.",
    )
    reason: str = Field(min_length=1, max_length=500, description="Why, for the audit trail.")


class VoidResultOut(Model):
    voided: int = Field(description="How many events this request voided.")
    already_voided: list[str] = Field(
        description="Ids whose event had been voided before; nothing about them changed."
    )
    not_found: list[str] = Field(description="Ids with no stored event of orgId.")


class VoidEntryOut(Model):
    """One voided event, as stored, with its void: never changed or removed."""

    event_id: str
    org_id: str
    timestamp: str = Field(description="The event's instant in UTC, RFC 3339 with Z.")
    product: str
    feature: str | None
    api_key: str | None
    file_type: str | None
    credits: float = Field(description="Exact decimal, written like an export's credits.")
    request_count: int
    reason: str
    voided_at: str = Field(description="RFC 3339 UTC with Z and six fractional digits.")
    source: Literal["api", "cli"]
    token_id: str | None = Field(description="The service token of an api void; null for cli.")
    token_name: str | None


# -- the rate card -----------------------------------------------------------------


class RateCreate(Model):
    """A rate version to record (documentation; the route checks the body itself,
    in the contract's order, with exact numbers)."""

    product: str
    unit: str = Field(description="1 to 128 printable characters, e.g. page; one unit a product.")
    credits_per_unit: float = Field(
        ge=0, le=1_000_000_000, description="≥ 0, at most 6 decimal places."
    )
    feature: str | None = Field(None, description="A feature; null or absent: any feature.")
    org_id: str | None = Field(
        None, description="An organization whose card this overrides; null: the global card."
    )
    effective_from: str | None = Field(
        None,
        description="RFC 3339 instant with an offset, from which the version is in force; "
        "null or absent: when the server records it. At most 60 s in the past.",
    )


class RateOut(Model):
    id: str
    org_id: str | None
    product: str
    feature: str | None
    unit: str
    credits_per_unit: float = Field(description="Exact decimal, e.g. 0.5 or 1.0.")
    effective_from: str = Field(description="UTC with Z; 6 fractional digits when not whole.")
    created_at: str


class RateCardRow(Model):
    product: str
    feature: str | None = Field(description="null: the product's rate for any feature.")
    unit: str
    credits_per_unit: float = Field(description="Exact decimal, e.g. 0.5 or 1.0.")
    effective_from: str
    source: Literal["org", "global"]


class RateCardDocument(Model):
    org_id: str
    at: str = Field(description="The instant whose card this is (UTC with Z).")
    data: list[RateCardRow]
