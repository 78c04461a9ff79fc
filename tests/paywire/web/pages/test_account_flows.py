"""The account page's other flows in Chromium: a downgrade waits and is undone, seats go up now
and down at the period end, pause and unpause, a failed renewal's banner leads to paying the
invoice, an upgrade needing 3-D Secure is confirmed from its banner, a promotion code, the
portal. Amounts are stripesim's, to the cent (subscribed on 1 Feb 2026, acting on 15 Feb).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from paywire.billing.plan_changes import PAYMENT_PENDING_MESSAGES
from paywire.stripe import Kind
from tests.paywire.billing.subscribers import MAR_1, Subscriber, wait_for
from tests.paywire.conftest import Service
from tests.paywire.web.pages.accounts import open_account, subscriber_for
from tests.paywire.web.pages.conftest import check_accessibility, screenshot
from tests.support.stripesim import Sim

pytestmark = pytest.mark.browser

HOUR = 3600
CARD_FAILS_LATER = "4000000000000341"  # attaches, then every charge is declined
CARD_3DS = "4000002500003155"


def use_card(subscriber: Subscriber, number: str) -> None:
    """The customer's default card becomes `number` (test setup, as if done in the portal)."""
    client = subscriber.sim.client()
    sub = client.v1.subscriptions.retrieve(subscriber.subscription_id())
    pm = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034}}
    )
    client.v1.payment_methods.attach(pm.id, params={"customer": str(sub.customer)})
    client.v1.customers.update(str(sub.customer), params={"invoice_settings": {"default_payment_method": pm.id}})
    client.v1.subscriptions.update(sub.id, params={"default_payment_method": pm.id})


def preview(page: Page, plan: str, interval: str = "month", seats: int | None = None) -> None:
    page.get_by_label("Plan", exact=True).select_option(plan)
    page.get_by_label("Billing interval", exact=True).select_option(interval)
    if seats is not None:
        page.get_by_label("Seats (per-seat plans only)").fill(str(seats))
    page.get_by_role("button", name="Preview the change").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Review your plan change")


def test_a_downgrade_is_scheduled_for_the_period_end_and_undone(service: Service, sim: Sim, page: Page) -> None:
    erin = subscriber_for(service, sim, "erin@example.com", "pro")
    open_account(page, service, "erin@example.com")

    preview(page, "basic")
    expect(page.locator("#preview-summary")).to_contain_text(
        "Downgrade to Basic (monthly), effective on 1 March 2026; nothing changes until then."
    )
    expect(page.locator("#preview-due-now")).to_have_text("$0.00")
    expect(page.locator("#preview-next-invoice")).to_have_text("$5.00 on 1 March 2026")
    expect(page.locator("#preview-lines")).to_have_count(0)
    page.get_by_role("button", name="Confirm downgrade").click()

    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text(
        "Your plan changes to Basic (monthly) on 1 March 2026; until then nothing changes."
    )
    expect(page.locator("#plan-name")).to_have_text("Pro (Monthly)")
    expect(page.locator("#pending-change")).to_contain_text("On 1 March 2026 your plan changes to Basic (monthly")
    expect(page.locator("#next-invoice")).to_have_text("$5.00 on 1 March 2026")
    expect(page.get_by_role("button", name="Preview the change")).to_have_count(0)
    schedule_id = erin.stripe_subscription()["schedule"]
    assert schedule_id
    check_accessibility(page)
    screenshot(page, "downgrade-pending")

    page.get_by_role("button", name="Undo the scheduled change").click()

    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text("The change to Basic is canceled: your plan stays as it is.")
    expect(page.locator("#pending-change")).to_have_count(0)
    expect(page.locator("#next-invoice")).to_have_text("$10.00 on 1 March 2026")
    assert erin.stripe_subscription()["schedule"] is None
    assert erin.gateway.retrieve(Kind.SUBSCRIPTION_SCHEDULE, schedule_id)["status"] == "released"


def test_more_seats_are_charged_now_and_fewer_wait_for_the_period_end(service: Service, sim: Sim, page: Page) -> None:
    sam = subscriber_for(service, sim, "sam@example.com", "pro")
    open_account(page, service, "sam@example.com")

    page.get_by_label("Number of seats").fill("3")
    page.get_by_role("button", name="Preview the seat change").click()

    expect(page.locator("#preview-summary")).to_contain_text("Upgrade to Pro (monthly, 3 seats), effective now.")
    expect(page.locator("#preview-due-now")).to_have_text("$10.00")
    expect(page.locator("#preview-credit")).to_have_text("$5.00")
    expect(page.locator("#preview-next-invoice")).to_have_text("$30.00 on 1 March 2026")
    page.get_by_role("button", name="Confirm upgrade").click()
    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text("You are now on Pro (monthly, 3 seats). $10.00 was charged.")
    expect(page.locator("#plan-seats")).to_have_text("3")
    expect(page.locator("#plan-limits")).to_contain_text("Members: 3 (1 per seat)")
    assert sam.stripe_subscription()["items"]["data"][0]["quantity"] == 3

    page.get_by_label("Number of seats").fill("2")
    page.get_by_role("button", name="Preview the seat change").click()
    expect(page.locator("#preview-summary")).to_contain_text(
        "Downgrade to Pro (monthly, 2 seats), effective on 1 March 2026"
    )
    expect(page.locator("#preview-due-now")).to_have_text("$0.00")
    page.get_by_role("button", name="Confirm downgrade").click()

    page.wait_for_url(service.url + "/account")
    expect(page.locator("#plan-seats")).to_have_text("3")
    expect(page.locator("#pending-change")).to_contain_text("Pro (monthly, 2 seats)")
    expect(page.locator("#next-invoice")).to_have_text("$20.00 on 1 March 2026")
    assert sam.stripe_subscription()["items"]["data"][0]["quantity"] == 3
    screenshot(page, "seats-down-pending")


