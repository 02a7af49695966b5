"""``GET /api/v1/usage/export``: thin: check the caller, parse, run, write.

:func:`read_usage` and :func:`export_answer` are the request-to-usage path the
dashboard shares, so that the page, its CSV and the API can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from creditmeter.directory import PersonalKey
from creditmeter.export import (
    DEFAULT_GROUP_BY,
    FILTERS,
    FORMATS,
    GROUP_BY,
    ExportQuery,
    ExportResult,
    parse_query,
    run_export,
)
from creditmeter.rendering import usage_csv, usage_json
from creditmeter.web.auth import BEARER_REQUIRED, usage_reader
from creditmeter.web.models import ExportDocument, error_responses
from creditmeter.web.negotiation import wants_csv

router = APIRouter()


def _param(
    name: str, description: str, schema: dict[str, Any], *, repeatable: bool = False
) -> dict[str, Any]:
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


_DAY = {"type": "string", "format": "date"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 128}
PARAMETERS = [
    _param(
        "startDate", "First day, inclusive (yyyy-mm-dd, UTC). Default: endDate - 30 days.", _DAY
    ),
    _param("endDate", "Last day, inclusive (yyyy-mm-dd, UTC). Default: today (UTC).", _DAY),
    _param(
        "groupBy",
        "Dimension each row is grouped by.",
        {"type": "string", "enum": list(GROUP_BY), "default": DEFAULT_GROUP_BY},
    ),
    _param("orgId", "Organization to read. Default: the one the key was issued for.", _TEXT),
    *(
        _param(name, f"Keep only these {name} values (repeat for OR).", _TEXT, repeatable=True)
        for name in FILTERS
    ),
    _param(
        "format",
        "`csv` answers text/csv (same as `Accept: text/csv`); default json.",
        {"type": "string", "enum": list(FORMATS)},
    ),
]


EXPORT_PATH = "/api/v1/usage/export"


@router.get(
    EXPORT_PATH,
    operation_id="exportUsage",
    summary="Export usage per day and group",
    response_model=ExportDocument,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(400, 401, 403, 429, 503),
    },
    openapi_extra={"parameters": PARAMETERS, "security": BEARER_REQUIRED},
    tags=["usage"],
)
def export_usage(request: Request) -> Response:
    """Usage of one organization per UTC day and group value, over a date range.

    Rows are ordered by date, then group (byte order, the null group first).
    Filters of the same dimension are ORed; different dimensions are ANDed.
    """
    key = usage_reader(request)
    query, result = read_usage(request, key, request.query_params.multi_items())
    return export_answer(request, query, result)


def read_usage(
    request: Request,
    key: PersonalKey,
    items: Sequence[tuple[str, str]],
    *,
    today: date | None = None,
) -> tuple[ExportQuery, ExportResult]:
    """Parse export query ``items`` and run them for ``key``; today defaults to now's UTC date."""
    query = parse_query(
        items,
        today=today or datetime.now(UTC).date(),
        max_range_days=request.app.state.settings.max_range_days,
    )
    return query, run_export(request.app.state.store, request.app.state.directory, key, query)


def export_answer(request: Request, query: ExportQuery, result: ExportResult) -> Response:
    """An export's bytes, CSV when ``format`` or the Accept header asks for it, else JSON."""
    if query.format == "csv" or (query.format is None and wants_csv(request.headers.get("accept"))):
        return Response(usage_csv(result.rows), media_type="text/csv; charset=utf-8")
    body = usage_json(
        result.org_id, result.start_date, result.end_date, result.group_by, result.rows
    )
    return Response(body, media_type="application/json")


# HEAD answers like GET without a body; it is left out of the document, which
# would otherwise list the same operation twice.
router.add_api_route(EXPORT_PATH, export_usage, methods=["HEAD"], include_in_schema=False)
