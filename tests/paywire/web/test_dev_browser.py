"""The dev pages in headless Chromium, as a newcomer uses them after `paywire dev`:
sign in, buy Pro on stripesim's hosted Checkout, see access appear after the webhook.

Needs Debian's Chromium at /usr/bin/chromium; without it the test fails (never skips).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.paywire.conftest import Service

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_a_newcomer_buys_pro_from_the_dev_pages(make_paywire_service: Callable[..., Service], page: Page) -> None:
    service = make_paywire_service(PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET="")
    page.goto(service.url + "/")
    expect(page.get_by_text("Development only.")).to_be_visible()
    page.get_by_label("User id").fill("newcomer")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_have_text("signed in as newcomer")
    expect(page.locator("#billing")).to_contain_text('"access": false')

    page.get_by_role("button", name="$10.00 / month per seat").click()
    expect(page.get_by_text("Subscribe to Pro")).to_be_visible()
    page.get_by_label("Card information").press_sequentially("4242 4242 4242 4242")
    page.get_by_placeholder("MM / YY").press_sequentially("1234")
    page.get_by_placeholder("CVC").press_sequentially("123")
    page.get_by_label("Name on card").fill("New Comer")
    page.get_by_role("button", name="Subscribe").click()

    page.wait_for_url(f"{service.url}/billing/success?session_id=*")
    expect(page.locator("#notice")).to_have_text("Access granted by the verified webhook.")
    expect(page.locator("#billing")).to_contain_text('"plan": "pro"')
    expect(page.locator("#billing")).to_contain_text('"status": "active"')

    page.get_by_role("button", name="Manage billing").click()
    page.wait_for_url(f"{service.settings.stripe_api_base}/p/session/*")
    expect(page.get_by_text("newcomer@example.com").first).to_be_visible()
    expect(page.get_by_text("Pro ·").first).to_be_visible()
