"""The usage dashboard over plain HTTP: sign-in, its cookie and CSRF rules, the page, its CSV.

The same pages in a real browser are in ``tests/browser/``; these run on both
stores and pin what a browser cannot see: headers, cookie attributes, status
codes, and that the page's numbers and CSV are the export API's.
"""

from __future__ import annotations

import html
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import pytest

from creditmeter import demo
from creditmeter.credits import to_micro
from creditmeter.errors import DuplicateParameter, InvalidParameter
from creditmeter.rendering import ExportRow
from creditmeter.web.dashboard import STATIC, selection, summary
from creditmeter.web.session import COOKIE, SECURE_COOKIE
from tests.conftest import Service, Tenant

ROOT = Path(__file__).resolve().parent.parent
EXPORT = "/api/v1/usage/export"
_ROW = re.compile(
    r'<tr data-group="([^"]*)" data-null="(true|false)"\s+'
    r'data-credits="([^"]*)" data-requests="([^"]*)">'
)
_SWATCH = re.compile(
    r'<tr data-group="([^"]*)" data-null="(true|false)".*?class="swatch".*?fill="([^"]*)"', re.S
)
_SPLIT_ROW = re.compile(
    r'<tr class="split-row" data-values="([^"]*)"\s+'
    r'data-credits="([^"]*)" data-requests="([^"]*)">'
)
_CHART = re.compile(r'<script type="application/json" id="chart-data">(.*?)</script>', re.S)
_clients: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def browser(service: Service, **headers: str) -> httpx.Client:
    """A cookie-keeping client that does not follow redirects, like a browser's first hop."""
    client = httpx.Client(base_url=service.url, timeout=30, headers=headers)
    _clients.append(client)
    return client


def sign_in(service: Service, secret: str) -> httpx.Client:
    client = browser(service)
    answer = client.post(
        "/dashboard/sign-in", data={"key": secret}, headers={"Origin": service.url}
    )
    assert answer.status_code == 303, answer.text
    return client


def sets_no_session(answer: httpx.Response) -> bool:
    """The answer sets no cookie, or deletes it (an immediate expiry)."""
    cookie = answer.headers.get("set-cookie")
    return cookie is None or "max-age=0" in cookie.lower()


def _today() -> date:
    return datetime.now(UTC).date()


def _at(day: date, hour: int = 12) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def seeded(tenant: Tenant) -> Tenant:
    """Usage on the last three days, with a null file type and exact fractions."""
    today = _today()
    events = []
    for back, (product, file_type, credits) in enumerate(
        [("parse", "pdf", "1.5"), ("extract", None, "2.25"), ("parse", "docx", "0.1")] * 3
    ):
        day = today - timedelta(days=back // 3)
        events.append(
            {
                "id": f"e{back}",
                "timestamp": _at(day, 8 + back),
                "product": product,
                "feature": "standard",
                "apiKey": "key_prod",
                "credits": float(credits),
                **({"fileType": file_type} if file_type else {}),
            }
        )
    tenant.record(events)
    return tenant


def page_rows(text: str) -> dict[str | None, tuple[Decimal, int]]:
    rows = {}
    for group, null, credits, requests in _ROW.findall(text):
        key = None if null == "true" else html.unescape(group)
        rows[key] = (Decimal(credits), int(requests))
    return rows


def api_totals(document: dict[str, Any]) -> dict[str | None, tuple[Decimal, int]]:
    sums: dict[str | None, tuple[Decimal, int]] = {}
    for row in document["data"]:
        credits, requests = sums.get(row["group"], (Decimal(0), 0))
        sums[row["group"]] = (credits + row["credits"], requests + row["requestCount"])
    return sums


# -- redirects and sign-in ---------------------------------------------------------------


def test_root_and_dashboard_lead_a_signed_out_visitor_to_sign_in(service: Service) -> None:
    client = browser(service)
    assert client.get("/").headers["location"] == "/dashboard"
    answer = client.get("/dashboard?groupBy=feature&range=7d")
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        "/dashboard/sign-in?next=%2Fdashboard%3FgroupBy%3Dfeature%26range%3D7d"
    )
    page = client.get(answer.headers["location"])
    assert page.status_code == 200
    assert 'name="next" value="/dashboard?groupBy=feature&amp;range=7d"' in page.text


def test_sign_in_sets_an_httponly_lax_session_cookie_and_never_echoes_the_key(
    service: Service, tenant: Tenant
) -> None:
    client = browser(service)
    answer = client.post(
        "/dashboard/sign-in",
        data={"key": tenant.key, "next": "/dashboard?range=7d"},
        headers={"Origin": service.url},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard?range=7d"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={tenant.key};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert not any(a.startswith(("expires", "max-age", "domain")) for a in attributes)
    assert "secure" not in attributes  # plain http; see test_over_https_…
    page = client.get("/dashboard?timeZone=UTC")
    assert page.status_code == 200
    assert tenant.key not in page.text
    assert tenant.email in page.text


def test_over_https_the_cookie_is_secure_and_host_prefixed(
    service: Service, tenant: Tenant
) -> None:
    # The test server trusts X-Forwarded-Proto from 127.0.0.1, as behind a TLS proxy.
    https = {"X-Forwarded-Proto": "https", "Origin": "https://" + service.url.split("//")[1]}
    answer = browser(service).post("/dashboard/sign-in", data={"key": tenant.key}, headers=https)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SECURE_COOKIE}=")
    assert "secure" in cookie.lower() and "httponly" in cookie.lower()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},
        {"Referer": "https://attacker.example/page"},
    ],
    ids=["no-origin", "other-origin", "null-origin", "other-referer"],
)
def test_sign_in_from_another_site_is_refused(
    service: Service, tenant: Tenant, headers: dict[str, str]
) -> None:
    answer = browser(service).post("/dashboard/sign-in", data={"key": tenant.key}, headers=headers)
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers
    assert "did not come from this site" in answer.text