def test_pause_then_unpause(service: Service, sim: Sim, page: Page) -> None:
    paula = subscriber_for(service, sim, "paula@example.com", "basic")
    open_account(page, service, "paula@example.com")

    page.get_by_role("button", name="Pause subscription", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pause your subscription?")
    assert paula.stripe_subscription()["status"] == "active", "one click changes nothing"
    page.get_by_role("button", name="Yes, pause my subscription").click()

    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text(
        "Your subscription is paused: no charges and no access until you unpause it."
    )
    expect(page.locator("#plan-status")).to_have_text("Paused")
    expect(page.locator("#next-invoice")).to_have_text("None while the subscription is paused.")
    expect(page.get_by_role("button", name="Pause subscription", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel subscription")).to_have_count(0)
    assert paula.stripe_subscription()["status"] == "paused"
    assert paula.billing()["access"] is False
    # No access, so no features listed as if there were.
    expect(page.locator("#plan-features")).to_have_count(0)
    expect(page.locator("#plan-no-access")).to_have_text(
        "Your plan's features are off while the subscription is paused; unpause it to use them again."
    )
    check_accessibility(page)
    screenshot(page, "paused")

    # The pricing page knows: the plan marked Paused, nothing offered that would be refused.
    page.get_by_role("link", name="Pricing").click()
    expect(page.locator("#plan-basic #plan-state")).to_have_text("Your plan · Paused")
    expect(page.locator("#current-plan")).to_contain_text("You are on Basic: Paused.")
    expect(page.get_by_role("button", name=re.compile("^(Subscribe|Buy)"))).to_have_count(0)
    expect(page.locator("#plan-pro")).to_contain_text("Plan changes wait while your subscription is paused")
    check_accessibility(page)
    screenshot(page, "paused-pricing")
    page.get_by_role("link", name="Manage your plan").first.click()

    page.get_by_role("button", name="Unpause subscription").click()

    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text("Your subscription is unpaused: a new billing period starts now.")
    expect(page.locator("#plan-status")).to_have_text("Active")
    # Unpausing starts a new billing cycle now (15 Feb).
    expect(page.locator("#plan-period-end")).to_have_text("15 March 2026")
    assert paula.stripe_subscription()["status"] == "active"
    assert paula.billing()["access"] is True


def test_a_failed_renewal_shows_the_past_due_banner_and_its_invoice_is_paid(
    service: Service, sim: Sim, page: Page
) -> None:
    fred = subscriber_for(service, sim, "fred@example.com", "basic")
    use_card(fred, CARD_FAILS_LATER)
    fred.advance(MAR_1 + 2 * HOUR)
    assert fred.stripe_subscription()["status"] == "past_due"
    open_invoice = fred.latest_invoice()
    assert open_invoice["status"] == "open"

    open_account(page, service, "fred@example.com")

    banner = page.get_by_role("alert").filter(has_text="Your last payment failed")
    expect(banner).to_be_visible()
    fix = banner.get_by_role("link", name="Fix payment")
    expect(fix).to_have_attribute("href", open_invoice["hosted_invoice_url"])
    expect(page.locator("#plan-status")).to_have_text("Payment overdue")
    due = page.locator("#payments tbody tr").first
    expect(due).to_contain_text("Due")
    expect(due).to_contain_text("Basic subscription, renewal")
    expect(due.get_by_role("link")).to_have_accessible_name("Pay for Basic subscription, renewal, 1 March 2026")
    expect(due.get_by_role("link")).to_have_attribute("href", open_invoice["hosted_invoice_url"])
    check_accessibility(page)
    screenshot(page, "past-due")
    page.get_by_role("link", name="Pricing").click()
    expect(page.locator("#plan-basic #plan-state")).to_have_text("Your plan · Payment overdue")
    expect(page.get_by_role("button", name=re.compile("^(Subscribe|Buy)"))).to_have_count(0)
    page.go_back()

    fix.click()
    expect(page.get_by_role("heading", name=f"Invoice {open_invoice['number']}")).to_be_visible()
    page.get_by_label("Card information").press_sequentially("4242 4242 4242 4242")
    page.get_by_placeholder("MM / YY").press_sequentially("1234")
    page.get_by_placeholder("CVC").press_sequentially("123")
    page.get_by_label("Name on card").fill("Fred Payer")
    page.locator("#submit").click()
    wait_for("the renewal paid", lambda: fred.latest_invoice()["status"] == "paid")
    fred.settle()

    page.goto(service.url + "/account")
    expect(page.locator("#plan-status")).to_have_text("Active")
    expect(page.locator("#past-due-banner")).to_have_count(0)


def test_an_upgrade_needing_authentication_is_confirmed_from_its_banner(service: Service, sim: Sim, page: Page) -> None:
    cora = subscriber_for(service, sim, "cora@example.com", "basic")
    use_card(cora, CARD_3DS)
    open_account(page, service, "cora@example.com")

    preview(page, "pro")
    page.get_by_role("button", name="Confirm upgrade").click()

    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text(PAYMENT_PENDING_MESSAGES["requires_action"])
    expect(page.get_by_role("status")).to_contain_text("Your bank asks you to confirm the payment")
    expect(page.locator("#plan-name")).to_have_text("Basic (Monthly)")
    banner = page.get_by_role("alert").filter(has_text="Action required")
    link = banner.get_by_role("link", name="Confirm your payment")
    expect(link).to_have_attribute("href", cora.latest_invoice()["hosted_invoice_url"])
    expect(page.get_by_role("button", name="Preview the change")).to_have_count(0)
    check_accessibility(page)
    screenshot(page, "action-required")

    link.click()
    page.locator("#confirm-payment").click()
    page.get_by_role("button", name="Complete authentication").click()
    wait_for("the upgrade applied", lambda: cora.billing()["plan"] == "pro")

    page.goto(service.url + "/account")
    expect(page.locator("#plan-name")).to_have_text("Pro (Monthly)")
    expect(page.locator("#action-required-banner")).to_have_count(0)


def test_a_promotion_code_is_applied_and_a_wrong_one_explained(service: Service, sim: Sim, page: Page) -> None:
    pia = subscriber_for(service, sim, "pia@example.com", "basic")
    client = sim.client()
    coupon = client.v1.coupons.create(params={"percent_off": 20, "duration": "forever"})
    client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "SPRING20"})
    open_account(page, service, "pia@example.com")

    page.get_by_label("Promotion code", exact=True).fill("NOPE")
    with page.expect_response(service.url + "/account") as answer:
        page.get_by_role("button", name="Apply code").click()
    assert answer.value.status == 400  # the refusal's status, on the page the form led back to
    expect(page).to_have_url(service.url + "/account")  # not the form's POST: a reload sends nothing
    expect(page.get_by_role("alert")).to_have_text("There is no promotion code 'NOPE'.")
    assert not pia.stripe_subscription().get("discounts")
    with page.expect_response(service.url + "/account") as reloaded:
        page.reload()
    assert reloaded.value.request.method == "GET" and reloaded.value.status == 200
    expect(page.locator("#account-error")).to_have_count(0)

    page.get_by_label("Promotion code", exact=True).fill("SPRING20")
    page.get_by_role("button", name="Apply code").click()

    page.wait_for_url(service.url + "/account")
    expect(page.get_by_role("status")).to_have_text("Promotion code SPRING20 applied: 20% off.")
    expect(page.locator("#plan-facts")).to_contain_text("A promotion code is applied.")
    expect(page.locator("#next-invoice")).to_have_text("$4.00 on 1 March 2026")


def test_manage_billing_goes_to_the_stripe_portal_and_back(service: Service, sim: Sim, page: Page) -> None:
    subscriber_for(service, sim, "mona@example.com", "advanced")
    open_account(page, service, "mona@example.com")

    page.get_by_role("button", name="Manage billing").click()

    page.wait_for_url(f"{service.settings.stripe_api_base}/p/session/*")
    expect(page.get_by_text("Advanced ·").first).to_be_visible()
    screenshot(page, "portal")
    page.locator("#return-link").click()
    page.wait_for_url(service.url + "/account")
    expect(page.locator("#plan-name")).to_have_text("Advanced (Monthly)")


def test_a_canceled_subscription_sends_back_to_pricing(service: Service, sim: Sim, page: Page) -> None:
    gus = subscriber_for(service, sim, "gus@example.com", "basic")
    gus.ok("/api/subscription/cancel")
    gus.advance(MAR_1 + 2 * HOUR)

    open_account(page, service, "gus@example.com")

    expect(page.locator("#plan-status")).to_have_text("Canceled")
    expect(page.get_by_role("link", name="Choose a plan")).to_have_attribute("href", "/pricing")
    expect(page.get_by_role("button", name="Reactivate subscription")).to_have_count(0)
    expect(page.get_by_role("button", name="Preview the change")).to_have_count(0)
    expect(page.locator("#next-invoice")).to_have_text("None.")
    check_accessibility(page)
