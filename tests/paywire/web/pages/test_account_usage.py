"""The account page of a hybrid plan's subscriber in Chromium: this period's usage with a
progress bar against what the plan includes, the next invoice with the usage so far, and a plan
change's preview that bills it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.paywire.billing.subscribers import HALF_FEB
from tests.paywire.conftest import Service
from tests.paywire.usage.conftest import QUICK_SENDER, all_sent, post_usage
from tests.paywire.web.pages.accounts import open_account, subscriber_for
from tests.paywire.web.pages.conftest import check_accessibility, screenshot
from tests.support.stripesim import Sim

pytestmark = pytest.mark.browser


@pytest.fixture
def usage_pages(make_paywire_service: Callable[..., Service]) -> Service:
    return make_paywire_service(PAYWIRE_PAGES=True, PAYWIRE_DEMO_SIGN_IN=True, **QUICK_SENDER)


def test_the_account_page_shows_usage_and_the_preview_bills_it(usage_pages: Service, sim: Sim, page: Page) -> None:
    uma = subscriber_for(usage_pages, sim, "uma@example.com", "scale")
    events = [
        {"user_id": uma.user_id, "meter": "api_calls", "value": 2500, "identifier": f"uma-{i}", "timestamp": HALF_FEB}
        for i in range(5)
    ]
    assert post_usage(usage_pages, {"events": events}).status_code == 202
    all_sent(usage_pages, uma.user_id)

    open_account(page, usage_pages, "uma@example.com")

    meter = page.locator("#usage-api_calls")
    expect(meter).to_contain_text("API calls")
    expect(meter.locator(".usage-figures")).to_have_text("12,500 of 10,000 included (125.0 %)")
    bar = page.get_by_role("progressbar", name="API calls used this period, of what the plan includes")
    expect(bar).to_have_attribute("value", "10000")
    expect(bar).to_have_attribute("max", "10000")
    expect(meter).to_contain_text("2,500 beyond what is included: $2.50 so far, on the invoice of 1 March 2026.")
    expect(page.locator("#next-invoice")).to_have_text("$22.50 on 1 March 2026 (usage so far: $2.50)")
    check_accessibility(page)
    screenshot(page, "usage")

    page.get_by_label("Plan", exact=True).select_option("pro")
    page.get_by_label("Billing interval", exact=True).select_option("month")
    page.get_by_role("button", name="Preview the change").click()
    lines = page.locator("#preview-next-lines")
    expect(lines).to_contain_text("10000 × API calls (Tier 1 at $0.00 / month)")
    expect(lines).to_contain_text("2500 × API calls (Tier 2 at $0.001 / month)")
    expect(page.locator("#preview-next-invoice")).to_have_text("$12.50 on 1 March 2026")
    check_accessibility(page)
    screenshot(page, "usage-preview")