def test_sign_in_accepts_the_referer_when_origin_is_absent(
    service: Service, tenant: Tenant
) -> None:
    answer = browser(service).post(
        "/dashboard/sign-in",
        data={"key": tenant.key},
        headers={"Referer": f"{service.url}/dashboard/sign-in"},
    )
    assert answer.status_code == 303


@pytest.mark.parametrize(
    "target",
    ["https://attacker.example/", "//attacker.example/dashboard", "/api/v1/usage/export", "/\\x"],
)
def test_sign_in_never_redirects_off_the_dashboard(
    service: Service, tenant: Tenant, target: str
) -> None:
    answer = browser(service).post(
        "/dashboard/sign-in",
        data={"key": tenant.key, "next": target},
        headers={"Origin": service.url},
    )
    assert answer.headers["location"] == "/dashboard"


def test_sign_in_with_a_bad_key_explains_and_sets_no_cookie(
    service: Service, tenant: Tenant
) -> None:
    _, token = service.directory.create_token("robot", ["usage:write"])
    cases = {
        "": (400, "Paste your personal API key"),
        "cmk_wrong": (401, "The API key is not valid"),
        "hello": (401, "personal keys start with &#39;cmk_&#39;"),
        token: (403, "That is a service token"),
    }
    for secret, (status, message) in cases.items():
        answer = browser(service).post(
            "/dashboard/sign-in", data={"key": secret}, headers={"Origin": service.url}
        )
        assert answer.status_code == status, secret
        assert message in answer.text, answer.text
        assert not secret or secret not in answer.text
        assert sets_no_session(answer)


def test_a_revoked_key_signs_the_browser_out_with_the_reason(
    service: Service, tenant: Tenant
) -> None:
    client = sign_in(service, tenant.key)
    assert client.get("/dashboard").status_code == 200
    service.directory.revoke_key(tenant.key_id)
    page = client.get("/dashboard")
    assert page.status_code == 401
    assert "API key was revoked; create a new one." in page.text
    assert 'action="/dashboard/sign-in"' in page.text
    assert page.headers["set-cookie"].startswith(f"{COOKIE}=")
    assert sets_no_session(page)


def test_an_expired_key_cannot_sign_in(service: Service, tenant: Tenant) -> None:
    _, secret = service.directory.create_key(
        tenant.user_id, tenant.org_id, expires_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    answer = browser(service).post(
        "/dashboard/sign-in", data={"key": secret}, headers={"Origin": service.url}
    )
    assert answer.status_code == 401
    assert re.search(
        r"API key expired at 2020-01-01T00:00:00(Z|\+00:00); create a new one", answer.text
    )


def test_sign_out_clears_the_cookie_only_from_this_site(service: Service, tenant: Tenant) -> None:
    client = sign_in(service, tenant.key)
    refused = client.post("/dashboard/sign-out", headers={"Origin": "https://attacker.example"})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    assert client.get("/dashboard").status_code == 200
    answer = client.post("/dashboard/sign-out", headers={"Origin": service.url})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/sign-in?notice=signed-out"
    assert "set-cookie" in answer.headers and sets_no_session(answer)
    assert client.get("/dashboard").status_code == 303
    assert "You are signed out." in client.get(answer.headers["location"]).text


def test_dashboard_routes_are_not_in_the_api_document(service: Service) -> None:
    paths = browser(service).get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path == "/" or path.startswith("/dashboard")]


# -- the page ------------------------------------------------------------------------------


def test_page_totals_equal_the_export_apis_sums_for_the_same_selection(
    service: Service, tenant: Tenant
) -> None:
    seeded(tenant)
    client = sign_in(service, tenant.key)
    for query, params in [
        ("range=7d", {}),
        ("range=7d&groupBy=file_type", {"groupBy": "file_type"}),
        ("range=7d&groupBy=product&product=parse", {"product": "parse"}),
    ]:
        page = client.get(f"/dashboard?{query}&timeZone=UTC")
        assert page.status_code == 200, page.text
        start = (_today() - timedelta(days=6)).isoformat()
        answer = tenant.export(startDate=start, endDate=_today().isoformat(), **params)
        document = answer.json(parse_float=Decimal)
        assert page_rows(page.text) == api_totals(document)
    file_types = page_rows(client.get("/dashboard?range=7d&groupBy=file_type&timeZone=UTC").text)
    assert file_types[None] == (Decimal("6.75"), 3)
    assert file_types["docx"] == (Decimal("0.3"), 3)


def test_page_and_api_reject_the_same_parameters_with_the_same_message(
    service: Service, tenant: Tenant
) -> None:
    client = sign_in(service, tenant.key)
    for query in ["start_date=2026-01-01", "groupBy=Product", "startDate=2026-02-30"]:
        page = client.get(f"/dashboard?{query}&timeZone=UTC")
        api = tenant.reader.get(f"{EXPORT}?{query}")
        assert page.status_code == api.status_code == 400
        assert api.json()["error"]["message"] in html.unescape(page.text)
    other = client.get("/dashboard?orgId=org_nobody_knows&timeZone=UTC")
    assert other.status_code == 403
    assert "You are not a member of the organization" in other.text
    bad = client.get("/dashboard?range=fortnight&metric=pounds&timeZone=UTC")
    assert bad.status_code == 400 and "is not a metric" in bad.text


