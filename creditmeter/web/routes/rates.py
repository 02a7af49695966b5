"""The rate card over HTTP: ``GET /api/v1/rates`` for an organization's people, and
``/api/v1/admin/rates`` for a service token with the ``admin`` scope.

Thin: check the caller, parse, call :mod:`creditmeter.rates`, write with
:mod:`creditmeter.card_rendering` (exact numbers, never a float).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from creditmeter import rates
from creditmeter.card_rendering import card_csv, card_json, version_json, versions_json
from creditmeter.directory import PersonalKey
from creditmeter.errors import DuplicateParameter, Forbidden, InvalidParameter
from creditmeter.events import loads
from creditmeter.ingest import now_us
from creditmeter.strings import string_problem
from creditmeter.suggest import refuse_unknown
from creditmeter.web.auth import BEARER_REQUIRED, caller, checked_caller, count_export_request
from creditmeter.web.models import (
    RateCardDocument,
    RateCreate,
    RateOut,
    error_responses,
    schema_ref,
)
from creditmeter.web.routes.export import _wants_csv

router = APIRouter()

RATES_PATH = "/api/v1/rates"
ADMIN_RATES_PATH = "/api/v1/admin/rates"
#: ``GET /api/v1/rates``'s parameters, in the order their values are checked.
CARD_PARAMETERS = ("orgId", "at", "format")
FORMATS = ("json", "csv")

_TEXT = {"type": "string", "minLength": 1, "maxLength": 128}


def _query(name: str, description: str, schema: dict[str, Any], repeatable: bool = False) -> Any:
    if repeatable:
        schema = {"type": "array", "items": schema}
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **({"style": "form", "explode": True} if repeatable else {}),
    }


@router.get(
    RATES_PATH,
    operation_id="getRateCard",
    summary="The rate card in force for an organization",
    response_model=RateCardDocument,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(400, 401, 403, 429, 503),
    },
    openapi_extra={
        "parameters": [
            _query("orgId", "Organization whose card to read. Default: the key's.", _TEXT),
            _query(
                "at",
                "RFC 3339 instant with an offset: the card in force then. Default: now.",
                {"type": "string", "format": "date-time"},
            ),
            _query(
                "format",
                "`csv` answers text/csv (same as `Accept: text/csv`); default json.",
                {"type": "string", "enum": list(FORMATS)},
            ),
        ],
        "security": BEARER_REQUIRED,
    },
    tags=["rates"],
)
def read_card(request: Request) -> Response:
    """The rates that price the organization's events at `at`: its own versions in force
    (`source` `org`), and the global ones in force that none of them shadows (`global`).
    Rows are ordered by product, then feature (null first), in byte order. Reading
    counts against the key's export rate limit."""
    key = checked_caller(request)
    assert isinstance(key, PersonalKey)  # READ_CARD admits nothing else
    count_export_request(request, key)
    items = request.query_params.multi_items()
    now = now_us()
    org_id, at_us, csv = _card_query(request, items, now)
    org_id = org_id or key.org_id
    state = request.app.state
    with state.store.read() as connection:
        if not state.directory.is_member(org_id, key.user_id, connection):
            raise Forbidden(
                f"You are not a member of the organization '{org_id}'. Ask one of its admins "
                "to add you, or pass the orgId of an organization you belong to.",
                param="orgId" if org_id != key.org_id else None,
            )
        rows = rates.card(state.store, org_id, at_us, connection)
    if csv:
        return Response(card_csv(rows), media_type="text/csv; charset=utf-8")
    return Response(card_json(org_id, at_us, rows), media_type="application/json")


def _card_query(
    request: Request, items: Sequence[tuple[str, str]], now: int
) -> tuple[str | None, int, bool]:
    """(orgId or None, the instant, CSV?) checked in the contract's order (edge case 11)."""
    refuse_unknown((name for name, _ in items), CARD_PARAMETERS)
    values: dict[str, str] = {}
    for name, value in items:
        if name in values:
            count = sum(1 for given, _ in items if given == name)
            raise DuplicateParameter(f"'{name}' was given {count} times; give it once.", param=name)
        values[name] = value
    for name in CARD_PARAMETERS:
        if values.get(name) == "":
            raise InvalidParameter(f"'{name}' is empty; give a value or leave it out.", param=name)
    org_id = values.get("orgId")
    if org_id is not None and (problem := string_problem(org_id)) is not None:
        raise InvalidParameter(f"'orgId' {problem}.", param="orgId")
    at = values.get("at")
    at_us = rates.instant_us("at", at) if at is not None else now
    output = values.get("format")
    if output is not None and output not in FORMATS:
        raise InvalidParameter(f"'{output}' is not a format; use json or csv.", param="format")
    return org_id, at_us, _wants_csv(request, items)


router.add_api_route(RATES_PATH, read_card, methods=["HEAD"], include_in_schema=False)


# -- the admin API ---------------------------------------------------------------------

admin = APIRouter(
    prefix=ADMIN_RATES_PATH,
    tags=["admin"],
    dependencies=[Depends(caller)],
    responses=error_responses(401, 403, 503),
)


@admin.post(
    "",
    operation_id="createRate",
    status_code=201,
    response_model=RateOut,
    responses=error_responses(400, 404, 409, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema_ref(RateCreate)}},
        }
    },
)
async def create_rate(request: Request) -> Response:
    """Record a rate version. Versions are never edited or deleted: a later version
    supersedes one from its own `effectiveFrom`, and a future `effectiveFrom` schedules
    a change."""
    _json_body(request)
    body = await request.body()
    try:
        raw = loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameter("The body is not valid JSON.") from None
    now = now_us()
    draft = rates.draft_of_body(raw, now_us=now)
    (version,) = await run_in_threadpool(rates.record, request.app.state.store, [draft], now_us=now)
    return Response(version_json(version), status_code=201, media_type="application/json")


def _json_body(request: Request) -> None:
    """A body that is not JSON is refused as the other admin routes refuse it."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise InvalidParameter("The body must be JSON, sent with 'Content-Type: application/json'.")


@admin.get(
    "",
    operation_id="listRates",
    response_model=list[RateOut],
    responses=error_responses(400),
    openapi_extra={
        "parameters": [
            _query("scope", "`global` or `org`.", {"type": "string", "enum": list(rates.SCOPES)}),
            _query("orgId", "Only this organization's versions.", _TEXT),
            _query("product", "Only these products (repeat for OR).", _TEXT, repeatable=True),
            _query("feature", "Only these features (repeat for OR).", _TEXT, repeatable=True),
        ]
    },
)
def list_rates(request: Request) -> Response:
    """Every version ever recorded, superseded and scheduled ones too: global versions
    first, then each organization's by orgId; within each by product, feature (null
    first), effectiveFrom, then recording order."""
    filters = rates.list_filters(request.query_params.multi_items())
    found = rates.list_versions(request.app.state.store, filters)
    return Response(versions_json(found), media_type="application/json")


@admin.get(
    "/{rateId}",
    operation_id="getRate",
    response_model=RateOut,
    responses=error_responses(400, 404),
)
def get_rate(rateId: str, request: Request) -> Response:
    refuse_unknown(request.query_params.keys(), ())
    version = rates.get(request.app.state.store, rateId)
    return Response(version_json(version), media_type="application/json")
