"""The usage dashboard: sign-in, the usage page, its CSV download, sign-out.

Thin like the API's routes. The page and its CSV read usage with
:func:`~creditmeter.web.routes.export.read_usage`, and the download is the
export API's own answer (:func:`~creditmeter.web.routes.export.answer_export`,
streamed when large), so the page, its download and the API cannot disagree. The page's own
choices (range presets, the chart's metric) are read in
:mod:`creditmeter.web.dashboard.selection`; totals and series are summed in
:mod:`creditmeter.web.dashboard.summary`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from creditmeter import rates
from creditmeter._version import __version__
from creditmeter.credits import format_credits
from creditmeter.dimensions import FILTERS, GROUP_BY
from creditmeter.directory import OrgMembership, PersonalKey
from creditmeter.errors import (
    Forbidden,
    PayloadTooLarge,
    RangeTooLong,
    ServiceError,
    Unauthenticated,
)
from creditmeter.export import ExportQuery, run_export
from creditmeter.ingest import now_us
from creditmeter.pricing import CardRow, card_rows, instant_text, scheduled_changes
from creditmeter.web.auth import count_export_request
from creditmeter.web.dashboard import TEMPLATES, selection, summary
from creditmeter.web.errors import error_response
from creditmeter.web.routes.export import answer_export, read_usage
from creditmeter.web.session import (
    forget,
    from_this_site,
    has_session,
    is_https,
    personal_key,
    remember,
    safe_next,
    signed_in_key,
)
from creditmeter.zones import zone_names

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES)
templates.env.globals["static"] = lambda path: f"/dashboard/static/{path}?v={__version__}"

SIGN_IN_PATH = "/dashboard/sign-in"
#: A sign-in form is a key and a link back; anything much larger is not one.
MAX_FORM_BYTES = 8 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NOTICES = {"signed-out": "You are signed out."}
ERROR_TITLES = {
    400: "This view cannot be shown",
    403: "No access",
    429: "Too many requests",
    503: "Usage is unavailable right now",
}


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def _is_loopback(host: str | None) -> bool:
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _sign_in_page(
    request: Request,
    *,
    next_url: str,
    error: str | None = None,
    status: int = 200,
    error_title: str = "Could not sign in",
) -> Response:
    context = {
        "next": next_url,
        "error": error,
        "error_title": error_title,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "plain_http": not is_https(request) and not _is_loopback(request.url.hostname),
    }
    return _page(request, "sign_in.html", context, status)


def _current_page(request: Request) -> str:
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=302)


@router.get(SIGN_IN_PATH)
def sign_in_page(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"), selection.PAGE_PATH)
    if not has_session(request):
        return _sign_in_page(request, next_url=next_url)
    try:
        signed_in_key(request)
    except ServiceError:
        response = _sign_in_page(request, next_url=next_url)
        forget(response, request)
        return response
    return RedirectResponse(next_url, status_code=303)  # already signed in


async def _form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge("The sign-in form is larger than a sign-in form can be.")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


@router.post(SIGN_IN_PATH)
async def sign_in(request: Request) -> Response:
    """Check the pasted key and keep it in the session cookie; never echo or log it."""
    if not from_this_site(request):
        return _sign_in_page(
            request,
            next_url=selection.PAGE_PATH,
            error="This sign-in did not come from this site's own sign-in page. "
            "Open the sign-in page and try again.",
            status=403,
        )
    form = await _form(request)
    next_url = safe_next(form.get("next"), selection.PAGE_PATH)
    secret = form.get("key", "").strip()
    if not secret:
        return _sign_in_page(
            request,
            next_url=next_url,
            error="Paste your personal API key; it starts with 'cmk_'.",
            status=400,
        )
    try:
        await run_in_threadpool(personal_key, request, secret)
    except (Unauthenticated, Forbidden) as exc:
        response = _sign_in_page(request, next_url=next_url, error=exc.message, status=exc.status)
        forget(response, request)
        return response
    response = RedirectResponse(next_url, status_code=303)
    remember(response, request, secret)
    return response


@router.post("/dashboard/sign-out")
def sign_out(request: Request) -> Response:
    if not from_this_site(request):
        return _sign_in_page(
            request,
            next_url=selection.PAGE_PATH,
            error="This sign-out did not come from this site's own page; you are still "
            "signed in. Use the Sign out button on the dashboard.",
            status=403,
        )
    response = RedirectResponse(f"{SIGN_IN_PATH}?notice=signed-out", status_code=303)
    forget(response, request)
    return response


@router.get(selection.CSV_PATH)
def download(request: Request) -> Response:
    """The export API's answer for the page's selection (CSV for the download button)."""
    try:
        key = signed_in_key(request)
    except ServiceError as exc:
        response = error_response(exc)
        forget(response, request)
        return response
    count_export_request(request, key)
    # The API's own answer: whole when small, streamed when large.
    query, response = answer_export(request, key, request.query_params.multi_items())
    if response.media_type and response.media_type.startswith("text/csv"):
        name = _filename(query, query.org_id or key.org_id)
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _filename(query: ExportQuery, org_id: str) -> str:
    """``usage-ORG-START-END-GROUPBY-WIDTH-ZONE.csv``, safe in any file system."""
    parts = [
        org_id,
        query.start_date.isoformat(),
        query.end_date.isoformat(),
        "+".join(query.group_by),
        query.width,
        query.zone_name,
    ]
    return "-".join(["usage", *(re.sub(r"[^A-Za-z0-9._+-]", "_", part) for part in parts)]) + ".csv"


@router.get(selection.PAGE_PATH)
def usage_page(request: Request) -> Response:
    """The usage page for the selection in the URL, or the sign-in page.

    A URL without ``timeZone`` is answered with a page that reads nothing: its
    script adds the browser's zone to the URL and opens that (see
    ``docs/dashboard.md``), so no usage is ever shown in a zone the person did
    not ask for.
    """
    try:
        key = signed_in_key(request)
    except ServiceError as exc:
        if not has_session(request):
            return RedirectResponse(
                f"{SIGN_IN_PATH}?{urlencode({'next': _current_page(request)})}", status_code=303
            )
        response = _sign_in_page(
            request,
            next_url=_current_page(request),
            error=exc.message,
            status=exc.status,
            error_title="You have been signed out",
        )
        forget(response, request)
        return response
    items = request.query_params.multi_items()
    if selection.needs_zone(items):
        fallback = urlencode([*items, ("timeZone", selection.FALLBACK_ZONE)])
        context = {"fallback_url": f"{selection.PAGE_PATH}?{fallback}"}
        return _page(request, "zone.html", context)
    memberships = request.app.state.directory.memberships_of(key.user_id)
    try:
        return _usage(request, key, memberships)
    except ServiceError as exc:
        org_id = request.query_params.get("orgId") or key.org_id
        context = {
            **_header(key, memberships, org_id, _org_page),
            "error": exc.message,
            "error_title": ERROR_TITLES.get(exc.status, "Something went wrong"),
            "reset_url": selection.PAGE_PATH,
            "by_day_url": _by_day(items) if isinstance(exc, RangeTooLong) else None,
            "utc_url": _in_utc(items) if exc.param == "timeZone" else None,
        }
        return _page(request, "usage.html", context, exc.status)


def _by_day(items: list[tuple[str, str]]) -> str | None:
    """The same URL in day buckets, when it asked for hours (a range too long for them)."""
    if ("bucketWidth", "hour") not in items:
        return None
    changed = [(name, "day" if name == "bucketWidth" else value) for name, value in items]
    return f"{selection.PAGE_PATH}?{urlencode(changed)}"


def _in_utc(items: list[tuple[str, str]]) -> str:
    """The same URL in UTC, for a zone the export does not know (a browser's, perhaps)."""
    changed = [(name, value) for name, value in items if name != "timeZone"]
    return f"{selection.PAGE_PATH}?{urlencode([*changed, ('timeZone', 'UTC')])}"


def _org_page(org_id: str) -> str:
    return f"{selection.PAGE_PATH}?{urlencode({'orgId': org_id})}"


def _header(
    key: PersonalKey, memberships: list[OrgMembership], org_id: str, link: Any
) -> dict[str, Any]:
    names = {m.org_id: m.name for m in memberships}
    return {
        "email": key.email,
        "org_id": org_id,
        "org_name": names.get(org_id, org_id),
        "orgs": [
            {"id": m.org_id, "name": m.name, "role": m.role, "url": link(m.org_id)}
            for m in memberships
        ],
    }


def _filter_options(
    request: Request, key: PersonalKey, query: ExportQuery, chosen: selection.Selection
) -> dict[str, list[dict[str, Any]]]:
    """Each filter's values: those present in the range whatever the filters, and those chosen.

    A run of the same export per dimension, in month buckets (the fewest rows).
    """
    store, directory = request.app.state.store, request.app.state.directory
    options: dict[str, list[dict[str, Any]]] = {}
    for name, column in FILTERS.items():
        asked = replace(query, group_by=(column,), filters={}, bucket_width="month")
        present = run_export(store, directory, key, asked)
        values = {row.values[0] for row in present.rows if row.values[0] is not None}
        chosen_values = set(chosen.filters.get(name, ()))
        options[name] = [
            {"value": value, "checked": value in chosen_values}
            for value in sorted(values | chosen_values)
        ]
    return options


def _usage(request: Request, key: PersonalKey, memberships: list[OrgMembership]) -> Response:
    now = datetime.now(UTC)
    count_export_request(request, key)
    asked = selection.read_url(request.query_params.multi_items(), today=now)
    query, result = read_usage(request, key, asked.export_items, today=now)
    selection.refuse_pages(query)
    chosen = selection.Selection.of(asked, query, result.org_id)
    today = selection.today_in(chosen.time_zone, now)
    max_hourly = request.app.state.settings.max_hourly_range_days
    context = {
        **_header(key, memberships, result.org_id, chosen.org_url),
        **summary.usage_view(result.rows, chosen),
        "sel": chosen,
        "presets": selection.PRESETS,
        "range_urls": {
            preset: chosen.range_url(preset, today=today, max_hourly_days=max_hourly)
            for preset in selection.PRESETS
        },
        "widths": selection.WIDTHS,
        "hours_allowed": chosen.days <= max_hourly,
        "max_hourly": max_hourly,
        "metrics": selection.METRICS,
        "dimensions": {value: summary.DIMENSIONS[value][0] for value in GROUP_BY},
        "split_choices": selection.split_choices(chosen),
        "filter_names": {name: summary.DIMENSIONS[column][0] for name, column in FILTERS.items()},
        "options": _filter_options(request, key, query, chosen),
        "zone_names": sorted(zone_names()),
        "csv_url": chosen.csv_url(),
    }
    return _page(request, "usage.html", context)


# -- credit usage: the rate card of the selected organization ----------------------

CREDIT_USAGE_PATH = "/dashboard/credit-usage"


def _credit_usage_page(org_id: str) -> str:
    return f"{CREDIT_USAGE_PATH}?{urlencode({'orgId': org_id})}"


@router.get(CREDIT_USAGE_PATH)
def credit_usage_page(request: Request) -> Response:
    """The rates that price the organization's events now (``GET /api/v1/rates``'s rows,
    in its order), its own marked, then the changes scheduled ahead."""
    try:
        key = signed_in_key(request)
    except ServiceError:
        return RedirectResponse(
            f"{SIGN_IN_PATH}?{urlencode({'next': _current_page(request)})}", status_code=303
        )
    memberships = request.app.state.directory.memberships_of(key.user_id)
    org_id = request.query_params.get("orgId") or key.org_id
    context: dict[str, Any] = _header(key, memberships, org_id, _credit_usage_page)
    now = now_us()
    context["at"] = instant_text(now)
    try:
        count_export_request(request, key)
        if org_id not in {m.org_id for m in memberships}:
            raise Forbidden(f"You are not a member of the organization '{org_id}'.")
        store = request.app.state.store
        versions = rates.card_versions(store, org_id)
    except ServiceError as exc:
        context["error"] = exc.message
        context["error_title"] = ERROR_TITLES.get(exc.status, "Something went wrong")
        return _page(request, "credit_usage.html", context, exc.status)
    context["rows"] = [_rate_row(row) for row in card_rows(versions, org_id, now)]
    context["changes"] = [_rate_row(row) for _, row in scheduled_changes(versions, org_id, now)]
    return _page(request, "credit_usage.html", context)


def _rate_row(row: CardRow) -> dict[str, Any]:
    version = row.version
    return {
        "product": version.product,
        "feature": version.feature,
        "unit": version.unit,
        "credits_per_unit": format_credits(version.credits_per_unit_micro),
        "effective_from": instant_text(version.effective_from_us),
        "source": row.source,
    }