def test_the_page_shows_whole_ranges_and_refuses_the_apis_pages(
    service: Service, tenant: Tenant
) -> None:
    client = sign_in(service, tenant.key)
    for query, param in [("limit=10", "limit"), ("limit=10&page=abc", "page")]:
        api = tenant.reader.get(f"{EXPORT}?{query}")
        page = client.get(f"/dashboard?{query}&timeZone=UTC")
        assert page.status_code == 400
        if api.status_code == 400:  # a bad cursor: the API's own refusal comes first
            assert api.json()["error"]["message"] in html.unescape(page.text)
        else:
            assert "the dashboard always shows the whole range" in page.text
            assert param == "limit"
    # The API's checks come first: a misspelt name is named before the page's own rule.
    page = client.get("/dashboard?limit=10&start_date=2026-01-01&timeZone=UTC")
    assert "Unknown query parameter &#39;start_date&#39;" in page.text


def test_the_page_escapes_group_values_in_html_and_in_the_chart_data(
    service: Service, tenant: Tenant
) -> None:
    evil = '</script><script>alert("x")</script>'
    tenant.record([{"id": "x1", "timestamp": _at(_today()), "product": evil, "credits": 1}])
    page = sign_in(service, tenant.key).get("/dashboard?range=7d&timeZone=UTC")
    assert page.status_code == 200
    assert evil not in page.text
    assert "&lt;/script&gt;&lt;script&gt;" in page.text  # the table and filter
    assert "\\u003c/script\\u003e" in page.text  # the chart's JSON


def page_colours(text: str) -> dict[str | None, str]:
    """Each group's colour on the page, the same in the table's swatch and the chart's series."""
    table = {
        None if null == "true" else html.unescape(group): colour
        for group, null, colour in _SWATCH.findall(text)
    }
    match = _CHART.search(text)
    assert match is not None
    chart = {series["label"]: series["colour"] for series in json.loads(match.group(1))["series"]}
    assert chart == {("No API key" if group is None else group): c for group, c in table.items()}
    return table


def test_a_group_keeps_its_colour_whatever_its_rank(service: Service, tenant: Tenant) -> None:
    today, earlier = _today(), _today() - timedelta(days=20)
    usage = [(today, "key_a", 5), (today, "key_b", 1), (today, None, 2)]
    usage += [(earlier, "key_b", 50), (earlier, "key_c", 10)]
    tenant.record(
        [
            {
                "id": f"c{n}",
                "timestamp": _at(day),
                "product": "parse",
                "credits": credits,
                **({"apiKey": key} if key else {}),
            }
            for n, (day, key, credits) in enumerate(usage)
        ]
    )
    client = sign_in(service, tenant.key)
    views = [
        page_colours(client.get(f"/dashboard?groupBy=api_key&timeZone=UTC&{query}").text)
        for query in ("range=7d", "range=30d", "range=30d&apiKey=key_a&apiKey=key_c")
    ]
    # key_a ranks first, then third, then second; key_b first, then second.
    assert [list(view) for view in views] == [
        ["key_a", None, "key_b"],
        ["key_b", "key_c", "key_a", None],
        ["key_c", "key_a"],
    ]
    for group in ("key_a", "key_b", "key_c", None):
        assert len({view[group] for view in views if group in view}) == 1, group
    assert views[0]["key_a"] == summary.colour_of("key_a")
    assert views[1][None] == summary.NULL_COLOUR


def test_the_demos_values_of_each_dimension_have_distinct_colours() -> None:
    features = {feature for features in demo.PRODUCTS.values() for feature in features}
    file_types = {file_type for file_type in demo.FILE_TYPES if file_type is not None}
    for values in (set(demo.PRODUCTS), features, file_types):
        assert len({summary.colour_of(value) for value in values}) == len(values), values
    for org in demo.ORGS:
        keys = org.product_keys
        assert len({summary.colour_of(key) for key in keys}) == len(keys), keys


def test_pages_forbid_framing_inline_scripts_and_caching(service: Service, tenant: Tenant) -> None:
    client = sign_in(service, tenant.key)
    pages = ("/dashboard?timeZone=UTC", "/dashboard")  # the usage page and the zone finder
    answers = [client.get(path) for path in pages] + [browser(service).get("/dashboard/sign-in")]
    for answer in answers:
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert answer.headers["cache-control"] == "no-store"
        assert "<script>" not in answer.text  # no inline script: only src= and JSON data


def test_the_org_switcher_lists_every_membership(service: Service, tenant: Tenant) -> None:
    other = service.directory.create_org("Second Org")
    service.directory.set_membership(other.id, tenant.user_id, "member")
    page = sign_in(service, tenant.key).get(f"/dashboard?orgId={other.id}&timeZone=UTC")
    assert page.status_code == 200
    assert f'data-org="{tenant.org_id}"' in page.text
    assert f'data-org="{other.id}" aria-current="page"' in page.text
    assert "Second Org" in page.text


