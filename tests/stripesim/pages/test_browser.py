"""A person in headless Chromium: Checkout (success, decline, 3D Secure, promo code), invoice, portal.

These tests need Debian's Chromium at /usr/bin/chromium. Without it they fail (never skip):
CI installs it, and a missing browser must not pass silently.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.stripesim.pages.helpers import full_features, subscribed_customer
from tests.support.billing_world import CARD_3DS, CARD_DECLINE, Catalog, with_card
from tests.support.stripesim import Sim

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

# axe-core's impacts that fail a test, as for paywire's pages (tests/paywire/web/pages/conftest.py).
FAILING_IMPACTS = ("serious", "critical")

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


def check_accessibility(page: Page) -> None:
    """Run axe-core in the page; fail listing every serious or critical violation."""
    violations = Axe().run(page, options={"resultTypes": ["violations"]}).response.get("violations", [])
    failing = [v for v in violations if v.get("impact") in FAILING_IMPACTS]
    if failing:
        lines = [f"{len(failing)} serious/critical accessibility violation(s) on {page.url}:"]
        for violation in failing:
            targets = ", ".join(str(node.get("target")) for node in violation.get("nodes", [])[:5])
            lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({targets})")
        pytest.fail("\n".join(lines), pytrace=False)


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


def test_three_d_secure_page_names_the_business(
    page: Page, sim: Sim, stripe_client: stripe.StripeClient, catalog: Catalog, landing: str
) -> None:
    sim.control("account", {"business_profile": {"name": "Acme Analytics"}})
    session = checkout(stripe_client, catalog, landing)
    page.goto(session.url)
    expect(page.get_by_text("Acme Analytics", exact=True).first).to_be_visible()  # the summary's brand
    page.get_by_label("Email").fill("person@example.com")
    type_card(page, CARD_3DS)
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="3D Secure 2 test page")).to_be_visible()
    expect(page.get_by_role("row", name="Merchant")).to_have_text("MerchantAcme Analytics")
    check_accessibility(page)


def test_invoice_page_leads_back_to_the_merchants_site(
    page: Page, sim: Sim, stripe_client: stripe.StripeClient, catalog: Catalog, landing: str
) -> None:
    sim.control("account", {"business_profile": {"name": "Acme Analytics", "url": f"{landing}/home"}})
    customer = stripe_client.v1.customers.create(params={"email": "owed@example.com"})
    with_card(stripe_client, customer, CARD_DECLINE)
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.pro_month.id}]}
    )
    page.goto(stripe_client.v1.invoices.retrieve(sub.latest_invoice).hosted_invoice_url)
    expect(page.get_by_text("Invoice due", exact=True)).to_be_visible()
    check_accessibility(page)
    page.get_by_role("link", name="Acme Analytics").click()
    page.wait_for_url(f"{landing}/home")
    expect(page.get_by_role("heading", name="Thanks for subscribing")).to_be_visible()


def test_portal_previews_a_plan_change_before_confirming_it(
    page: Page, stripe_client: stripe.StripeClient, catalog: Catalog, landing: str
) -> None:
    customer, sub = subscribed_customer(stripe_client, catalog)
    config = stripe_client.v1.billing_portal.configurations.create(params={"features": full_features(catalog)})
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "configuration": config.id, "return_url": f"{landing}/account"}
    )
    page.goto(portal.url)
    page.get_by_role("link", name="Update plan").click()
    page.get_by_label("Pro · $10.00 per month").check()
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Confirm your new plan")).to_be_visible()
    expect(page.get_by_text("Pro × 2 · $20.00 per month ($10.00 each)")).to_be_visible()
    due = page.locator("#due-today")
    expect(due).to_have_text(re.compile(r"^\$1[45]\.\d\d$"))  # 2 x $10 for the rest of the month, less Basic
    check_accessibility(page)
    shown = due.inner_text()
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == catalog.basic_month.id
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Your plan has been updated.")).to_be_visible()
    expect(page.get_by_text("Pro × 2 · $20.00 per month ($10.00 each)")).to_be_visible()
    updated = stripe_client.v1.subscriptions.retrieve(sub.id)
    paid = stripe_client.v1.invoices.retrieve(updated.latest_invoice).amount_paid
    assert shown == f"${paid / 100:.2f}"


def test_checkout_refuses_a_malformed_tax_id_and_keeps_the_name_on_the_card(
    page: Page, stripe_client: stripe.StripeClient, catalog: Catalog, landing: str
) -> None:
    session = checkout(stripe_client, catalog, landing, tax_id_collection={"enabled": True})
    page.goto(session.url)
    page.get_by_label("Email").fill("person@example.com")
    type_card(page, "4242 4242 4242 4242")
    page.get_by_label("Name on card").fill("Grace Hopper")
    page.get_by_label("Tax ID").fill("garbage!!")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator('[data-error-for="tax_id"]')).to_have_text("Invalid value for eu_vat.")
    expect(page.get_by_label("Name on card")).to_have_value("Grace Hopper")
    check_accessibility(page)
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    expect(page.get_by_label("Card information")).to_have_value("4242 4242 4242 4242")
    page.get_by_label("Tax ID").fill("DE123456789")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(f"{landing}/success?session_id={session.id}")
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert [t.to_dict() for t in done.customer_details.tax_ids] == [{"type": "eu_vat", "value": "DE123456789"}]
    card = stripe_client.v1.payment_methods.retrieve(
        stripe_client.v1.subscriptions.retrieve(done.subscription).default_payment_method
    )
    assert card.billing_details.name == "Grace Hopper" and (card.card.exp_month, card.card.exp_year) == (12, 2034)
