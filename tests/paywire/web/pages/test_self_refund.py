"""A customer's own refund of a purchase, in Chromium: within `PAYWIRE_SELF_REFUND_DAYS` the
account page offers "Refund" beside the pass; the refund ends the pass and the button is gone;
a second purchase is not offered one (once per customer)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from paywire.web.pages.session import user_id_for_email
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import wait_for
from tests.paywire.web.pages.conftest import check_accessibility, pay_on_hosted_checkout, screenshot, sign_in

pytestmark = pytest.mark.browser

EMAIL = "refunder@example.com"


def buy_the_pass(page: Page, service: Service) -> None:
    page.goto(service.url + "/pricing")
    page.get_by_role("button", name="Buy the 3-month Basic pass").click()
    pay_on_hosted_checkout(page)
    page.wait_for_url(service.url + "/billing/success?**")
    expect(page.locator("#confirmed-plan")).to_contain_text("Your pass is active")


def test_a_customer_refunds_their_pass_from_the_account_page_once(
    make_paywire_service: Callable[..., Service], page: Page
) -> None:
    service = make_paywire_service(PAYWIRE_PAGES=True, PAYWIRE_DEMO_SIGN_IN=True, PAYWIRE_SELF_REFUND_DAYS=14)
    sign_in(page, service.url, EMAIL)
    buy_the_pass(page, service)

    page.goto(service.url + "/account")
    refund = page.get_by_role("button", name="Refund 3-month Basic pass")
    expect(refund).to_be_visible()
    check_accessibility(page)
    refund.click()
    expect(page.locator(".flash")).to_contain_text("Refunded 4.00 USD")
    headers = service.headers_for(user_id_for_email(EMAIL))
    with service.http() as http:
        wait_for("the pass ended", lambda: not http.get("/api/billing", headers=headers).json()["access"])
    page.reload()
    expect(page.get_by_role("button", name="Refund 3-month Basic pass")).to_have_count(0)
    screenshot(page, "refunded")

    buy_the_pass(page, service)
    page.goto(service.url + "/account")
    expect(page.locator("[data-payment]")).to_have_count(2)
    expect(page.get_by_role("button", name="Refund 3-month Basic pass")).to_have_count(0)