def test_a_page_view_counts_against_the_keys_export_rate_limit(make_service: Any) -> None:
    service = make_service(export_rate_limit=1)
    tenant = service.tenant()
    client = sign_in(service, tenant.key)
    assert client.get("/dashboard").status_code == 200  # the zone finder reads no usage
    assert client.get("/dashboard?timeZone=UTC").status_code == 200
    page = client.get("/dashboard?timeZone=UTC")
    assert page.status_code == 429
    assert "too many export requests" in page.text


# -- the CSV download ----------------------------------------------------------------------


def test_download_is_the_export_apis_csv_byte_for_byte(service: Service, tenant: Tenant) -> None:
    seeded(tenant)
    client = sign_in(service, tenant.key)
    page = client.get(
        "/dashboard?range=7d&groupBy=file_type&product=parse&product=extract&timeZone=UTC"
    )
    link = html.unescape(re.search(r'id="download-csv" href="([^"]+)"', page.text).group(1))
    assert link.startswith("/dashboard/export?")
    download = client.get(link)
    assert download.status_code == 200
    api = tenant.reader.get(EXPORT + link.removeprefix("/dashboard/export"))
    assert download.content == api.content
    assert download.content.count(b"\r\n") == 1 + 9  # the header, 3 days x 3 groups
    assert download.headers["content-type"] == api.headers["content-type"]
    assert download.headers["content-disposition"].startswith(
        f'attachment; filename="usage-{tenant.org_id}-'
    )
    as_json = client.get(link.replace("format=csv", "format=json"))
    assert as_json.content == tenant.reader.get(EXPORT, params=as_json.request.url.params).content


def test_a_large_download_is_the_apis_streamed_csv_byte_for_byte(
    service: Service, tenant: Tenant
) -> None:
    # Two events an hour for 31 days, one per product: 1,486 hour rows, past the
    # 1,000 rows after which the API streams its answer.
    first = datetime(2026, 3, 1, tzinfo=UTC)
    events = [
        {
            "id": f"h{n}",
            "timestamp": (first + timedelta(minutes=30 * n)).isoformat(),
            "product": ("parse", "extract")[n % 2],
            "credits": 0.5,
        }
        for n in range(31 * 48)
    ]
    for batch in range(0, len(events), 500):
        tenant.record(events[batch : batch + 500])
    client = sign_in(service, tenant.key)
    page = client.get(
        "/dashboard?startDate=2026-03-01&endDate=2026-03-31&timeZone=Europe/London&bucketWidth=hour"
    )
    assert page.status_code == 200, page.text
    # London's clocks went forward on 2026-03-29: 743 local hours, the last UTC hour
    # (00:00 on 1 April there) outside.
    assert page_rows(page.text) == {
        "parse": (Decimal("371.5"), 743),
        "extract": (Decimal("371.5"), 743),
    }
    link = html.unescape(re.search(r'id="download-csv" href="([^"]+)"', page.text).group(1))
    api = tenant.reader.get(EXPORT + link.removeprefix("/dashboard/export"))
    assert api.headers.get("transfer-encoding") == "chunked"  # the API streamed it
    download = client.get(link)
    assert download.status_code == 200
    assert download.content == api.content
    assert download.content.count(b"\r\n") == 1 + 743 * 2


def test_download_without_a_session_is_the_apis_401(service: Service) -> None:
    answer = browser(service).get("/dashboard/export?format=csv")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


# -- time zones, bucket widths, a split table -------------------------------------------------

#: Usage around Berlin's fall-back night (2026-10-25, 03:00 CEST → 02:00 CET), in UTC instants.
FALL_BACK = [
    ("2026-10-24T23:30:00Z", "parse", "standard", "1.5"),  # 01:30+02:00 on the 25th in Berlin
    ("2026-10-25T00:30:00Z", "parse", "agentic", "2"),  # 02:30+02:00
    ("2026-10-25T01:30:00Z", "extract", "standard", "0.25"),  # 02:30+01:00, the hour again
    ("2026-10-25T01:45:00Z", "parse", "agentic", "0.5"),  # 02:45+01:00
    ("2026-10-25T22:59:59Z", "parse", None, "0.1"),  # 23:59:59+01:00
    ("2026-10-25T23:00:00Z", "edit", "fill", "3"),  # 00:00 on the 26th in Berlin
]
DAY = {"startDate": "2026-10-25", "endDate": "2026-10-25"}
BERLIN_DAY = "startDate=2026-10-25&endDate=2026-10-25&timeZone=Europe%2FBerlin"


def fall_back(tenant: Tenant) -> Tenant:
    tenant.record(
        [
            {
                "id": f"fb{n}",
                "timestamp": at,
                "product": product,
                "credits": float(credits),
                **({"feature": feature} if feature else {}),
            }
            for n, (at, product, feature, credits) in enumerate(FALL_BACK)
        ]
    )
    return tenant


def split_rows(text: str) -> dict[tuple[str | None, ...], tuple[Decimal, int]]:
    """The split table's rows: (group, split values…) → credits and requests."""
    rows = {}
    for values, credits, requests in _SPLIT_ROW.findall(text):
        rows[tuple(json.loads(html.unescape(values)))] = (Decimal(credits), int(requests))
    return rows


def chart_of(text: str) -> dict[str, Any]:
    match = _CHART.search(text)
    assert match is not None
    return json.loads(match.group(1))


