"""The marketplace in Chromium, as `paywire dev`'s example runs it: a seller onboards on
stripesim's hosted onboarding page (a used link leads through paywire's refresh_url to a fresh
one), a buyer pays $100 for a session (a 15 % fee), the seller sees the sale, the fee and their
balance; a refund takes back half of the transfer and of the fee (the default policy); the
buyer's bank disputes the charge, and the seller's page and the admin's dashboard both show it.
Every page passes axe."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from paywire.db.models import ApplicationFee, ConnectTransfer, Dispute
from paywire.web.pages.session import user_id_for_email
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import wait_for
from tests.paywire.web.pages.conftest import (
    EXPECT_SECONDS,
    check_accessibility,
    pay_on_hosted_checkout,
    screenshot,
    sign_in,
)
from tests.support.stripesim import Sim

SELLER = "sally@example.com"
BUYER = "bert@example.com"
ADMIN = "ada@example.com"
DISPUTED_CARD = "4000 0000 0000 0259"  # pays, then the buyer's bank disputes it


def another_page(browser: Browser) -> Page:
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    page.set_default_timeout(EXPECT_SECONDS * 1000)
    return page


def sale_of(service: Service) -> tuple[ConnectTransfer, ApplicationFee] | None:
    with service.sessions() as session:
        transfer = session.scalar(select(ConnectTransfer))
        fee = session.scalar(select(ApplicationFee))
        return (transfer, fee) if transfer is not None and fee is not None else None


def test_a_seller_onboards_a_buyer_pays_and_the_refund_and_the_dispute_show(
    make_paywire_service: Callable[..., Service], sim: Sim, page: Page, browser: Browser
) -> None:
    service = make_paywire_service(
        PAYWIRE_PAGES=True, PAYWIRE_DEMO_SIGN_IN=True, PAYWIRE_ADMIN_USERS=user_id_for_email(ADMIN)
    )
    sign_in(page, service.url, SELLER)
    page.goto(f"{service.url}/seller")
    check_accessibility(page)
    page.get_by_role("button", name="Become a seller").click()

    expect(page.get_by_role("heading", name="Set up payments and payouts")).to_be_visible()
    used = page.url
    page.goto(used)  # a link works once: Stripe sends the browser to refresh_url, which makes another
    expect(page.get_by_role("heading", name="Set up payments and payouts")).to_be_visible()
    assert page.url != used and page.url.startswith(used.rsplit("/", 1)[0])
    expect(page.get_by_label("Account number")).to_have_value("000123456789")  # Stripe's test data
    check_accessibility(page)
    screenshot(page, "stripesim-onboarding")
    page.get_by_label("I agree to the Stripe Connected Account Agreement").check()
    page.get_by_role("button", name="Agree and submit").click()

    expect(page).to_have_url(f"{service.url}/seller")
    expect(page.locator("#seller-status")).to_have_attribute("data-state", "enabled")
    expect(page.get_by_role("heading", name="You can sell")).to_be_visible()
    check_accessibility(page)

    buyer = another_page(browser)
    sign_in(buyer, service.url, BUYER)
    buyer.goto(f"{service.url}/marketplace")
    check_accessibility(buyer)
    buyer.get_by_role("button", name=f"Buy 60-minute session from {SELLER}").click()
    expect(buyer.get_by_text("$100.00").first).to_be_visible()
    pay_on_hosted_checkout(buyer, DISPUTED_CARD)
    expect(buyer).to_have_url(re.compile(r"/marketplace\?checkout=done$"))
    expect(buyer.locator("#checkout-done")).to_be_visible()

    transfer, fee = wait_for("the sale mirrored", lambda: sale_of(service))
    assert (transfer.amount, fee.amount) == (10000, 1500)
    page.reload()
    wait_for("the seller's balance", lambda: page.reload() or page.locator("#balance-pending").inner_text() == "$85.00")
    sale = page.locator(f"[data-sale='{transfer.id}']")
    expect(sale.locator(".sale-fee")).to_contain_text("$15.00")
    expect(sale.locator(".sale-net")).to_contain_text("$85.00")
    expect(page.locator("#total-fees")).to_have_text("$15.00")
    screenshot(page, "seller-after-the-sale")

    refunded = service.http().post(
        f"/api/admin/sales/{transfer.id}/refund",
        json={"amount": 5000},
        headers=service.headers_for(user_id_for_email(ADMIN)),
    )
    assert refunded.status_code == 200, refunded.text

    wait_for(
        "the refund's reversals",
        lambda: (lambda s: s and (s[0].amount_reversed, s[1].amount_refunded) == (5000, 750))(sale_of(service)),
    )
    # The buyer's bank disputes the payment now, after the refund (Stripe refuses to refund a
    # disputed charge): not a minute after the payment, as the card would.
    assert transfer.charge_id is not None
    sim.control(f"charges/{transfer.charge_id}/dispute")
    wait_for("the dispute", lambda: _dispute(service))
    page.reload()
    expect(page.locator("#balance-pending")).to_have_text("$42.50")  # 85.00 - 50.00 + 7.50
    expect(sale.locator(".sale-fee")).to_contain_text("$7.50")
    expect(sale.locator(".sale-notes")).to_contain_text("Refunded $50.00")
    expect(sale.locator(".sale-notes")).to_contain_text("Disputed by the buyer's bank (fraudulent, needs response)")
    check_accessibility(page)
    screenshot(page, "seller-refunded-and-disputed")

    admin = another_page(browser)
    sign_in(admin, service.url, ADMIN)
    admin.goto(f"{service.url}/admin")
    dispute = _dispute(service)
    assert dispute is not None
    expect(admin.locator(f"[data-dispute='{dispute}'] .dispute-seller")).to_have_text(SELLER)
    check_accessibility(admin)


def _dispute(service: Service) -> str | None:
    with service.sessions() as session:
        return session.scalar(select(Dispute.id))
