"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The store is reachable",
    responses={503: {"description": "Store unreachable"}},
)
def readyz(request: Request) -> JSONResponse:
    if request.app.state.store.ping():
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"error": {"status": 503, "code": "unavailable", "message": "The store is unreachable."}},
        status_code=503,
    )