def test_a_url_without_a_time_zone_reads_nothing_and_asks_the_browser(
    service: Service, tenant: Tenant
) -> None:
    fall_back(tenant)
    client = sign_in(service, tenant.key)
    page = client.get("/dashboard?groupBy=feature&range=7d")
    assert page.status_code == 200
    assert '<script src="/dashboard/static/zone.js' in page.text
    assert "data-credits" not in page.text and "chart-data" not in page.text
    # Without scripts, the page goes on in UTC.
    fallback = "/dashboard?groupBy=feature&amp;range=7d&amp;timeZone=UTC"
    assert f'<meta http-equiv="refresh" content="0; url={fallback}">' in page.text
    assert f'href="{fallback}" id="zone-fallback"' in page.text
    script = client.get("/dashboard/static/zone.js").text
    assert "resolvedOptions().timeZone" in script and "location.replace" in script


def test_the_page_shows_local_days_of_its_zone_as_the_api_does(
    service: Service, tenant: Tenant
) -> None:
    fall_back(tenant)
    client = sign_in(service, tenant.key)
    # 2026-10-25 holds different events in each zone: its local date decides.
    expected = {
        "UTC": {
            "parse": (Decimal("2.6"), 3),
            "extract": (Decimal("0.25"), 1),
            "edit": (Decimal("3"), 1),
        },
        "Europe/Berlin": {"parse": (Decimal("4.1"), 4), "extract": (Decimal("0.25"), 1)},
        "Asia/Kolkata": {"parse": (Decimal("4.0"), 3), "extract": (Decimal("0.25"), 1)},
        "America/New_York": {"parse": (Decimal("0.1"), 1), "edit": (Decimal("3"), 1)},
    }
    for zone, totals in expected.items():
        page = client.get("/dashboard", params={"timeZone": zone, "range": "custom", **DAY})
        assert page.status_code == 200, page.text
        assert page_rows(page.text) == totals, zone
        api = tenant.export(timeZone=zone, **DAY)
        assert page_rows(page.text) == api_totals(api.json(parse_float=Decimal))
        assert f'<span id="zone-shown">{zone}</span>' in page.text
        assert f"Days are those of the clock in\n    {zone}." in page.text


def test_hour_buckets_on_a_fall_back_day_equal_the_apis_rows(
    service: Service, tenant: Tenant
) -> None:
    fall_back(tenant)
    client = sign_in(service, tenant.key)
    page = client.get(f"/dashboard?{BERLIN_DAY}&bucketWidth=hour")
    assert page.status_code == 200, page.text
    chart = chart_of(page.text)
    assert chart["width"] == "hour" and len(chart["starts"]) == 25
    api = tenant.export(
        startDate="2026-10-25", endDate="2026-10-25", timeZone="Europe/Berlin", bucketWidth="hour"
    ).json(parse_float=Decimal)
    # Every API row lands in the chart bar of its own start, for its group.
    drawn: dict[tuple[str, str], Decimal] = {}
    for series in chart["series"]:
        for start, credits in zip(chart["starts"], series["credits"], strict=True):
            if credits:
                drawn[(start, series["label"])] = Decimal(str(credits))
    assert drawn == {
        (row["start"], "No product" if row["group"] is None else row["group"]): row["credits"]
        for row in api["data"]
    }
    assert drawn == {
        ("2026-10-25T01:00:00+02:00", "parse"): Decimal("1.5"),
        ("2026-10-25T02:00:00+02:00", "parse"): Decimal("2"),
        ("2026-10-25T02:00:00+01:00", "extract"): Decimal("0.25"),
        ("2026-10-25T02:00:00+01:00", "parse"): Decimal("0.5"),
        ("2026-10-25T23:00:00+01:00", "parse"): Decimal("0.1"),
    }
    assert re.search(r'id="busiest">Sun 25 Oct, 02:00 \(UTC\+02:00\)<', page.text)
    assert 'data-width="hour" aria-current="true"' in page.text
    assert "Credits per hour by product" in page.text


def test_hours_are_offered_up_to_the_servers_hourly_maximum(
    service: Service, tenant: Tenant
) -> None:
    client = sign_in(service, tenant.key)
    most = service.settings.max_hourly_range_days
    longer = client.get("/dashboard?range=90d&timeZone=UTC&bucketWidth=day")
    assert re.search(r'<span class="disabled" data-width="hour" aria-disabled="true"', longer.text)
    hourly = client.get("/dashboard?range=7d&timeZone=UTC&bucketWidth=hour")
    link = re.search(r'<a href="([^"]*)" data-range="90d"', hourly.text)
    assert link is not None and "bucketWidth=day" in html.unescape(link[1])
    link = re.search(r'<a href="([^"]*)" data-range="30d"', hourly.text)
    assert link is not None and "bucketWidth=hour" in html.unescape(link[1])
    # Asked for anyway: the API's own refusal, and a way on by day.
    query = "startDate=2026-01-01&endDate=2026-02-01&timeZone=UTC&bucketWidth=hour"
    page = client.get(f"/dashboard?{query}")
    api = tenant.reader.get(f"{EXPORT}?{query}")
    assert page.status_code == api.status_code == 400
    assert api.json()["error"]["code"] == "range_too_long"
    assert api.json()["error"]["message"] in html.unescape(page.text)
    assert f"{most} days" in api.json()["error"]["message"]
    by_day = re.search(r'<a class="button" href="([^"]*)" id="show-by-day">', page.text)
    assert by_day is not None
    assert client.get(html.unescape(by_day[1])).status_code == 200


