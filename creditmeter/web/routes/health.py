"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from creditmeter.web.models import error_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="checkHealth", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="checkReadiness",
    summary="The store is reachable",
    responses=error_responses(503),
)
def readyz(request: Request) -> JSONResponse:
    if request.app.state.store.ping():
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"error": {"status": 503, "code": "unavailable", "message": "The store is unreachable."}},
        status_code=503,
    )
