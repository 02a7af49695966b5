"""``GET /api/v1/usage/export``: thin: check the caller, parse, run, write.

:func:`read_usage` and :func:`export_answer` are the request-to-usage path the
dashboard shares, so that the page, its CSV and the API can never disagree.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime
from itertools import chain, islice
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from creditmeter.directory import PersonalKey
from creditmeter.export import ExportResult, open_export, run_export
from creditmeter.export_query import (
    BUCKET_WIDTHS,
    DEFAULT_GROUP_BY,
    FILTERS,
    FORMATS,
    GROUP_BY,
    MAX_GROUP_BY,
    MAX_LIMIT,
    ExportQuery,
    parse_query,
)
from creditmeter.rendering import usage_csv, usage_csv_chunks, usage_json, usage_json_chunks
from creditmeter.web.auth import BEARER_REQUIRED, usage_reader
from creditmeter.web.models import ExportDocument, error_responses
from creditmeter.web.negotiation import wants_csv
from creditmeter.zones import TZ_DATABASE_VERSION

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
        "startDate",
        "First local date in timeZone, inclusive (yyyy-mm-dd). Default: endDate - 30 days.",
        _DAY,
    ),
    _param("endDate", "Last local date in timeZone, inclusive (yyyy-mm-dd). Default: today.", _DAY),
    {
        **_param(
            "groupBy",
            f"1 to {MAX_GROUP_BY} distinct dimensions, comma-separated (`product,feature`); "
            "rows are grouped by each. One dimension gives rows a `group` field; several give "
            "one field per dimension (`product`, `feature`, `apiKey`, `fileType`).",
            {
                "type": "array",
                "items": {"type": "string", "enum": list(GROUP_BY)},
                "minItems": 1,
                "maxItems": MAX_GROUP_BY,
                "uniqueItems": True,
                "default": [DEFAULT_GROUP_BY],
            },
        ),
        "style": "form",
        "explode": False,
    },
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
    _param(
        "timeZone",
        "IANA time zone name (exact case, e.g. `Europe/Berlin`) whose local calendar the "
        f"dates and buckets follow. Default: UTC. Zone data: tzdata {TZ_DATABASE_VERSION}.",
        # No schema default: a generated client would send it, and the answer says
        # timeZone and bucketWidth only when the request gives one of them.
        {"type": "string", "example": "Europe/Berlin"},
    ),
    _param(
        "bucketWidth",
        "The time span of each row: a local clock hour (ranges up to the server's "
        "hourly maximum, 31 days by default), a local day, or a local month (clipped "
        "to the range). Default: day.",
        {"type": "string", "enum": list(BUCKET_WIDTHS)},
    ),
    _param(
        "limit",
        f"Answer at most this many rows (1 to {MAX_LIMIT:,}) with a `nextPage` cursor for "
        "the rest. JSON only. Without it the whole answer comes at once, streamed.",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    ),
    _param(
        "page",
        "The `nextPage` cursor of the previous page; the other parameters must be the "
        "first page's.",
        {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
    ),
]


EXPORT_PATH = "/api/v1/usage/export"


@router.get(
    EXPORT_PATH,
    operation_id="exportUsage",
    summary="Export usage per bucket of local time and group",
    response_model=ExportDocument,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(400, 401, 403, 429, 503),
    },
    openapi_extra={"parameters": PARAMETERS, "security": BEARER_REQUIRED},
    tags=["usage"],
)
def export_usage(request: Request) -> Response:
    """Usage of one organization per bucket (local hour, day or month) and group.

    Rows are ordered by bucket, then by each grouped value (byte order, null
    first). Filters of the same dimension are ORed; different dimensions are
    ANDed. An answer without `limit` of more than 1,000 rows is streamed.
    """
    key = usage_reader(request)
    _, response = answer_export(request, key, request.query_params.multi_items())
    return response


def answer_export(
    request: Request, key: PersonalKey, items: Sequence[tuple[str, str]]
) -> tuple[ExportQuery, Response]:
    """The export's answer to query ``items`` read as ``key``: whole when small, else
    streamed. The API and the dashboard's download both answer with this."""
    csv = _wants_csv(request, items)
    query = _parse(request, items, csv=csv, now=datetime.now(UTC))
    state = request.app.state
    with ExitStack() as stack:
        result = stack.enter_context(open_export(state.store, state.directory, key, query))
        rows = iter(result.rows)
        # A small answer is sent whole; a larger one streams from the same snapshot,
        # which stays open until its last row is written.
        first = list(islice(rows, STREAM_AFTER_ROWS + 1))
        if len(first) <= STREAM_AFTER_ROWS:
            whole = ExportResult(result.layout, first, result.next_page)
            return query, _whole(query, whole, csv)
        chunks = (
            usage_csv_chunks(result.layout, chain(first, rows))
            if csv
            else usage_json_chunks(result.layout, chain(first, rows), result.next_page)
        )
        streamed = _Streamed(_closing(chunks, stack.pop_all()), media_type=_media(csv))
        return query, streamed


#: Answers of more rows than this are streamed (edge case 19).
STREAM_AFTER_ROWS = 1000


class _Streamed(StreamingResponse):
    """A streamed answer whose read transaction ends with the response, also when the
    client goes away mid-way (the generator would otherwise wait for a garbage
    collection, holding its connection and snapshot)."""

    def __init__(self, chunks: Generator[bytes, None, None], media_type: str) -> None:
        super().__init__(chunks, media_type=media_type)
        self._chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await run_in_threadpool(self._chunks.close)


def _closing(chunks: Iterator[bytes], resources: ExitStack) -> Generator[bytes, None, None]:
    """``chunks``, then ``resources`` closed (also when the client goes away)."""
    with resources:
        yield from chunks


def _media(csv: bool) -> str:
    return "text/csv; charset=utf-8" if csv else "application/json"


def _wants_csv(request: Request, items: Sequence[tuple[str, str]]) -> bool:
    """Whether the Accept header chooses CSV (``format``, when given, decides instead)."""
    if any(name == "format" for name, _ in items):
        return any(name == "format" and value == "csv" for name, value in items)
    return wants_csv(request.headers.get("accept"))


def _parse(
    request: Request, items: Sequence[tuple[str, str]], *, csv: bool, now: datetime | date
) -> ExportQuery:
    settings = request.app.state.settings
    return parse_query(
        items,
        today=now,
        max_range_days=settings.max_range_days,
        max_hourly_range_days=settings.max_hourly_range_days,
        csv=csv,
    )


def _whole(query: ExportQuery, result: ExportResult, csv: bool) -> Response:
    if csv:
        return Response(usage_csv(result.layout, result.rows), media_type=_media(csv))
    body = usage_json(result.layout, result.rows, result.next_page)
    return Response(body, media_type=_media(csv))


def read_usage(
    request: Request,
    key: PersonalKey,
    items: Sequence[tuple[str, str]],
    *,
    today: date | None = None,
) -> tuple[ExportQuery, ExportResult]:
    """Parse export query ``items`` and run them for ``key``, all rows read.

    ``today`` stands for the moment of the request (its UTC midnight); default now.
    """
    query = _parse(request, items, csv=_wants_csv(request, items), now=today or datetime.now(UTC))
    state = request.app.state
    return query, run_export(state.store, state.directory, key, query)


# HEAD answers like GET without a body; it is left out of the document, which
# would otherwise list the same operation twice.
router.add_api_route(EXPORT_PATH, export_usage, methods=["HEAD"], include_in_schema=False)