def test_a_bad_zone_is_the_apis_400_with_its_suggestion(service: Service, tenant: Tenant) -> None:
    client = sign_in(service, tenant.key)
    for zone in ("europe/berlin", "Kolkata", "+05:30"):
        page = client.get("/dashboard", params={"timeZone": zone})
        api = tenant.reader.get(EXPORT, params={"timeZone": zone})
        assert page.status_code == api.status_code == 400
        assert api.json()["error"]["param"] == "timeZone"
        assert api.json()["error"]["message"] in html.unescape(page.text)
    page = client.get("/dashboard?groupBy=feature&timeZone=europe/berlin")
    assert "Did you mean &#39;Europe/Berlin&#39;?" in page.text
    utc = re.search(r'<a class="button" href="([^"]*)" id="show-in-utc">', page.text)
    assert utc is not None
    assert html.unescape(utc[1]) == "/dashboard?groupBy=feature&timeZone=UTC"


def test_the_split_table_equals_the_apis_rows_for_two_dimensions(
    service: Service, tenant: Tenant
) -> None:
    fall_back(tenant)
    client = sign_in(service, tenant.key)
    page = client.get(f"/dashboard?{BERLIN_DAY}&groupBy=product,feature")
    assert page.status_code == 200, page.text
    api = tenant.export(
        startDate="2026-10-25",
        endDate="2026-10-25",
        timeZone="Europe/Berlin",
        groupBy="product,feature",
    ).json(parse_float=Decimal)
    combos: dict[tuple[str | None, ...], tuple[Decimal, int]] = {}
    for row in api["data"]:
        key = (row["product"], row["feature"])
        credits, requests = combos.get(key, (Decimal(0), 0))
        combos[key] = (credits + row["credits"], requests + row["requestCount"])
    assert (
        split_rows(page.text)
        == combos
        == {
            ("parse", "agentic"): (Decimal("2.5"), 2),
            ("parse", "standard"): (Decimal("1.5"), 1),
            ("parse", None): (Decimal("0.1"), 1),
            ("extract", "standard"): (Decimal("0.25"), 1),
        }
    )
    # The groups' rows are the first dimension's totals, largest first, each before its splits.
    assert page_rows(page.text) == {"parse": (Decimal("4.1"), 4), "extract": (Decimal("0.25"), 1)}
    order = re.findall(r'<tr (?:class="split-row" )?data-(?:group|values)="([^"]*)"', page.text)
    assert [html.unescape(o) for o in order] == [
        "parse",
        '["parse", "agentic"]',
        '["parse", "standard"]',
        '["parse", null]',
        "extract",
        '["extract", "standard"]',
    ]
    assert "Totals by product, split by feature" in page.text
    assert 'data-split-by="feature" aria-current="true"' in page.text
    assert "No feature" in page.text


def test_a_url_grouping_by_three_dimensions_splits_by_the_other_two(
    service: Service, tenant: Tenant
) -> None:
    fall_back(tenant)
    client = sign_in(service, tenant.key)
    group_by = "feature,product,api_key"
    page = client.get(f"/dashboard?{BERLIN_DAY}&groupBy={group_by}")
    assert page.status_code == 200, page.text
    api = tenant.export(timeZone="Europe/Berlin", groupBy=group_by, **DAY).json()
    combos = {(row["feature"], row["product"], row["apiKey"]) for row in api["data"]}
    assert set(split_rows(page.text)) == combos
    assert "Totals by feature, split by product and API key" in page.text
    assert 'data-split-by="product" aria-current="true"' not in page.text
    assert "No API key" in page.text


def test_download_in_a_zone_by_hour_split_is_the_apis_csv_byte_for_byte(
    service: Service, tenant: Tenant
) -> None:
    fall_back(tenant)
    client = sign_in(service, tenant.key)
    page = client.get(
        "/dashboard?startDate=2026-10-24&endDate=2026-10-26&timeZone=Europe/Berlin"
        "&bucketWidth=hour&groupBy=product,feature&product=parse&product=extract"
    )
    link = html.unescape(re.search(r'id="download-csv" href="([^"]+)"', page.text).group(1))
    download = client.get(link)
    assert download.status_code == 200
    api = tenant.reader.get(EXPORT + link.removeprefix("/dashboard/export"))
    assert download.content == api.content
    assert download.content.startswith(b"date,start,product,feature,credits,requestCount\r\n")
    assert b"\r\n2026-10-25,2026-10-25T02:00:00+01:00,parse,agentic,0.5,1\r\n" in api.content
    assert download.content.count(b"\r\n") == 1 + 5
    assert download.headers["content-disposition"] == (
        f'attachment; filename="usage-{tenant.org_id}-2026-10-24-2026-10-26-product+feature'
        '-hour-Europe_Berlin.csv"'
    )
    for width in ("day", "month"):
        other = html.unescape(link).replace("bucketWidth=hour", f"bucketWidth={width}")
        assert (
            client.get(other).content
            == tenant.reader.get(EXPORT + other.removeprefix("/dashboard/export")).content
        )


# -- static files, licence, packaging --------------------------------------------------------


def test_the_chart_library_is_served_from_the_package_with_its_licence(service: Service) -> None:
    client = browser(service)
    script = client.get("/dashboard/static/vendor/chart.js/chart.umd.min.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    version = re.search(rb"Chart\.js v(\d+\.\d+\.\d+)", script.content).group(1).decode()
    readme = (STATIC / "vendor" / "README.md").read_text()
    assert f"Chart.js {version}" in readme
    assert "MIT License" in (STATIC / "vendor" / "chart.js" / "LICENSE.md").read_text()
    page = client.get("/dashboard/sign-in").text
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another host


def test_package_data_ships_every_dashboard_file() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["creditmeter"]
    package = ROOT / "creditmeter"
    dashboard = package / "web" / "dashboard"
    for path in dashboard.rglob("*"):
        if path.is_dir() or path.suffix in (".py", ".pyc"):
            continue
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch(relative, pattern) for pattern in globs), relative


