"""Voids: ``POST /api/v1/usage/events/void``, and the audit trail
``GET /api/v1/admin/orgs/{orgId}/voids``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from creditmeter.directory import Credential, ServiceToken
from creditmeter.errors import UnsupportedMediaType
from creditmeter.suggest import refuse_unknown
from creditmeter.voids import Author, read_void_body, void, void_entries
from creditmeter.web.auth import caller
from creditmeter.web.models import (
    VoidEntryOut,
    VoidRequestIn,
    VoidResultOut,
    error_responses,
    schema_ref,
)
from creditmeter.web.routes.admin import only_parameters

router = APIRouter()

VOID_PATH = "/api/v1/usage/events/void"
JSON_TYPE = "application/json"


@router.post(
    VOID_PATH,
    operation_id="voidUsageEvents",
    summary="Void recorded usage events",
    response_model=VoidResultOut,
    responses=error_responses(400, 401, 403, 413, 415, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSON_TYPE: {"schema": schema_ref(VoidRequestIn)}},
        }
    },
    tags=["usage"],
)
async def void_events(request: Request, token: Credential = Depends(caller)) -> JSONResponse:
    """Void stored events of one organization: they stop counting everywhere, their ids
    stay taken, and each void is kept in the audit trail. Validated whole, atomic,
    idempotent, and durable before 200."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON_TYPE:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not accepted; send {JSON_TYPE}."
        )
    # The body's size limit is enforced while it is read (web/limits.py).
    body = await request.body()
    refuse_unknown(request.query_params.keys(), ())
    settings = request.app.state.settings
    checked = await run_in_threadpool(read_void_body, body, max_ids=settings.max_batch_events)
    assert isinstance(token, ServiceToken)  # auth.ACCESS admits nothing else here
    outcome = await run_in_threadpool(
        void, request.app.state.store, checked, Author("api", token.id, token.name)
    )
    return JSONResponse(outcome.result.as_dict())


@router.get(
    "/api/v1/admin/orgs/{orgId}/voids",
    operation_id="listVoids",
    summary="The audit trail of an organization's voids",
    response_model=list[VoidEntryOut],
    responses=error_responses(400, 401, 403, 503),
    dependencies=[Depends(caller), only_parameters()],
    tags=["admin"],
)
def list_voids(orgId: str, request: Request) -> Any:
    """Every voided event of the organization, by voidedAt then eventId (byte order);
    ``[]`` when it has none, known to the directory or not."""
    return JSONResponse(void_entries(request.app.state.store, orgId))
