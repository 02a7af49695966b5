"""The dashboard's Credit usage page in a real headless Chromium, on the demo's card.

Reached from the usage page's link; it lists the rows ``GET /api/v1/rates`` gives
now, in its order, marks the organization's own, and shows the change the demo
scheduled for next month. Switching organization shows the other card.
"""

from __future__ import annotations

import httpx
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import Demo
from tests.browser.test_dashboard import shot, sign_in


def _card(demo: Demo, org_id: str) -> list[dict[str, object]]:
    with httpx.Client(base_url=demo.url, timeout=30) as client:
        answer = client.get(
            "/api/v1/rates",
            params={"orgId": org_id},
            headers={"Authorization": f"Bearer {demo.key}"},
        )
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def _shown(page, table: str) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    rows = page.locator(f"#{table} tbody tr")
    return [
        (
            rows.nth(n).get_attribute("data-product") or "",
            rows.nth(n).get_attribute("data-feature") or "",
            rows.nth(n).get_attribute("data-source") or "",
        )
        for n in range(rows.count())
    ]


def test_credit_usage_lists_the_card_its_override_and_the_scheduled_change(
    laptop: BrowserContext, demo: Demo
) -> None:
    page = sign_in(laptop, demo)
    page.click("#nav-credit-usage")
    page.wait_for_url("**/dashboard/credit-usage?orgId=org_acme")
    expect(page.locator("h1")).to_have_text("Credit usage")
    expected = [(r["product"], r["feature"] or "", r["source"]) for r in _card(demo, "org_acme")]
    assert _shown(page, "rates") == expected
    override = page.locator('#rates tr[data-source="org"]')
    expect(override).to_have_count(1)
    expect(override.locator("td").nth(1)).to_have_text("3.5 per page")
    expect(override).to_contain_text("Acme Robotics's own rate")
    assert _shown(page, "scheduled") == [("parse", "standard", "global")]
    expect(page.locator("#scheduled tbody tr td").nth(2)).to_have_text("1.25 per page")
    shot(page, "credit-usage")

    # Another organization of the same person: the global card only, no override.
    page.click("#org-menu summary")
    page.click('#org-menu a[data-org="org_globex"]')
    page.wait_for_url("**/dashboard/credit-usage?orgId=org_globex")
    expected = [(r["product"], r["feature"] or "", r["source"]) for r in _card(demo, "org_globex")]
    assert _shown(page, "rates") == expected
    assert {source for _, _, source in expected} == {"global"}
    page.click("#nav-usage")
    page.wait_for_url("**/dashboard?orgId=org_globex**")


def test_credit_usage_of_an_organization_one_is_not_in_is_refused(
    laptop: BrowserContext, demo: Demo
) -> None:
    page = sign_in(laptop, demo)
    response = page.goto("/dashboard/credit-usage?orgId=org_initech")
    assert response is not None and response.status == 403
    expect(page.locator("#page-error")).to_contain_text("not a member")