# -- the selection and the summary, as functions ---------------------------------------------


@pytest.mark.parametrize(
    ("preset", "today", "expected"),
    [
        ("7d", date(2026, 3, 3), (date(2026, 2, 25), date(2026, 3, 3))),
        ("30d", date(2026, 3, 3), (date(2026, 2, 2), date(2026, 3, 3))),
        ("90d", date(2026, 3, 3), (date(2025, 12, 4), date(2026, 3, 3))),
        ("this-month", date(2026, 3, 1), (date(2026, 3, 1), date(2026, 3, 1))),
        ("last-month", date(2024, 3, 15), (date(2024, 2, 1), date(2024, 2, 29))),
        ("last-month", date(2026, 1, 31), (date(2025, 12, 1), date(2025, 12, 31))),
    ],
)
def test_presets_resolve_against_today(
    preset: str, today: date, expected: tuple[date, date]
) -> None:
    assert selection.preset_dates(preset, today) == expected


def test_last_30_days_is_30_days_on_the_page_and_the_apis_default_is_31(
    service: Service, tenant: Tenant
) -> None:
    page = sign_in(service, tenant.key).get("/dashboard?timeZone=UTC")
    link = re.search(r'<a href="[^"]*" data-range="30d" title="([^"]*)"', page.text)
    assert link is not None and link[1] == "Today and the 29 days before it (days in UTC)"
    assert re.search(r'\s30 days, <span id="zone-shown">UTC</span>\s', page.text)
    today = _today()
    assert selection.preset_dates("30d", today) == (today - timedelta(days=29), today)
    default = tenant.export().json()
    start, end = date.fromisoformat(default["startDate"]), date.fromisoformat(default["endDate"])
    assert (end - start).days + 1 == 31
    dashboard = (ROOT / "docs" / "dashboard.md").read_text()
    export_api = (ROOT / "docs" / "usage-export-api.md").read_text()
    assert "*Last 30 days* is today and the 29 days before it, 30 days." in dashboard
    assert "today and the 30 days before it, 31\ndays" in dashboard
    assert "With no dates the range is today and the 30 days before it (31 days;" in export_api


def test_read_url_hands_everything_but_range_and_metric_to_the_export() -> None:
    now = datetime(2026, 5, 20, 12, tzinfo=UTC)
    plain = selection.read_url([], today=now)
    assert (plain.range, plain.metric) == ("30d", "credits")
    assert plain.export_items == [("startDate", "2026-04-21"), ("endDate", "2026-05-20")]
    dated = selection.read_url([("startDate", "2026-01-01"), ("product", "a")], today=now)
    assert dated.range == "custom"
    assert dated.export_items == [("startDate", "2026-01-01"), ("product", "a")]
    preset = selection.read_url(
        [("range", "7d"), ("startDate", "2020-01-01"), ("metric", "requests"), ("x", "y")],
        today=now,
    )
    assert preset.metric == "requests"
    assert preset.export_items == [
        ("startDate", "2026-05-14"),
        ("endDate", "2026-05-20"),
        ("x", "y"),
    ]
    with pytest.raises(DuplicateParameter):
        selection.read_url([("range", "7d"), ("range", "30d")], today=now)
    with pytest.raises(InvalidParameter, match="not a range"):
        selection.read_url([("range", "")], today=now)


@pytest.mark.parametrize(
    ("zone", "today"),
    [
        ("UTC", "2026-05-20"),
        ("Asia/Tokyo", "2026-05-21"),  # 08:30 on the 21st
        ("Pacific/Kiritimati", "2026-05-21"),
        ("America/Los_Angeles", "2026-05-20"),
        ("Europe/Berln", "2026-05-20"),  # not a zone: UTC here, the export rejects it
    ],
)
def test_a_preset_range_ends_today_in_the_urls_zone(zone: str, today: str) -> None:
    now = datetime(2026, 5, 20, 23, 30, tzinfo=UTC)
    asked = selection.read_url([("range", "7d"), ("timeZone", zone)], today=now)
    end = date.fromisoformat(today)
    assert asked.export_items == [
        ("startDate", (end - timedelta(days=6)).isoformat()),
        ("endDate", today),
        ("timeZone", zone),
    ]


