"""The usage dashboard in a real headless Chromium, on the demo's data.

A person's path through the page: sign in, switch organization, change the
grouping, the range and the filters, compare what the page says with the
export API's answer for the same selection, download the CSV, sign out. Each
main state is saved as a screenshot in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from creditmeter.dimensions import BY_NAME
from tests.browser.conftest import SCREENSHOTS, Demo

EXPORT = "/api/v1/usage/export"
Totals = dict[str | None, tuple[Decimal, int]]


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def sign_in(context: BrowserContext, demo: Demo, path: str = "/dashboard") -> Page:
    """Open ``path`` signed out, paste the key, and land back on it."""
    page = context.new_page()
    page.goto(path)
    expect(page.locator("h1")).to_have_text("Sign in to see your usage")
    page.fill("#key", demo.key)
    page.press("#key", "Enter")
    page.wait_for_url("**/dashboard**")
    settle(page)
    return page


def settle(page: Page) -> None:
    """Wait until the page has drawn its chart (or shows that there is nothing to draw)."""
    page.wait_for_selector("canvas[data-drawn], #empty-state, #page-error")


def selection(page: Page) -> list[tuple[str, str]]:
    """The export query items of what the page shows: its Download CSV link's, less format."""
    href = page.get_attribute("#download-csv", "href")
    assert href is not None
    return [item for item in parse_qsl(urlsplit(href).query) if item[0] != "format"]


def api(demo: Demo, params: list[tuple[str, str]], key: str | None = None) -> httpx.Response:
    """The export API's answer for ``params``, read with the demo user's key or ``key``."""
    bearer = {"Authorization": f"Bearer {key or demo.key}"}
    with httpx.Client(base_url=demo.url, timeout=30) as client:
        answer = client.get(EXPORT, params=params, headers=bearer)
    assert answer.status_code == 200, answer.text
    return answer


def api_totals(demo: Demo, params: list[tuple[str, str]]) -> Totals:
    """The API's totals per value of the first grouped dimension (the page's groups)."""
    group_by = dict(params).get("groupBy", "product").split(",")
    name = "group" if len(group_by) == 1 else BY_NAME[group_by[0]].field
    sums: Totals = {}
    for row in api(demo, params).json(parse_float=Decimal)["data"]:
        credits, requests = sums.get(row[name], (Decimal(0), 0))
        sums[row[name]] = (credits + row["credits"], requests + row["requestCount"])
    return sums


def page_totals(page: Page) -> Totals:
    """The totals table, read twice: its exact data attributes and the text a person reads."""
    rows = page.eval_on_selector_all(
        "#totals tbody tr[data-group]",
        """rows => rows.map(r => [r.dataset.group, r.dataset.null, r.dataset.credits,
            r.dataset.requests, r.cells[1].innerText, r.cells[2].innerText])""",
    )
    totals: Totals = {}
    for group, null, credits, requests, credits_text, requests_text in rows:
        assert Decimal(credits_text.replace(",", "")) == Decimal(credits)
        assert int(requests_text.replace(",", "")) == int(requests)
        totals[None if null == "true" else group] = (Decimal(credits), int(requests))
    return totals


def assert_page_matches_api(page: Page, demo: Demo) -> Totals:
    """The page's totals per group, and overall, equal the export API's for its selection."""
    expected = api_totals(demo, selection(page))
    assert page_totals(page) == expected
    credits = sum((credits for credits, _ in expected.values()), Decimal(0))
    requests = sum(requests for _, requests in expected.values())
    assert Decimal(page.get_attribute("#total-credits", "data-credits") or "") == credits
    assert int(page.get_attribute("#total-requests", "data-requests") or "") == requests
    return expected


