"""Browser fixtures: Debian's Chromium driven by Playwright, and a server full of demo data.

The browser tests run on SQLite only, against one server for the package whose
data is the demo's (built through ingest, as ``creditmeter demo`` builds it):
that keeps them quick, and the store-dependent rules the page relies on are
tested on both stores in ``tests/test_dashboard_pages.py``.

Each browser context has its clock set to a named time zone (UTC unless the
fixture says otherwise), which the page reads to pick its days.

Chromium is Debian's ``/usr/bin/chromium`` (``make test-deps`` installs it);
Playwright's own browser download is never used. Every request the page makes
to any host but the test server is aborted and fails the test: the dashboard
must work with no network but creditmeter. Screenshots go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from creditmeter.demo import DemoInfo, build_demo
from tests.conftest import Service, running_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class Demo:
    """The session's server, its demo data, and the demo user's personal key."""

    service: Service
    info: DemoInfo

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def key(self) -> str:
        return self.info.personal_key


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    database = tmp_path_factory.mktemp("browser") / "demo.db"
    with running_service(f"sqlite:///{database}", export_rate_limit=0) as service:
        yield Demo(service, build_demo(service.store))


# Package scope, not session: Playwright's sync API runs an event loop in the main
# thread while it is started, which would break the asyncio tests that run later.
@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test-deps` (apt-get install chromium).")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Watch:
    """What a context saw that a working page never causes."""

    elsewhere: list[str]
    errors: list[str]


def _context(
    chromium: Browser, demo: Demo, viewport: dict[str, int], zone: str = "UTC"
) -> Iterator[BrowserContext]:
    context = chromium.new_context(
        viewport=viewport, base_url=demo.url, accept_downloads=True, timezone_id=zone
    )
    context.set_default_timeout(10_000)
    watch = Watch(elsewhere=[], errors=[])

    def only_the_server(route: Route) -> None:
        if route.request.url.startswith(demo.url + "/"):
            route.continue_()
        else:
            watch.elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    context.on("page", lambda page: _listen(page, watch))
    yield context
    context.close()
    assert not watch.elsewhere, f"the page asked another host: {watch.elsewhere}"
    assert not watch.errors, f"the page logged errors: {watch.errors}"


def _listen(page: Page, watch: Watch) -> None:
    def console(message) -> None:  # type: ignore[no-untyped-def]
        # A page that answers 4xx on purpose (a bad key, a bad URL) logs its status.
        if message.type == "error" and "status of 4" not in message.text:
            watch.errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))


@pytest.fixture
def laptop(chromium: Browser, demo: Demo) -> Iterator[BrowserContext]:
    yield from _context(chromium, demo, LAPTOP)


@pytest.fixture
def kolkata(chromium: Browser, demo: Demo) -> Iterator[BrowserContext]:
    """A laptop whose clock is set to India's time (UTC+05:30, no daylight saving)."""
    yield from _context(chromium, demo, LAPTOP, "Asia/Kolkata")


@pytest.fixture
def berlin(chromium: Browser, demo: Demo) -> Iterator[BrowserContext]:
    """A laptop whose clock is set to Berlin's time (daylight saving, clocks go back)."""
    yield from _context(chromium, demo, LAPTOP, "Europe/Berlin")


@pytest.fixture
def phone(chromium: Browser, demo: Demo) -> Iterator[BrowserContext]:
    yield from _context(chromium, demo, PHONE)
