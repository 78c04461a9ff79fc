"""The account page in Chromium: a subscriber sees their plan, status and next invoice, and
changes, cancels, reactivates, pauses and resumes it through the page's forms, against the real
service and stripesim. Amounts are stripesim's, to the cent: every subscriber starts on
1 Feb 2026 on their own test clock and acts on 15 Feb, with half of February left.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from paywire.web.pages.session import user_id_for_email
from tests.paywire.billing.subscribers import CARD_OK, on_a_clock
from tests.paywire.conftest import Service
from tests.paywire.web.pages.accounts import open_account, subscriber_for
from tests.paywire.web.pages.conftest import check_accessibility, pay_on_hosted_checkout, screenshot, sign_in
from tests.support.stripesim import Sim

pytestmark = pytest.mark.browser


def test_a_user_without_a_subscription_sees_no_plan_and_a_link_to_pricing(service: Service, page: Page) -> None:
    open_account(page, service, "nobody@example.com")

    expect(page.locator("#no-plan")).to_have_text("No plan.")
    page.get_by_role("link", name="See the plans and pricing").click()
    page.wait_for_url(service.url + "/pricing")
    page.go_back()
    expect(page.get_by_role("button", name="Manage billing")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel subscription")).to_have_count(0)
    check_accessibility(page)
    screenshot(page, "no-plan")


def test_the_account_page_shows_plan_status_seats_and_next_invoice(service: Service, sim: Sim, page: Page) -> None:
    subscriber_for(service, sim, "pat@example.com", "pro", quantity=3)

    open_account(page, service, "pat@example.com")

    expect(page.locator("#plan-name")).to_have_text("Pro (Monthly)")
    expect(page.locator("#plan-status")).to_have_text("Active")
    expect(page.locator("#plan-seats")).to_have_text("3")
    expect(page.locator("#plan-period-end")).to_have_text("1 March 2026")
    expect(page.locator("#next-invoice")).to_have_text("$30.00 on 1 March 2026")
    expect(page.locator("#plan-limits")).to_contain_text("Members: 3 (1 per seat)")
    expect(page.locator("#plan-features")).to_contain_text("API access")
    check_accessibility(page)
    screenshot(page, "active-pro")

    page.set_viewport_size({"width": 375, "height": 812})  # a phone: nothing wider than the screen
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    expect(page.get_by_role("button", name="Cancel subscription")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "active-pro-phone")


def test_an_upgrade_shows_its_preview_then_the_new_plan(service: Service, sim: Sim, page: Page) -> None:
    alice = subscriber_for(service, sim, "alice@example.com", "basic")
    open_account(page, service, "alice@example.com")
    expect(page.locator("#plan-name")).to_have_text("Basic (Monthly)")
    expect(page.locator("#next-invoice")).to_have_text("$5.00 on 1 March 2026")
    plan_menu = page.get_by_label("Plan", exact=True)
    expect(plan_menu).to_have_value("")  # not the current plan: a preview of it would only be refused
    page.get_by_role("button", name="Preview the change").click()
    assert plan_menu.evaluate("menu => menu.validity.valueMissing")  # the browser asks for a choice first
    expect(page).to_have_url(service.url + "/account")

    plan_menu.select_option("pro")
    page.get_by_label("Billing interval", exact=True).select_option("month")
    page.get_by_role("button", name="Preview the change").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Review your plan change")
    expect(page.locator("#preview-summary")).to_contain_text("Upgrade to Pro (monthly, 1 seat), effective now.")
    expect(page.locator("#preview-due-now")).to_have_text("$2.50")
    expect(page.locator("#preview-credit")).to_have_text("$2.50")
    expect(page.locator("#preview-next-invoice")).to_have_text("$10.00 on 1 March 2026")
    expect(page.locator("#preview-lines tbody tr")).to_have_count(2)
    expect(page.locator("#preview-lines")).to_contain_text("-$2.50")
    expect(page.locator("#preview-lines")).to_contain_text("$5.00")
    assert alice.stripe_subscription()["items"]["data"][0]["price"]["lookup_key"] == "basic_month"
    check_accessibility(page)
    screenshot(page, "preview")

    page.get_by_role("button", name="Confirm upgrade").click()

    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text("You are now on Pro (monthly, 1 seat). $2.50 was charged.")
    expect(page.locator("#plan-name")).to_have_text("Pro (Monthly)")
    expect(page.locator("#next-invoice")).to_have_text("$10.00 on 1 March 2026")
    assert alice.stripe_subscription()["items"]["data"][0]["price"]["lookup_key"] == "pro_month"
    assert alice.latest_invoice()["amount_paid"] == 250
    rows = page.locator("#payments tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("15 February 2026")
    expect(rows.first).to_contain_text("Pro subscription, plan change")
    expect(rows.first).to_contain_text("$2.50")
    expect(rows.first).to_contain_text("Paid")
    expect(rows.first.get_by_role("link", name="Invoice")).to_have_attribute(
        "href", alice.latest_invoice()["hosted_invoice_url"]
    )
    check_accessibility(page)
    screenshot(page, "upgraded")


def test_cancel_then_reactivate(service: Service, sim: Sim, page: Page) -> None:
    bob = subscriber_for(service, sim, "bob@example.com", "advanced")
    open_account(page, service, "bob@example.com")

    page.get_by_role("button", name="Cancel subscription").click()

    # A confirmation first: one click changes nothing.
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel your subscription?")
    expect(page.locator("#confirm-cancel")).to_contain_text("Your Advanced plan stays active until 1 March 2026")
    assert bob.stripe_subscription()["cancel_at_period_end"] is False
    check_accessibility(page)
    page.get_by_role("link", name="Keep my subscription").click()
    expect(page.locator("#plan-status")).to_have_text("Active")
    page.get_by_role("button", name="Cancel subscription").click()
    page.get_by_role("button", name="Yes, cancel my subscription").click()

    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text(
        "Your subscription is canceled; you keep access until 1 March 2026."
    )
    expect(page.locator("#plan-status")).to_have_text("Set to cancel at the end of the period")
    expect(page.locator("#plan-ends")).to_have_text("1 March 2026")
    expect(page.locator("#next-invoice")).to_have_text("None: the subscription ends on 1 March 2026.")
    expect(page.get_by_role("button", name="Cancel subscription")).to_have_count(0)
    assert bob.stripe_subscription()["cancel_at_period_end"] is True
    check_accessibility(page)
    screenshot(page, "cancel-pending")

    page.get_by_role("button", name="Reactivate subscription").click()

    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text("Your subscription is reactivated: it renews as before.")
    expect(page.locator("#plan-status")).to_have_text("Active")
    expect(page.locator("#next-invoice")).to_have_text("$7.00 on 1 March 2026")
    expect(page.get_by_role("button", name="Reactivate subscription")).to_have_count(0)
    assert bob.stripe_subscription()["cancel_at_period_end"] is False
    screenshot(page, "reactivated")


def test_cancel_then_reactivate_without_javascript(service: Service, sim: Sim, no_js_page: Page) -> None:
    carl = subscriber_for(service, sim, "carl@example.com", "basic")
    page = no_js_page
    open_account(page, service, "carl@example.com")

    page.get_by_role("button", name="Cancel subscription").click()
    page.get_by_role("button", name="Yes, cancel my subscription").click()
    page.wait_for_url(service.url + "/account")
    expect(page.locator("#plan-status")).to_have_text("Set to cancel at the end of the period")
    assert carl.stripe_subscription()["cancel_at_period_end"] is True

    page.get_by_role("button", name="Reactivate subscription").click()
    page.wait_for_url(service.url + "/account")
    expect(page.locator("#plan-status")).to_have_text("Active")
    assert carl.stripe_subscription()["cancel_at_period_end"] is False
    screenshot(page, "no-js-reactivated")


def test_subscribing_on_the_hosted_checkout_then_the_account_page(service: Service, sim: Sim, page: Page) -> None:
    """The whole way in the browser: pricing, stripesim's hosted Checkout with 4242…, the account."""
    email = "dora@example.com"
    on_a_clock(service, sim, user_id_for_email(email))
    sign_in(page, service.url, email)
    page.goto(service.url + "/pricing")
    page.get_by_role("button", name="Subscribe to Basic, monthly").click()

    pay_on_hosted_checkout(page, CARD_OK)

    page.wait_for_url(service.url + "/**")
    expect(page.locator("#confirmed-plan")).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Go to your account").click()
    expect(page.locator("#plan-name")).to_have_text("Basic (Monthly)")
    expect(page.locator("#plan-status")).to_have_text("Active")
    expect(page.locator("#plan-period-end")).to_have_text("1 March 2026")
    expect(page.locator("#next-invoice")).to_have_text("$5.00 on 1 March 2026")
    expect(page.locator("#payments tbody tr")).to_have_count(1)
    expect(page.locator("#card-on-file")).to_have_text("Card on file: Visa •••• 4242, expires 12/2034.")
    screenshot(page, "after-checkout")