def test_selection_links_change_one_thing() -> None:
    chosen = selection.Selection(
        org_id="org_a",
        range="7d",
        start_date=date(2026, 5, 14),
        end_date=date(2026, 5, 20),
        group_by=("product",),
        time_zone="America/New_York",
        bucket_width="hour",
        filters={"product": ("parse", "a&b"), "fileType": ("pdf",)},
    )
    zone = "timeZone=America%2FNew_York"
    assert chosen.url() == (
        f"/dashboard?orgId=org_a&range=7d&{zone}&bucketWidth=hour&groupBy=product"
        "&product=parse&product=a%26b&fileType=pdf"
    )
    assert chosen.org_url("org_b") == (
        f"/dashboard?orgId=org_b&range=7d&{zone}&bucketWidth=hour&groupBy=product"
    )
    assert chosen.without_filter("product", "parse").endswith("product=a%26b&fileType=pdf")
    assert chosen.csv_url() == (
        "/dashboard/export?orgId=org_a&startDate=2026-05-14&endDate=2026-05-20&groupBy=product"
        f"&product=parse&product=a%26b&fileType=pdf&{zone}&bucketWidth=hour&format=csv"
    )
    assert ("range", "7d") not in chosen.hidden("range")
    # Split by a second dimension; grouping by the split swaps the two.
    split = chosen.split_url("feature")
    assert "&groupBy=product%2Cfeature&" in split
    by_feature = replace(chosen, group_by=("product", "feature"))
    assert "&groupBy=feature%2Cproduct&" in by_feature.group_url("feature")
    assert "&groupBy=api_key%2Cfeature&" in by_feature.group_url("api_key")
    assert "&groupBy=product&" in by_feature.split_url(None)
    # 90 days are too many for hours (31 at most here): that range link goes by day.
    today = date(2026, 5, 20)
    assert "bucketWidth=hour" in chosen.range_url("30d", today=today, max_hourly_days=31)
    assert "bucketWidth=day" in chosen.range_url("90d", today=today, max_hourly_days=31)
    assert "bucketWidth=day" in chosen.range_url("7d", today=today, max_hourly_days=6)


def _chosen(**changes: Any) -> selection.Selection:
    plain = selection.Selection(
        org_id="org_a",
        range="custom",
        start_date=date(2026, 5, 1),
        end_date=date(2026, 5, 3),
        group_by=("file_type",),
    )
    return replace(plain, **changes)


def _rows(rows: list[tuple[str, str | None, str, int]]) -> list[ExportRow]:
    return [ExportRow(date.fromisoformat(d), (g,), to_micro(Decimal(c)), n) for d, g, c, n in rows]


def test_totals_are_exact_and_largest_first() -> None:
    rows = _rows(
        [
            ("2026-05-01", None, "0.1", 1),
            ("2026-05-01", "pdf", "0.2", 2),
            ("2026-05-02", None, "0.2", 1),
            ("2026-05-03", "png", "0.3", 5),
        ]
    )
    totals = summary.totals_by_group(rows)
    # Credits decide, then requests, then the export's group order.
    assert [(t.group, t.credits, t.request_count) for t in totals] == [
        ("png", "0.3", 5),
        (None, "0.3", 2),
        ("pdf", "0.2", 2),
    ]
    whole = summary.grand_total(totals)
    assert (whole.credits, whole.request_count) == ("0.8", 9)
    assert [summary.share(t.credits_micro, whole.credits_micro) for t in totals] == [
        "37.5%",
        "37.5%",
        "25.0%",
    ]
    assert summary.share(0, 0) == "\N{EM DASH}"
    assert summary.format_credits(1_234_567_250_000) == "1,234,567.25"
    assert summary.format_average(to_micro(Decimal(10)), 3) == "3.33"
    assert summary.group_label(None, "api_key") == "No API key"
    chosen = _chosen()
    chart = summary.chart_data(rows, totals, chosen, summary.slots(chosen))
    assert chart["days"] == ["2026-05-01", "2026-05-02", "2026-05-03"]
    assert chart["starts"] == [None, None, None]
    assert chart["series"][1]["credits"] == [0.1, 0.2, 0]
    assert chart["series"][1]["label"] == "No file type"


def test_the_chart_folds_groups_past_the_eighth_into_other() -> None:
    rows = _rows([("2026-05-01", f"g{n:02d}", str(20 - n), 1) for n in range(12)])
    totals = summary.totals_by_group(rows)
    chosen = _chosen(metric="requests")
    chart = summary.chart_data(rows, totals, chosen, summary.slots(chosen))
    labels = [series["label"] for series in chart["series"]]
    assert len(labels) == summary.MAX_SERIES
    assert labels[-1] == "Other (5 file types)"
    assert chart["series"][-1]["requests"] == [5, 0, 0]
    colours = summary.colours(totals)
    assert colours["g11"] == colours["g07"] == summary.OTHER_COLOUR


def test_hour_buckets_name_the_repeated_hour_by_its_offset() -> None:
    chosen = _chosen(
        start_date=date(2026, 10, 25),
        end_date=date(2026, 10, 25),
        time_zone="Europe/Berlin",
        bucket_width="hour",
    )
    slots = summary.slots(chosen)
    assert len(slots) == 25  # the clocks went back an hour
    twice = [slot for slot in slots if slot.bucket.start and slot.bucket.start[11:13] == "02"]
    assert [slot.bucket.start for slot in twice] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    assert [slot.peak for slot in twice] == [
        "Sun 25 Oct, 02:00 (UTC+02:00)",
        "Sun 25 Oct, 02:00 (UTC+01:00)",
    ]
    assert slots[0].title == "Sun 25 Oct 2026, 00:00 (UTC+02:00)"
    assert slots[5].peak == "Sun 25 Oct, 04:00"


def test_month_buckets_are_clipped_to_the_range() -> None:
    chosen = _chosen(start_date=date(2026, 1, 15), end_date=date(2026, 3, 10), bucket_width="month")
    slots = summary.slots(chosen)
    assert [slot.bucket.date for slot in slots] == [
        date(2026, 1, 15),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert [slot.title for slot in slots] == [
        "15 Jan \N{EN DASH} 31 Jan 2026",
        "February 2026",
        "1 Mar \N{EN DASH} 10 Mar 2026",
    ]
