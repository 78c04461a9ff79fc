"""One-time purchases in Chromium, as a shop: the pass bought on stripesim's hosted Checkout,
then bought again, which opens a new Checkout (never the finished one) and extends access from
the first pass's end; the account page shows the pass, its end date, one receipt and invoice
per purchase and the card on file, and the portal shows the card and the invoices too. The
buyer's customer lives on a test clock from 1 Feb 2026, so the dates are exact."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from paywire.web.pages.session import user_id_for_email
from tests.paywire.billing.subscribers import CARD_OK, on_a_clock
from tests.paywire.conftest import Service
from tests.paywire.web.pages.conftest import check_accessibility, pay_on_hosted_checkout, screenshot, sign_in
from tests.support.stripesim import Sim

pytestmark = pytest.mark.browser

EMAIL = "shopper@example.com"


def buy_the_pass(page: Page, service: Service, button: str) -> None:
    page.goto(service.url + "/pricing")
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("button", name="Pay")).to_be_visible()  # a payable Checkout, not "Payment complete"
    pay_on_hosted_checkout(page, CARD_OK)
    page.wait_for_url(service.url + "/billing/success?**")


def test_the_pass_bought_twice_extends_access_with_a_receipt_for_each(service: Service, sim: Sim, page: Page) -> None:
    on_a_clock(service, sim, user_id_for_email(EMAIL))
    sign_in(page, service.url, EMAIL)

    buy_the_pass(page, service, "Buy the 3-month Basic pass")
    expect(page.locator("#confirmed-plan")).to_have_text("Your pass is active: Basic until 1 May 2026.")
    page.goto(service.url + "/pricing")
    expect(page.locator("#pass-pass-3-months")).to_contain_text("Yours until 1 May 2026")
    expect(page.locator("#pass-extends")).to_have_text(
        "Buying it again adds 3 months after your current pass: access until 1 August 2026."
    )
    expect(page.locator("#plan-basic")).to_contain_text("Your current plan")
    expect(page.get_by_role("link", name="See your pass on your account page").first).to_have_attribute(
        "href", "/account"
    )

    buy_the_pass(page, service, "Buy the 3-month Basic pass again")
    expect(page.locator("#confirmed-plan")).to_have_text("Your pass is active: Basic until 1 August 2026.")
    page.get_by_role("link", name="Go to your account").click()

    expect(page.locator("#pass-plan")).to_have_text("Basic, through your 3-month Basic pass")
    expect(page.locator("#pass-until")).to_have_text("1 August 2026")
    expect(page.locator("#pass-extend")).to_contain_text("your access would run until 1 November 2026")
    expect(page.locator("#pass-features")).to_contain_text("Email support")
    rows = page.locator("#payments tbody tr")
    expect(rows).to_have_count(2)
    for row in (rows.nth(0), rows.nth(1)):
        expect(row).to_contain_text("1 February 2026")
        expect(row).to_contain_text("3-month Basic pass")
        expect(row).to_contain_text("$4.00")
        expect(row).to_contain_text("Paid")
    receipts = [rows.nth(i).get_by_role("link", name="Receipt").get_attribute("href") for i in (0, 1)]
    invoices = [rows.nth(i).get_by_role("link", name="Invoice").get_attribute("href") for i in (0, 1)]
    assert len({*receipts}) == 2 and len({*invoices}) == 2 and all(receipts) and all(invoices)
    expect(page.locator("#pass-receipt")).to_have_attribute("href", receipts[0] or "")
    expect(page.locator("#card-on-file")).to_have_text("Card on file: Visa •••• 4242, expires 12/2034.")
    check_accessibility(page)
    screenshot(page, "two-passes")
    for receipt in receipts:
        assert "$4.00" in httpx.get(receipt or "", trust_env=False).text

    page.set_viewport_size({"width": 375, "height": 812})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    check_accessibility(page)
    screenshot(page, "two-passes-phone")
    page.set_viewport_size({"width": 1200, "height": 900})

    page.get_by_role("button", name="Manage billing").click()
    page.wait_for_url(f"{service.settings.stripe_api_base}/p/session/*")
    expect(page.locator("#default-card")).to_contain_text("Visa •••• 4242")
    expect(page.locator("[data-invoice]")).to_have_count(2)
    screenshot(page, "portal-after-two-passes")
