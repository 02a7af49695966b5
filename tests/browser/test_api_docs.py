"""The interactive API reference at /docs works with no network but the server."""

from __future__ import annotations

from playwright.sync_api import BrowserContext

from tests.browser.conftest import SCREENSHOTS, Demo


def test_docs_page_renders_every_operation_from_local_files(
    laptop: BrowserContext, demo: Demo
) -> None:
    # The laptop context aborts, and fails the test on, any request to another host.
    page = laptop.new_page()
    page.goto(f"{demo.url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/usage/export" in path for path in paths)
    assert any("/api/v1/usage/events" in path for path in paths)
    assert any("/api/v1/admin/orgs" in path for path in paths)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "12-api-docs.png"))
