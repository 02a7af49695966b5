"""``/api/v1/webhooks``: an organization's webhook endpoints and their deliveries.

Thin: the caller and the request are checked in ``web.resource_requests``; the
rules are :class:`creditmeter.webhooks.endpoints.Webhooks`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from creditmeter.web.alert_models import (
    DeliveryOut,
    MessageQueued,
    WebhookCreate,
    WebhookOut,
    WebhookWithSecret,
)
from creditmeter.web.auth import BEARER_REQUIRED
from creditmeter.web.models import error_responses, schema_ref
from creditmeter.web.resource_requests import (
    answer,
    caller,
    collection_org,
    json_body,
    no_parameters,
)
from creditmeter.web.routes.alerts import _ORG_ID
from creditmeter.webhooks.endpoints import Webhooks

WEBHOOKS_PATH = "/api/v1/webhooks"
router = APIRouter(tags=["webhooks"])
_BY_ID = WEBHOOKS_PATH + "/{webhookId}"
_SECURED = {"security": BEARER_REQUIRED}


def _webhooks(request: Request) -> Webhooks:
    return request.app.state.webhooks


@router.get(
    WEBHOOKS_PATH,
    operation_id="listWebhooks",
    summary="List an organization's webhook endpoints, oldest first",
    response_model=list[WebhookOut],
    responses=error_responses(400, 401, 403, 429, 503),
    openapi_extra={"parameters": [_ORG_ID], **_SECURED},
)
async def list_webhooks(request: Request) -> Response:
    def run() -> object:
        who = caller(request)
        return _webhooks(request).list(collection_org(request, who), who.actor)

    return answer(await run_in_threadpool(run))


@router.post(
    WEBHOOKS_PATH,
    operation_id="createWebhook",
    summary="Add a webhook endpoint (owners and admins); the answer holds its secret, once",
    status_code=201,
    response_model=WebhookWithSecret,
    responses=error_responses(400, 401, 403, 409, 413, 415, 429, 503),
    openapi_extra={
        "parameters": [_ORG_ID],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema_ref(WebhookCreate)}},
        },
        **_SECURED,
    },
)
async def create_webhook(request: Request) -> Response:
    who = await run_in_threadpool(caller, request)
    org_id = collection_org(request, who)
    body = await json_body(request)
    endpoint, secret = await run_in_threadpool(_webhooks(request).add, org_id, body, who.actor)
    return answer({**endpoint, "secret": secret}, 201)


@router.get(
    _BY_ID,
    operation_id="getWebhook",
    summary="A webhook endpoint",
    response_model=WebhookOut,
    responses=error_responses(400, 401, 403, 404, 429, 503),
    openapi_extra=_SECURED,
)
async def get_webhook(webhookId: str, request: Request) -> Response:
    def run() -> object:
        who = caller(request)
        no_parameters(request)
        return _webhooks(request).get(webhookId, who.actor)

    return answer(await run_in_threadpool(run))


@router.delete(
    _BY_ID,
    operation_id="deleteWebhook",
    summary="Remove a webhook endpoint and drop its pending messages (owners and admins)",
    status_code=204,
    responses=error_responses(400, 401, 403, 404, 429, 503),
    openapi_extra=_SECURED,
)
async def delete_webhook(webhookId: str, request: Request) -> Response:
    def run() -> None:
        who = caller(request)
        no_parameters(request)
        _webhooks(request).remove(webhookId, who.actor)

    await run_in_threadpool(run)
    return Response(status_code=204)


@router.post(
    _BY_ID + "/rotate",
    operation_id="rotateWebhookSecret",
    summary="A new secret; the previous one also signs for 24 hours (owners and admins)",
    response_model=WebhookWithSecret,
    responses=error_responses(400, 401, 403, 404, 429, 503),
    openapi_extra=_SECURED,
)
async def rotate_webhook(webhookId: str, request: Request) -> Response:
    def run() -> object:
        who = caller(request)
        no_parameters(request)
        endpoint, secret = _webhooks(request).rotate(webhookId, who.actor)
        return {**endpoint, "secret": secret}

    return answer(await run_in_threadpool(run))


@router.post(
    _BY_ID + "/test",
    operation_id="testWebhook",
    summary="Queue a webhook.test message to this endpoint (owners and admins)",
    status_code=202,
    response_model=MessageQueued,
    responses=error_responses(400, 401, 403, 404, 429, 503),
    openapi_extra=_SECURED,
)
async def test_webhook(webhookId: str, request: Request) -> Response:
    def run() -> object:
        who = caller(request)
        no_parameters(request)
        return {"messageId": _webhooks(request).test(webhookId, who.actor)}

    return answer(await run_in_threadpool(run), 202)


@router.get(
    _BY_ID + "/deliveries",
    operation_id="listWebhookDeliveries",
    summary="The endpoint's 100 newest messages, newest first, with their attempts",
    description=(
        "A delivered or failed message is kept `CREDITMETER_WEBHOOK_RETENTION_DAYS` "
        "(default 30) after its last attempt, then removed with its attempts; a pending "
        "one is kept whatever its age."
    ),
    response_model=list[DeliveryOut],
    responses=error_responses(400, 401, 403, 404, 429, 503),
    openapi_extra=_SECURED,
)
async def list_deliveries(webhookId: str, request: Request) -> Response:
    def run() -> object:
        who = caller(request)
        no_parameters(request)
        return _webhooks(request).deliveries(webhookId, who.actor)

    return answer(await run_in_threadpool(run))
