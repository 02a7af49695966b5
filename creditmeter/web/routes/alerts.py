"""``/api/v1/alerts``: an organization's usage alerts (``usage-alerts.md``).

Thin: the caller and the request are checked in ``web.resource_requests``; the
rules are :class:`creditmeter.alert_operations.Alerts`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from creditmeter.alert_operations import Alerts
from creditmeter.web.alert_models import AlertCreate, AlertOut, AlertPatch
from creditmeter.web.auth import BEARER_REQUIRED
from creditmeter.web.models import error_responses, schema_ref
from creditmeter.web.resource_requests import (
    answer,
    caller,
    collection_org,
    json_body,
    no_parameters,
)

ALERTS_PATH = "/api/v1/alerts"
router = APIRouter(tags=["alerts"])
_ORG_ID = {
    "name": "orgId",
    "in": "query",
    "required": False,
    "description": "The organization. Default: the one the key was issued for.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
}


def _body(model: type) -> dict[str, object]:
    return {
        "security": BEARER_REQUIRED,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema_ref(model)}},
        },
    }


def _alerts(request: Request) -> Alerts:
    return request.app.state.alerts


@router.get(
    ALERTS_PATH,
    operation_id="listAlerts",
    summary="List an organization's alerts, oldest first",
    response_model=list[AlertOut],
    responses=error_responses(400, 401, 403, 429, 503),
    openapi_extra={"parameters": [_ORG_ID], "security": BEARER_REQUIRED},
)
async def list_alerts(request: Request) -> Response:
    def run() -> list[object]:
        who = caller(request)
        org_id = collection_org(request, who)
        return [view.document() for view in _alerts(request).list(org_id, who.actor)]

    return answer(await run_in_threadpool(run))


@router.post(
    ALERTS_PATH,
    operation_id="createAlert",
    summary="Create an alert (owners and admins); it is evaluated at once",
    status_code=201,
    response_model=AlertOut,
    responses=error_responses(400, 401, 403, 409, 413, 415, 429, 503),
    openapi_extra={"parameters": [_ORG_ID], **_body(AlertCreate)},
)
async def create_alert(request: Request) -> Response:
    who = await run_in_threadpool(caller, request)
    org_id = collection_org(request, who)
    body = await json_body(request)
    view = await run_in_threadpool(_alerts(request).create, org_id, body, who.actor)
    return answer(view.document(), 201)


@router.get(
    ALERTS_PATH + "/{alertId}",
    operation_id="getAlert",
    summary="An alert, with its current period",
    response_model=AlertOut,
    responses=error_responses(400, 401, 403, 404, 429, 503),
    openapi_extra={"security": BEARER_REQUIRED},
)
async def get_alert(alertId: str, request: Request) -> Response:
    def run() -> object:
        who = caller(request)
        no_parameters(request)
        return _alerts(request).get(alertId, who.actor).document()

    return answer(await run_in_threadpool(run))


@router.patch(
    ALERTS_PATH + "/{alertId}",
    operation_id="updateAlert",
    summary="Change some fields of an alert (owners and admins)",
    response_model=AlertOut,
    responses=error_responses(400, 401, 403, 404, 413, 415, 429, 503),
    openapi_extra=_body(AlertPatch),
)
async def update_alert(alertId: str, request: Request) -> Response:
    who = await run_in_threadpool(caller, request)
    no_parameters(request)
    body = await json_body(request)
    view = await run_in_threadpool(_alerts(request).update, alertId, body, who.actor)
    return answer(view.document())


@router.delete(
    ALERTS_PATH + "/{alertId}",
    operation_id="deleteAlert",
    summary="Delete an alert (owners and admins); messages already made are still sent",
    status_code=204,
    responses=error_responses(400, 401, 403, 404, 429, 503),
    openapi_extra={"security": BEARER_REQUIRED},
)
async def delete_alert(alertId: str, request: Request) -> Response:
    def run() -> None:
        who = caller(request)
        no_parameters(request)
        _alerts(request).delete(alertId, who.actor)

    await run_in_threadpool(run)
    return Response(status_code=204)
