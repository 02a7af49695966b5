"""``POST /api/v1/usage/events``: read the body within its limit, then record it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from creditmeter.directory import Credential
from creditmeter.errors import InvalidEvents, UnsupportedMediaType
from creditmeter.events import BodyProblems, read_json_body, read_ndjson_body
from creditmeter.ingest import now_us, record_batch
from creditmeter.web.auth import caller
from creditmeter.web.models import EventBatch, RecordResultOut, error_responses, schema_ref

router = APIRouter()

EVENTS_PATH = "/api/v1/usage/events"

JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


@router.post(
    EVENTS_PATH,
    operation_id="recordUsageEvents",
    summary="Record a batch of usage events",
    response_model=RecordResultOut,
    responses=error_responses(400, 401, 403, 413, 415, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema_ref(EventBatch)},
                **{t: {"schema": {"type": "string"}} for t in NDJSON_TYPES},
            },
        }
    },
    tags=["usage"],
)
async def record_events(request: Request, _: Credential = Depends(caller)) -> JSONResponse:
    """Record events idempotently on (orgId, id). The batch is atomic and durable before 200."""
    settings = request.app.state.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in JSON_TYPES:
        read = read_json_body
    elif content_type in NDJSON_TYPES:
        read = read_ndjson_body
    else:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not accepted; send "
            f"{', '.join(JSON_TYPES + NDJSON_TYPES)}."
        )
    # The body's size limit is enforced while it is read (web/limits.py).
    body = await request.body()
    received_us = now_us()
    try:
        batch = await run_in_threadpool(read, body, received_us)
    except BodyProblems as exc:
        raise InvalidEvents(exc.problems) from None
    result = await run_in_threadpool(
        record_batch,
        request.app.state.store,
        batch,
        max_events=settings.max_batch_events,
        received_us=received_us,
    )
    return JSONResponse(result.as_dict())