def test_sign_in_lands_on_the_last_30_days_by_product(laptop: BrowserContext, demo: Demo) -> None:
    page = laptop.new_page()
    page.goto("/")
    expect(page).to_have_url(f"{demo.url}/dashboard/sign-in?next=%2Fdashboard")
    shot(page, "01-sign-in", full_page=False)
    page.fill("#key", demo.key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{demo.url}/dashboard?timeZone=UTC")  # the browser's zone, added
    settle(page)
    expect(page.locator(".org-name").first).to_have_text("Acme Robotics")
    expect(page.locator("[data-range='30d']")).to_have_attribute("aria-current", "true")
    expect(page.locator("[data-group-by='product']")).to_have_attribute("aria-current", "true")
    totals = assert_page_matches_api(page, demo)
    assert set(totals) == {"parse", "extract", "split", "edit"}
    today = datetime.now(UTC).date()
    assert dict(selection(page))["startDate"] == (today - timedelta(days=29)).isoformat()
    assert dict(selection(page))["endDate"] == today.isoformat()
    shot(page, "02-usage-laptop")


def test_the_session_cookie_is_httponly_and_lax(laptop: BrowserContext, demo: Demo) -> None:
    page = sign_in(laptop, demo)
    assert page.evaluate("document.cookie") == ""
    (cookie,) = laptop.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert cookie["expires"] == -1  # a browser-session cookie
    assert demo.key not in page.content()


def test_switch_organization_group_by_range_and_filters(laptop: BrowserContext, demo: Demo) -> None:
    page = sign_in(laptop, demo)

    page.click("#org-menu summary")
    shot(page, "03-org-switcher-open", full_page=False)
    page.click("#org-menu a[data-org='org_globex']")
    settle(page)
    expect(page.locator("#org-menu .org-name")).to_have_text("Globex Legal")
    assert dict(selection(page))["orgId"] == "org_globex"
    assert_page_matches_api(page, demo)

    page.click("[data-group-by='file_type']")
    settle(page)
    expect(page.locator("#table-title")).to_have_text("Totals by file type")
    totals = assert_page_matches_api(page, demo)
    assert None in totals  # demo usage without a file type: the null group
    expect(page.locator("#totals tbody tr[data-null='true'] th")).to_contain_text("No file type")

    page.click("[data-range='7d']")
    settle(page)
    assert_page_matches_api(page, demo)
    assert dict(selection(page))["groupBy"] == "file_type"

    page.click("#custom-range summary")
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=40), today - timedelta(days=20)
    page.fill("#custom-range input[name=startDate]", start.isoformat())
    page.fill("#custom-range input[name=endDate]", end.isoformat())
    page.click("#custom-range button[type=submit]")
    settle(page)
    assert "range=custom" in page.url and f"startDate={start}" in page.url
    expect(page.locator("#custom-range summary")).to_have_attribute("aria-current", "true")
    assert (dict(selection(page))["startDate"], dict(selection(page))["endDate"]) == (
        start.isoformat(),
        end.isoformat(),
    )
    assert_page_matches_api(page, demo)

    page.click("details[data-filter=product] summary")
    page.check("details[data-filter=product] input[value=parse]")
    page.check("details[data-filter=product] input[value=extract]")
    page.click("details[data-filter=product] button[type=submit]")
    settle(page)
    expect(page.locator(".chip")).to_have_count(2)
    assert [v for k, v in selection(page) if k == "product"] == ["extract", "parse"]
    assert_page_matches_api(page, demo)
    shot(page, "04-globex-file-type-custom-range-filtered")

    page.click(".chip:has-text('extract')")
    settle(page)
    assert [v for k, v in selection(page) if k == "product"] == ["parse"]
    assert_page_matches_api(page, demo)

    page.click("[data-metric='requests']")
    settle(page)
    expect(page.locator("#chart-title")).to_have_text("Requests per day by file type")
    assert "metric=requests" in page.url
    shot(page, "05-requests-per-day")


def test_a_bookmarked_view_survives_sign_in(laptop: BrowserContext, demo: Demo) -> None:
    path = "/dashboard?orgId=org_globex&range=90d&groupBy=api_key&fileType=pdf"
    page = sign_in(laptop, demo, path)
    assert page.url == demo.url + path + "&timeZone=UTC"  # the browser's zone, added
    expect(page.locator("[data-range='90d']")).to_have_attribute("aria-current", "true")
    expect(page.locator("[data-group-by='api_key']")).to_have_attribute("aria-current", "true")
    assert_page_matches_api(page, demo)
    chart = page.evaluate("JSON.parse(document.getElementById('chart-data').textContent)")
    assert len(chart["days"]) == len(chart["labels"]) == 90
    shared = laptop.new_page()  # the same URL opened again: the view is in the URL
    shared.goto(path)
    settle(shared)
    assert page_totals(shared) == page_totals(page)


