"""A person in headless Chromium: Checkout (success, decline, 3D Secure, promo code), invoice, portal.

These tests need Debian's Chromium at /usr/bin/chromium. Without it they fail (never skip):
CI installs it, and a missing browser must not pass silently.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.stripesim.pages.helpers import full_features, subscribed_customer
from tests.support.billing_world import Catalog, with_card

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}; the browser tests need it "
            "(apt-get install chromium). They fail rather than skip so a missing browser is noticed."
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


class _Landing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Welcome</title><h1>Thanks for subscribing</h1>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def landing() -> Iterator[str]:
    """The merchant's site: a tiny local server for success, cancel and return URLs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Landing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def checkout(client: stripe.StripeClient, catalog: Catalog, landing: str, **extra: Any) -> Any:
    return client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": catalog.pro_month.id, "quantity": 1}],
            "success_url": f"{landing}/success?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{landing}/pricing",
            **extra,
        }
    )


def type_card(page: Page, number: str) -> None:
    """Type the card as a person does, key by key (the page formats it as they type)."""
    page.get_by_label("Card information").press_sequentially(number)
    page.get_by_placeholder("MM / YY").press_sequentially("1234")
    page.get_by_placeholder("CVC").press_sequentially("123")


def test_person_pays_and_lands_on_the_success_url(
    page: Page, stripe_client: stripe.StripeClient, catalog: Catalog, landing: str
) -> None:
    session = checkout(stripe_client, catalog, landing)
    page.goto(session.url)
    expect(page.get_by_text("Subscribe to Pro")).to_be_visible()
    page.get_by_label("Email").fill("person@example.com")
    type_card(page, "4242 4242 4242 4242")
    expect(page.get_by_label("Card information")).to_have_value("4242 4242 4242 4242")
    expect(page.get_by_placeholder("MM / YY")).to_have_value("12 / 34")
    page.get_by_label("Name on card").fill("Grace Hopper")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(f"{landing}/success?session_id={session.id}")
    expect(page.get_by_role("heading", name="Thanks for subscribing")).to_be_visible()
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete" and done.customer_details.email == "person@example.com"
    assert stripe_client.v1.subscriptions.retrieve(done.subscription).status == "active"


def test_declined_card_shows_the_decline_on_the_page(
    page: Page, stripe_client: stripe.StripeClient, catalog: Catalog, landing: str
) -> None:
    session = checkout(stripe_client, catalog, landing)
    page.goto(session.url)
    page.get_by_label("Email").fill("person@example.com")
    type_card(page, "4000000000000002")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    assert page.url.startswith(session.url.split("/c/pay/")[0] + "/c/pay/")
    expect(page.get_by_role("button", name="Subscribe")).to_be_visible()
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_three_d_secure_challenge_then_success(
    page: Page, stripe_client: stripe.StripeClient, catalog: Catalog, landing: str
) -> None:
    session = checkout(stripe_client, catalog, landing)
    page.goto(session.url)
    page.get_by_label("Email").fill("person@example.com")
    type_card(page, "4000002500003155")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="3D Secure 2 test page")).to_be_visible()
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{landing}/success?session_id={session.id}")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_promotion_code_applies_with_enter(
    page: Page, stripe_client: stripe.StripeClient, catalog: Catalog, landing: str
) -> None:
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})
    stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "HALF"}
    )
    session = checkout(stripe_client, catalog, landing, allow_promotion_codes=True)
    page.goto(session.url)
    page.get_by_label("Promotion code").fill("half")
    page.get_by_label("Promotion code").press("Enter")
    expect(page.locator("#total-due")).to_have_text("$5.00")
    page.get_by_label("Email").fill("person@example.com")
    type_card(page, "4242424242424242")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(f"{landing}/success?session_id={session.id}")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).amount_total == 500


def test_person_pays_an_open_invoice(page: Page, stripe_client: stripe.StripeClient, catalog: Catalog) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "owed@example.com"})
    with_card(stripe_client, customer, "4000000000000002")
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.pro_month.id}]}
    )
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    page.goto(invoice.hosted_invoice_url)
    type_card(page, "4242424242424242")
    page.get_by_role("button", name="Pay $10.00").click()
    expect(page.get_by_text("Invoice paid", exact=True)).to_be_visible()
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_portal_cancels_a_subscription(
    page: Page, stripe_client: stripe.StripeClient, catalog: Catalog, landing: str
) -> None:
    customer, sub = subscribed_customer(stripe_client, catalog)
    feature_set = full_features(catalog)
    feature_set["subscription_cancel"]["mode"] = "at_period_end"
    config = stripe_client.v1.billing_portal.configurations.create(params={"features": feature_set})
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "configuration": config.id, "return_url": f"{landing}/account"}
    )
    page.goto(portal.url)
    expect(page.get_by_text("Basic · $5.00 per month")).to_be_visible()
    page.get_by_role("link", name="Cancel plan").click()
    page.get_by_label("It's too expensive").check()
    page.get_by_role("button", name="Cancel plan").click()
    expect(page.get_by_text("Your subscription will be canceled at the end of the billing period.")).to_be_visible()
    expect(page.get_by_role("button", name="Renew plan")).to_be_visible()
    canceled = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert canceled.cancel_at_period_end is True
    assert canceled.cancellation_details.feedback == "too_expensive"
    page.get_by_role("link", name="Return to").click()
    page.wait_for_url(f"{landing}/account")
