"""The dashboard's Alerts and Webhooks pages: the API's operations behind forms.

Thin like the usage page: the signed-in key acts as its user, through the same
:class:`~creditmeter.alert_operations.Alerts` and
:class:`~creditmeter.webhooks.endpoints.Webhooks` the API calls, so the pages can
never allow what the API refuses. Every form POSTs to this site (the CSRF check of
:func:`~creditmeter.web.session.from_this_site`); a change answers with a redirect
to the page, except a new or rotated secret, which is shown on the answer itself,
once, and never put in a URL.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from creditmeter.alert_operations import Alerts
from creditmeter.alerts import METRICS, PERIODS
from creditmeter.directory import PersonalKey
from creditmeter.errors import Forbidden, ServiceError
from creditmeter.org_access import WRITERS, Actor
from creditmeter.web.auth import count_export_request
from creditmeter.web.routes.dashboard import SIGN_IN_PATH, _form, _page
from creditmeter.web.session import from_this_site, signed_in_key
from creditmeter.webhooks.endpoints import Webhooks

router = APIRouter(include_in_schema=False)
ALERTS_PAGE = "/dashboard/alerts"
WEBHOOKS_PAGE = "/dashboard/webhooks"
FILTER_FIELDS = {"product": "Products", "feature": "Features", "apiKey": "API keys",
                 "fileType": "File types"}  # fmt: skip
NOTICES = {
    "created": "The alert was created.",
    "enabled": "The alert is enabled.",
    "disabled": "The alert is disabled.",
    "deleted": "Deleted.",
    "queued": "A webhook.test message is on its way.",
}
#: Messages of each endpoint the page lists.
DELIVERIES_SHOWN = 10


def _alerts(request: Request) -> Alerts:
    return request.app.state.alerts


def _webhooks(request: Request) -> Webhooks:
    return request.app.state.webhooks


def _signed_in(request: Request) -> PersonalKey | Response:
    try:
        key = signed_in_key(request)
    except ServiceError:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{SIGN_IN_PATH}?{urlencode({'next': target})}", status_code=303)
    count_export_request(request, key)
    return key


def _header(request: Request, key: PersonalKey, org_id: str) -> dict[str, Any]:
    memberships = request.app.state.directory.memberships_of(key.user_id)
    role = next((m.role for m in memberships if m.org_id == org_id), None)
    name = next((m.name for m in memberships if m.org_id == org_id), org_id)
    return {
        "email": key.email,
        "org_id": org_id,
        "org_name": name,
        "can_write": role in WRITERS,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }


def _back(page: str, org_id: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{page}?{urlencode({'orgId': org_id, 'notice': notice})}", 303)


def _threshold(text: str) -> Any:
    try:
        value = json.loads(text.strip(), parse_float=Decimal)
    except ValueError:
        return text
    return value if isinstance(value, int | Decimal) and not isinstance(value, bool) else text


def _alert_body(form: dict[str, str]) -> dict[str, Any]:
    filters = {
        name: [value.strip() for value in form[name].split(",") if value.strip()]
        for name in FILTER_FIELDS
        if form.get(name, "").strip()
    }
    return {
        "name": form.get("name", ""),
        "metric": form.get("metric", ""),
        "threshold": _threshold(form.get("threshold", "")),
        "period": form.get("period", ""),
        "timeZone": form.get("timeZone") or "UTC",
        "filters": filters,
    }


def _alerts_page(
    request: Request,
    key: PersonalKey,
    org_id: str,
    *,
    form: dict[str, str] | None = None,
    error: ServiceError | None = None,
) -> Response:
    context = _header(request, key, org_id)
    status = 200
    try:
        views = _alerts(request).list(org_id, Actor(key.user_id))
        context["alerts"] = [view.document() for view in views]
    except ServiceError as exc:
        error, context["alerts"], context["can_write"] = exc, [], False
    if error is not None:
        status = error.status
        context["error"] = error.message
    context.update(form=form or {}, metrics=METRICS, periods=PERIODS, filter_names=FILTER_FIELDS)
    return _page(request, "alerts.html", context, status)


@router.get(ALERTS_PAGE)
async def alerts_page(request: Request) -> Response:
    key = await run_in_threadpool(_signed_in, request)
    if isinstance(key, Response):
        return key
    org_id = request.query_params.get("orgId") or key.org_id
    return await run_in_threadpool(_alerts_page, request, key, org_id)


def _refused(request: Request) -> Response | None:
    if from_this_site(request):
        return None
    error = Forbidden("This form did not come from this site's own page; nothing was changed.")
    return Response(error.message, status_code=403, media_type="text/plain")


@router.post(ALERTS_PAGE)
async def create_alert(request: Request) -> Response:
    if (refusal := _refused(request)) is not None:
        return refusal
    key = await run_in_threadpool(_signed_in, request)
    if isinstance(key, Response):
        return key
    org_id = request.query_params.get("orgId") or key.org_id
    form = await _form(request)
    try:
        await run_in_threadpool(
            _alerts(request).create, org_id, _alert_body(form), Actor(key.user_id)
        )
    except ServiceError as exc:
        return await run_in_threadpool(_alerts_page, request, key, org_id, form=form, error=exc)
    return _back(ALERTS_PAGE, org_id, "created")


@router.post(ALERTS_PAGE + "/{alert_id}/{action}")
async def change_alert(alert_id: str, action: str, request: Request) -> Response:
    if (refusal := _refused(request)) is not None:
        return refusal
    key = await run_in_threadpool(_signed_in, request)
    if isinstance(key, Response):
        return key
    org_id = request.query_params.get("orgId") or key.org_id
    actor = Actor(key.user_id)
    try:
        if action == "delete":
            await run_in_threadpool(_alerts(request).delete, alert_id, actor)
            return _back(ALERTS_PAGE, org_id, "deleted")
        if action in ("enable", "disable"):
            body = {"enabled": action == "enable"}
            await run_in_threadpool(_alerts(request).update, alert_id, body, actor)
            return _back(ALERTS_PAGE, org_id, f"{action}d")
    except ServiceError as exc:
        return await run_in_threadpool(_alerts_page, request, key, org_id, error=exc)
    return Response("Unknown action.", status_code=404, media_type="text/plain")


def _webhooks_page(
    request: Request,
    key: PersonalKey,
    org_id: str,
    *,
    form: dict[str, str] | None = None,
    error: ServiceError | None = None,
    secret: dict[str, str] | None = None,
) -> Response:
    context = _header(request, key, org_id)
    actor = Actor(key.user_id)
    status = 200
    try:
        endpoints = _webhooks(request).list(org_id, actor)
        for endpoint in endpoints:
            found = _webhooks(request).deliveries(endpoint["id"], actor)
            endpoint["deliveries"] = found[:DELIVERIES_SHOWN]
        context["endpoints"] = endpoints
    except ServiceError as exc:
        error, context["endpoints"], context["can_write"] = exc, [], False
    if error is not None:
        status = error.status
        context["error"] = error.message
    context.update(form=form or {}, secret=secret)
    context["retention_days"] = request.app.state.settings.webhook_retention_days
    response = _page(request, "webhooks.html", context, status)
    return response


@router.get(WEBHOOKS_PAGE)
async def webhooks_page(request: Request) -> Response:
    key = await run_in_threadpool(_signed_in, request)
    if isinstance(key, Response):
        return key
    org_id = request.query_params.get("orgId") or key.org_id
    return await run_in_threadpool(_webhooks_page, request, key, org_id)


@router.post(WEBHOOKS_PAGE)
async def add_webhook(request: Request) -> Response:
    if (refusal := _refused(request)) is not None:
        return refusal
    key = await run_in_threadpool(_signed_in, request)
    if isinstance(key, Response):
        return key
    org_id = request.query_params.get("orgId") or key.org_id
    form = await _form(request)
    body = {"url": form.get("url", ""), "description": form.get("description") or None}
    try:
        endpoint, secret = await run_in_threadpool(
            _webhooks(request).add, org_id, body, Actor(key.user_id)
        )
    except ServiceError as exc:
        return await run_in_threadpool(_webhooks_page, request, key, org_id, form=form, error=exc)
    shown = {"url": endpoint["url"], "value": secret}
    return await run_in_threadpool(_webhooks_page, request, key, org_id, secret=shown)


@router.post(WEBHOOKS_PAGE + "/{webhook_id}/{action}")
async def change_webhook(webhook_id: str, action: str, request: Request) -> Response:
    if (refusal := _refused(request)) is not None:
        return refusal
    key = await run_in_threadpool(_signed_in, request)
    if isinstance(key, Response):
        return key
    org_id = request.query_params.get("orgId") or key.org_id
    actor = Actor(key.user_id)
    webhooks = _webhooks(request)
    try:
        if action == "delete":
            await run_in_threadpool(webhooks.remove, webhook_id, actor)
            return _back(WEBHOOKS_PAGE, org_id, "deleted")
        if action == "test":
            await run_in_threadpool(webhooks.test, webhook_id, actor)
            return _back(WEBHOOKS_PAGE, org_id, "queued")
        if action == "rotate":
            endpoint, secret = await run_in_threadpool(webhooks.rotate, webhook_id, actor)
            shown = {"url": endpoint["url"], "value": secret}
            return await run_in_threadpool(_webhooks_page, request, key, org_id, secret=shown)
    except ServiceError as exc:
        return await run_in_threadpool(_webhooks_page, request, key, org_id, error=exc)
    return Response("Unknown action.", status_code=404, media_type="text/plain")