def colours_drawn(page: Page) -> dict[str | None, str]:
    """Each group's swatch colour in the totals table, once checked against the chart's bars."""
    table = page.eval_on_selector_all(
        "#totals tbody tr[data-group]",
        """rows => rows.map(r => [r.dataset.null === "true" ? null : r.dataset.group,
            r.querySelector(".swatch rect").getAttribute("fill")])""",
    )
    bars = page.evaluate(
        """Chart.getChart(document.getElementById("usage-chart")).data.datasets
            .map(d => [d.label, d.backgroundColor])"""
    )
    assert bars == [["No API key" if group is None else group, colour] for group, colour in table]
    return {group: colour for group, colour in table}


def test_an_api_key_keeps_its_colour_across_views(laptop: BrowserContext, demo: Demo) -> None:
    page = sign_in(laptop, demo, "/dashboard?groupBy=api_key&range=90d")
    everything = colours_drawn(page)
    second = [group for group in everything if group is not None][1]
    page.goto(f"/dashboard?groupBy=api_key&range=7d&apiKey={second}&timeZone=UTC")
    settle(page)
    alone = colours_drawn(page)
    assert list(alone) == [second]  # ranked first here, second over 90 days
    assert alone[second] == everything[second]
    page.goto("/dashboard?orgId=org_acme&groupBy=api_key&range=this-month&timeZone=UTC")
    settle(page)
    for group, colour in colours_drawn(page).items():
        assert colour == everything[group], group


def test_download_csv_is_the_export_apis_csv_byte_for_byte(
    laptop: BrowserContext, demo: Demo, tmp_path: Path
) -> None:
    page = sign_in(laptop, demo, "/dashboard?orgId=org_globex&range=90d&groupBy=file_type")
    page.click("details[data-filter=apiKey] summary")
    page.check("details[data-filter=apiKey] input[value=key_globex_prod]")
    page.click("details[data-filter=apiKey] button[type=submit]")
    settle(page)
    with page.expect_download() as download:
        page.click("#download-csv")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("usage-org_globex-") and saved.suffix == ".csv"
    csv = saved.read_bytes()
    assert csv == api(demo, [*selection(page), ("format", "csv")]).content
    assert csv.startswith(b"date,group,credits,requestCount\r\n") and csv.count(b"\r\n") > 60
    # It reaches the demo's last days. (Not "today's row": just after midnight the
    # demo's last day has a few minutes of usage, maybe none for this selection.)
    last = max(date.fromisoformat(line[:10].decode()) for line in csv.splitlines()[1:])
    assert last >= demo.info.last_day - timedelta(days=1)


def test_sign_out_clears_the_session(laptop: BrowserContext, demo: Demo) -> None:
    page = sign_in(laptop, demo)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/dashboard/sign-in?notice=signed-out")
    expect(page.locator(".notice")).to_have_text("You are signed out.")
    assert laptop.cookies() == []
    shot(page, "06-signed-out", full_page=False)
    page.goto("/dashboard")
    expect(page).to_have_url(f"{demo.url}/dashboard/sign-in?next=%2Fdashboard")


