"""The pages in real Chromium: Debian's, driven headless by Playwright, against the real
service (`make_paywire_service`) and stripesim over HTTP.

Fixtures: `browser` (module-scoped), `page`, `no_js_page` (JavaScript off), `pages_service`
(paywire in dev mode, pages and demo sign-in on). Helpers, imported by the tests:
`sign_in(page, base_url, email)`, `pay_on_hosted_checkout(page, card)`,
`check_accessibility(page)` (axe-core: fails on any serious or critical violation) and
`screenshot(page, name)` (PNG under test-artifacts/screenshots/, kept as test artifacts).

Chromium missing is a failure, never a skip: `bin/test` installs it. A test using `browser`
(through `page` or `no_js_page` too) is marked `browser` and `e2e` by tests/conftest.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.paywire.conftest import Service

# `expect(...)` waits as long as the pages' actions do (`set_default_timeout` below), not
# Playwright's 5 s: on a loaded two-core machine Swagger UI alone took longer to render.
EXPECT_SECONDS = 20
expect.set_options(timeout=EXPECT_SECONDS * 1000)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
REPO_ROOT = Path(__file__).resolve().parents[4]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
PAID_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
# axe-core's impacts that fail a test; "moderate" and "minor" are reported by axe but allowed.
FAILING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (bin/test installs it: apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def _new_page(browser: Browser, *, java_script: bool) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        viewport={"width": 1200, "height": 900}, java_script_enabled=java_script
    )
    page = context.new_page()
    page.set_default_timeout(EXPECT_SECONDS * 1000)
    yield page
    context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from _new_page(browser, java_script=True)


@pytest.fixture
def no_js_page(browser: Browser) -> Iterator[Page]:
    yield from _new_page(browser, java_script=False)


@pytest.fixture
def pages_service(make_paywire_service: Callable[..., Service]) -> Service:
    """paywire as `paywire dev` runs it: dev mode, no PAYWIRE_AUTH_SECRET (demo sign-in on)."""
    return make_paywire_service(PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET="")


@pytest.fixture
def service(make_paywire_service: Callable[..., Service]) -> Service:
    """The pages and demo sign-in on, with the suite's auth secret (the lifecycle helpers use
    the bearer API to set a subscriber up); the portal comes back to the account page."""
    return make_paywire_service(PAYWIRE_PAGES=True, PAYWIRE_DEMO_SIGN_IN=True, PAYWIRE_PORTAL_RETURN_PATH="/account")


def sign_in(page: Page, base_url: str, email: str) -> None:
    """Sign in through the sign-in page, as a person would."""
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(email)


def pay_on_hosted_checkout(page: Page, card: str = PAID_CARD, *, name: str = "Test Payer") -> None:
    """Fill stripesim's hosted Checkout page and submit it (Subscribe or Pay)."""
    page.get_by_label("Card information").press_sequentially(card)
    page.get_by_placeholder("MM / YY").press_sequentially("1234")
    page.get_by_placeholder("CVC").press_sequentially("123")
    page.get_by_label("Name on card").fill(name)
    terms = page.locator("#terms")
    if terms.count():  # the catalog asks for the terms of service (the default one does)
        terms.check()
    page.locator("#submit").click()


def check_accessibility(page: Page) -> None:
    """Run axe-core in the page; fail listing every serious or critical violation."""
    results = Axe().run(page, options={"resultTypes": ["violations"]})
    violations = results.response.get("violations", [])
    failing = [v for v in violations if v.get("impact") in FAILING_IMPACTS]
    if failing:
        lines = [f"{len(failing)} serious/critical accessibility violation(s) on {page.url}:"]
        for violation in failing:
            targets = ", ".join(str(node.get("target")) for node in violation.get("nodes", [])[:5])
            lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({targets})")
        pytest.fail("\n".join(lines), pytrace=False)


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/screenshots/, named after the test and `name`."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "test").split(" ")[0].split("::")[-1]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{current}-{name}").strip("-")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{stem}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
