"""The dashboard's Alerts and Webhooks pages in a real browser (Chromium), on the demo."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import SCREENSHOTS, Demo


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def signed_in(context: BrowserContext, demo: Demo, path: str, key: str | None = None) -> Page:
    page = context.new_page()
    page.goto(path)
    expect(page.locator("h1")).to_have_text("Sign in to see your usage")
    page.fill("#key", key or demo.key)
    page.press("#key", "Enter")
    page.wait_for_url(f"**{path}**")
    return page


def row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("#alerts tbody tr", has_text=name)


def test_an_owner_creates_disables_and_deletes_an_alert(laptop: BrowserContext, demo: Demo) -> None:
    page = signed_in(laptop, demo, "/dashboard/alerts")
    expect(page.locator("h1")).to_have_text("Alerts")
    expect(page.locator(".section-nav [aria-current='page']")).to_have_text("Alerts")
    form = page.locator("#new-alert")
    form.locator("[name=name]").fill("Monthly parse budget")
    form.locator("[name=threshold]").fill("0.5")
    form.locator("[name=period]").select_option("month")
    form.locator("[name=product]").fill("parse")
    form.get_by_role("button", name="Create alert").click()
    expect(page.locator("#notice")).to_have_text("The alert was created.")
    created = row(page, "Monthly parse budget")
    # The demo's parse usage this month is over half a credit: it fired at once.
    expect(created.locator(".status")).to_have_text("triggered")
    expect(created).to_contain_text("product: parse")
    api = demo.service.client(demo.key).get("/api/v1/alerts").json()
    (mine,) = [a for a in api if a["name"] == "Monthly parse budget"]
    assert mine["current"]["status"] == "triggered"
    expect(created.locator(".value")).to_have_text(str(mine["current"]["value"]))
    shot(page, "alerts-laptop")

    created.get_by_role("button", name="Disable").click()
    expect(page.locator("#notice")).to_have_text("The alert is disabled.")
    expect(row(page, "Monthly parse budget")).to_contain_text("(disabled)")
    row(page, "Monthly parse budget").get_by_role("button", name="Delete").click()
    expect(page.locator("#notice")).to_have_text("Deleted.")
    expect(row(page, "Monthly parse budget")).to_have_count(0)


def test_a_refused_alert_says_why_and_keeps_the_form(laptop: BrowserContext, demo: Demo) -> None:
    page = signed_in(laptop, demo, "/dashboard/alerts")
    form = page.locator("#new-alert")
    form.locator("[name=name]").fill("Too precise")
    form.locator("[name=threshold]").fill("1.0000001")
    form.locator("[name=timeZone]").fill("europe/berlin")
    form.get_by_role("button", name="Create alert").click()
    expect(page.locator("#page-error")).to_contain_text("Did you mean 'Europe/Berlin'?")
    expect(page.locator("#new-alert [name=name]")).to_have_value("Too precise")
    expect(page.locator("#new-alert [name=threshold]")).to_have_value("1.0000001")
    expect(row(page, "Too precise")).to_have_count(0)


def test_an_owner_adds_tests_rotates_and_removes_an_endpoint(
    laptop: BrowserContext, demo: Demo
) -> None:
    page = signed_in(laptop, demo, "/dashboard/webhooks")
    expect(page.locator("h1")).to_have_text("Webhooks")
    page.locator("#new-webhook [name=url]").fill("https://hooks.example.com/creditmeter")
    page.locator("#new-webhook [name=description]").fill("Ops")
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#secret").inner_text()
    assert secret.startswith("whsec_")
    endpoint = page.locator(".endpoint", has_text="https://hooks.example.com/creditmeter")
    expect(endpoint).to_contain_text("Ops")
    expect(endpoint).to_contain_text("No messages in the last 30 days.")
    expect(page.locator("#retention")).to_have_text(
        "Delivered and failed messages are listed for 30 days."
    )
    shot(page, "webhooks-secret")
    page.goto(page.url)  # shown once: a reload shows no secret
    expect(page.locator("#secret")).to_have_count(0)
    assert secret not in page.content()

    endpoint.get_by_role("button", name="Send test").click()
    expect(page.locator("#notice")).to_have_text("A webhook.test message is on its way.")
    expect(endpoint.locator(".deliveries tbody tr", has_text="webhook.test")).to_have_count(1)
    endpoint.get_by_role("button", name="Rotate secret").click()
    rotated = page.locator("#secret").inner_text()
    assert rotated.startswith("whsec_") and rotated != secret
    endpoint.get_by_role("button", name="Delete").click()
    expect(page.locator("#notice")).to_have_text("Deleted.")
    expect(page.locator(".endpoint", has_text="hooks.example.com")).to_have_count(0)


def test_a_member_reads_but_sees_no_forms(laptop: BrowserContext, demo: Demo) -> None:
    directory = demo.service.directory
    user = directory.create_user("reader-of-alerts@example.com")
    directory.set_membership(demo.info.org_id, user.id, "member")
    _, key = directory.create_key(user.id, demo.info.org_id)
    page = signed_in(laptop, demo, "/dashboard/alerts", key=key)
    expect(page.locator("h1")).to_have_text("Alerts")
    expect(page.locator("#new-alert")).to_have_count(0)
    expect(page.locator("text=Only owners and admins")).to_be_visible()
    page.goto("/dashboard/webhooks")
    expect(page.locator("#new-webhook")).to_have_count(0)


def test_a_form_from_elsewhere_changes_nothing(laptop: BrowserContext, demo: Demo) -> None:
    page = signed_in(laptop, demo, "/dashboard/alerts")
    answer = page.request.post(
        f"{demo.url}/dashboard/alerts",
        form={"name": "Forged", "metric": "credits", "threshold": "1", "period": "day"},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status == 403
    page.reload()
    expect(row(page, "Forged")).to_have_count(0)


def test_the_sections_fit_a_phone(phone: BrowserContext, demo: Demo) -> None:
    page = signed_in(phone, demo, "/dashboard/alerts")
    nav = page.locator(".section-nav").bounding_box()
    org = page.locator(".org-name").bounding_box()
    assert nav is not None and org is not None
    assert nav["y"] >= org["y"] + org["height"]  # under the organization, not over it
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "alerts-phone")