def test_an_expired_key_is_refused_with_the_reason(laptop: BrowserContext, demo: Demo) -> None:
    directory = demo.service.directory
    user = directory.find_user(demo.info.email)
    _, expired = directory.create_key(
        user.id, "org_acme", name="old", expires_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    page = laptop.new_page()
    page.goto("/dashboard/sign-in")
    page.fill("#key", expired)
    page.press("#key", "Enter")
    expect(page.locator("#sign-in-error")).to_contain_text("expired at 2026-01-01")
    expect(page.locator("#key")).to_have_value("")  # the key is never echoed back
    assert laptop.cookies() == []
    shot(page, "07-expired-key", full_page=False)


def test_a_key_revoked_while_signed_in_signs_the_browser_out(
    laptop: BrowserContext, demo: Demo
) -> None:
    directory = demo.service.directory
    user = directory.find_user(demo.info.email)
    key, secret = directory.create_key(user.id, "org_acme", name="to revoke")
    page = laptop.new_page()
    page.goto("/dashboard/sign-in")
    page.fill("#key", secret)
    page.press("#key", "Enter")
    settle(page)
    directory.revoke_key(key.id)
    page.click("[data-group-by='feature']")
    expect(page.locator("#sign-in-error")).to_contain_text("was revoked")
    assert laptop.cookies() == []


def test_no_usage_in_the_range_is_an_empty_state_not_an_error(
    laptop: BrowserContext, demo: Demo
) -> None:
    page = sign_in(laptop, demo, "/dashboard?startDate=2020-01-01&endDate=2020-01-31")
    expect(page.locator("#empty-state h3")).to_have_text("No usage in this range")
    expect(page.locator("#total-credits")).to_have_text("0.0")
    assert page_totals(page) == {} == api_totals(demo, selection(page))
    shot(page, "08-no-usage-in-range", full_page=False)
    page.click("#empty-state a:has-text('last 90 days')")
    settle(page)
    assert page_totals(page)


def test_a_bad_url_explains_itself(laptop: BrowserContext, demo: Demo) -> None:
    page = sign_in(laptop, demo, "/dashboard?start_date=2026-01-01")
    expect(page.locator("#page-error")).to_contain_text(
        "Unknown query parameter 'start_date'. Did you mean 'startDate'?"
    )
    shot(page, "09-bad-url", full_page=False)
    page.goto("/dashboard?orgId=org_initech&timeZone=UTC")
    expect(page.locator("#page-error")).to_contain_text("not a member of the organization")


def test_the_page_fits_a_phone(phone: BrowserContext, demo: Demo) -> None:
    page = sign_in(phone, demo)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    chart = page.locator("#usage-chart").bounding_box()
    assert chart is not None and chart["width"] > 300 and chart["height"] > 200
    assert_page_matches_api(page, demo)
    shot(page, "10-phone-usage")
    page.click("details[data-filter=fileType] summary")
    expect(page.locator("details[data-filter=fileType] .menu-panel")).to_be_visible()
    shot(page, "11-phone-filter-open", full_page=False)
    page.click("details[data-filter=fileType] summary")
    page.click("#org-menu summary")
    page.click("#org-menu a[data-org='org_globex']")
    settle(page)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_page_matches_api(page, demo)
    page.goto("/dashboard?range=7d&timeZone=UTC&bucketWidth=hour&groupBy=product,feature")
    settle(page)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click("#zone-menu summary")
    panel = page.locator("#zone-menu .menu-panel").bounding_box()
    assert panel is not None and panel["x"] >= 0 and panel["x"] + panel["width"] <= 390
    shot(page, "15-phone-hours-split", full_page=True)


def test_the_page_works_from_the_keyboard(laptop: BrowserContext, demo: Demo) -> None:
    page = laptop.new_page()
    page.goto("/dashboard/sign-in")
    expect(page.locator("#key")).to_be_focused()  # the key field has focus on arrival
    page.keyboard.type(demo.key)
    page.keyboard.press("Enter")
    settle(page)

    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")

    page.locator("[data-group-by='feature']").focus()
    page.keyboard.press("Enter")
    settle(page)
    assert dict(selection(page))["groupBy"] == "feature"

    page.locator("details[data-filter=product] summary").focus()
    page.keyboard.press("Enter")
    first = page.locator("details[data-filter=product] input[type=checkbox]").first
    expect(first).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Escape")  # closes the menu, back on its summary
    expect(page.locator("details[data-filter=product] summary")).to_be_focused()
    page.keyboard.press("Enter")
    page.locator("details[data-filter=product] button[type=submit]").focus()
    page.keyboard.press("Enter")
    settle(page)
    assert [v for k, v in selection(page) if k == "product"] == ["edit"]
    assert_page_matches_api(page, demo)


# -- time zones, hours, a split table -------------------------------------------------------


def zone_today(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def test_the_page_opens_in_the_browsers_time_zone_without_showing_another(
    kolkata: BrowserContext, demo: Demo
) -> None:
    page = kolkata.new_page()
    opened: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: opened.append(frame.url) if frame == page.main_frame else None,
    )
    page.goto("/dashboard?groupBy=feature")
    # Chromium's ICU names India's zone by its older link name, which the tz database
    # (and so creditmeter) also knows: the page takes the name the browser gives.
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert zone in ("Asia/Kolkata", "Asia/Calcutta")
    in_zone = f"{demo.url}/dashboard?groupBy=feature&timeZone={quote(zone, safe='')}"
    page.fill("#key", demo.key)
    page.press("#key", "Enter")
    page.wait_for_url(in_zone)
    settle(page)
    # Before the page in the browser's zone, only the sign-in page and the zone finder
    # (which shows no usage) were opened: no usage in another zone flashed by.
    usage_pages = [url for url in opened if "/dashboard?" in url and "sign-in" not in url]
    assert usage_pages == [f"{demo.url}/dashboard?groupBy=feature", in_zone]
    expect(page.locator("#zone-shown")).to_have_text(zone)
    expect(page.locator("#zone-menu .zone-name")).to_have_text(zone)
    chosen = dict(selection(page))
    assert chosen["timeZone"] == zone and chosen["bucketWidth"] == "day"
    assert chosen["endDate"] == zone_today(zone).isoformat()
    assert_page_matches_api(page, demo)
    shot(page, "12-kolkata-by-feature")

    # The picker: another zone, then back to the browser's own.
    page.click("#zone-menu summary")
    expect(page.locator("#zone-input")).to_be_focused()
    expect(page.locator("#zone-menu .menu-panel")).to_be_visible()
    expect(page.locator("#zone-browser")).to_be_hidden()  # already the browser's zone
    expect(page.locator("#zone-utc")).to_be_visible()
    page.fill("#zone-input", "America/Los_Angeles")
    page.click("#zone-menu button[type=submit]")
    settle(page)
    assert "timeZone=America%2FLos_Angeles" in page.url and "groupBy=feature" in page.url
    expect(page.locator("#zone-shown")).to_have_text("America/Los_Angeles")
    assert dict(selection(page))["endDate"] == zone_today("America/Los_Angeles").isoformat()
    assert_page_matches_api(page, demo)
    page.click("#zone-menu summary")
    expect(page.locator("#zone-browser")).to_have_text(f"This browser's zone ({zone})")
    page.click("#zone-browser")
    settle(page)
    expect(page.locator("#zone-shown")).to_have_text(zone)

    # A misspelt zone: the API's message and its suggestion.
    page.click("#zone-menu summary")
    page.fill("#zone-input", "asia/kolkata")
    page.click("#zone-menu button[type=submit]")
    expect(page.locator("#page-error")).to_contain_text("Did you mean 'Asia/Kolkata'?")


#: Usage around Berlin's fall-back night (2026-10-25, 03:00 CEST → 02:00 CET), in UTC.
FALL_BACK = [
    ("2026-10-24T23:30:00Z", "parse", "standard", 1.5),  # 01:30+02:00 on the 25th in Berlin
    ("2026-10-25T00:30:00Z", "parse", "agentic", 2),  # 02:30+02:00
    ("2026-10-25T01:30:00Z", "extract", "standard", 0.25),  # 02:30+01:00: the hour again
    ("2026-10-25T01:45:00Z", "parse", "agentic", 0.5),  # 02:45+01:00
    ("2026-10-25T22:59:59Z", "parse", None, 0.1),  # 23:59:59+01:00
    ("2026-10-25T23:00:00Z", "edit", "fill", 3),  # 00:00 on the 26th
]


def test_hour_buckets_in_berlin_across_the_night_the_clocks_go_back(
    berlin: BrowserContext, demo: Demo, tmp_path: Path
) -> None:
    tenant = demo.service.tenant()
    tenant.record(
        [
            {
                "id": f"fb{n}",
                "timestamp": at,
                "product": product,
                "credits": credits,
                **({"feature": feature} if feature else {}),
            }
            for n, (at, product, feature, credits) in enumerate(FALL_BACK)
        ]
    )
    page = berlin.new_page()
    page.goto("/dashboard?startDate=2026-10-24&endDate=2026-10-26")
    page.fill("#key", tenant.key)
    page.press("#key", "Enter")
    settle(page)
    assert "timeZone=Europe%2FBerlin" in page.url
    page.click("[data-width='hour']")
    settle(page)
    expect(page.locator("[data-width='hour']")).to_have_attribute("aria-current", "true")
    expect(page.locator("#chart-title")).to_have_text("Credits per hour by product")
    params = selection(page)
    assert dict(params)["bucketWidth"] == "hour" and dict(params)["timeZone"] == "Europe/Berlin"
    chart = page.evaluate("JSON.parse(document.getElementById('chart-data').textContent)")
    assert len(chart["starts"]) == 24 + 25 + 24  # the 25th has 25 hours in Berlin
    # What Chart.js draws: each bar's value per group equals the API's hour rows.
    datasets = page.evaluate(
        """Chart.getChart(document.getElementById("usage-chart")).data.datasets
            .map(d => [d.label, d.data])"""
    )
    drawn = {
        (start, label): Decimal(str(value))
        for label, values in datasets
        for start, value in zip(chart["starts"], values, strict=True)
        if value
    }
    rows = api(demo, params, tenant.key).json(parse_float=Decimal)["data"]
    assert drawn == {(row["start"], row["group"]): row["credits"] for row in rows}
    assert drawn[("2026-10-25T02:00:00+01:00", "parse")] == Decimal("0.5")
    assert drawn[("2026-10-25T02:00:00+02:00", "parse")] == Decimal("2")
    assert drawn[("2026-10-26T00:00:00+01:00", "edit")] == Decimal("3")
    expect(page.locator("#busiest")).to_have_text("Mon 26 Oct, 00:00")
    # Hovering the repeated hour names it by its offset.
    index = chart["starts"].index("2026-10-25T02:00:00+01:00")
    assert chart["titles"][index] == "Sun 25 Oct 2026, 02:00 (UTC+01:00)"
    shot(page, "13-berlin-hours-fall-back")

    # Split by feature: the table lists each product's features.
    page.click("[data-split-by='feature']")
    settle(page)
    assert dict(selection(page))["groupBy"] == "product,feature"
    split = page.eval_on_selector_all(
        "#totals tr.split-row",
        "rows => rows.map(r => [JSON.parse(r.dataset.values), r.dataset.credits])",
    )
    assert split == [
        [["parse", "agentic"], "2.5"],
        [["parse", "standard"], "1.5"],
        [["parse", None], "0.1"],
        [["edit", "fill"], "3.0"],
        [["extract", "standard"], "0.25"],
    ]
    expect(page.locator("#totals tr.split-row .null-group")).to_have_text("No feature")
    shot(page, "14-berlin-hours-split-by-feature")
    with page.expect_download() as download:
        page.click("#download-csv")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.endswith("-product+feature-hour-Europe_Berlin.csv")
    csv = saved.read_bytes()
    assert csv == api(demo, [*selection(page), ("format", "csv")], tenant.key).content
    assert csv.startswith(b"date,start,product,feature,credits,requestCount\r\n")

    # Month buckets keep the range: one row, dated the range's first day.
    page.click("[data-width='month']")
    settle(page)
    chart = page.evaluate("JSON.parse(document.getElementById('chart-data').textContent)")
    assert chart["days"] == ["2026-10-24"] and chart["titles"] == ["24 Oct \u2013 26 Oct 2026"]


def test_hours_are_offered_for_short_ranges_only(laptop: BrowserContext, demo: Demo) -> None:
    page = sign_in(laptop, demo, "/dashboard?range=7d&bucketWidth=hour&groupBy=product,file_type")
    chart = page.evaluate("JSON.parse(document.getElementById('chart-data').textContent)")
    assert len(chart["starts"]) == 7 * 24  # UTC: every day has 24 hours
    assert_page_matches_api(page, demo)
    page.click("[data-range='90d']")  # too long for hours: shown by day
    settle(page)
    assert dict(selection(page))["bucketWidth"] == "day"
    expect(page.locator("[data-width='hour']")).to_have_attribute("aria-disabled", "true")
    assert dict(selection(page))["groupBy"] == "product,file_type"  # the split stays
    assert_page_matches_api(page, demo)
    page.click("[data-group-by='file_type']")  # grouping by the split swaps the two
    settle(page)
    assert dict(selection(page))["groupBy"] == "file_type,product"
    assert_page_matches_api(page, demo)
    rows = page.locator("#totals tr.split-row").count()
    combos = {
        (row["fileType"], row["product"]) for row in api(demo, selection(page)).json()["data"]
    }
    assert rows == len(combos)
