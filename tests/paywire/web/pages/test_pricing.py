"""The pricing page: the catalog's plans and pass, a monthly/yearly switch that shows the
saving (with and without JavaScript), the user's plan marked, Subscribe through the
server-side Checkout."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Page, expect

from paywire.billing.entitlements import entitlement_for
from paywire.web.pages.session import user_id_for_email
from tests.paywire.conftest import Service
from tests.paywire.web.pages.conftest import check_accessibility, screenshot, sign_in
from tests.paywire.web.pages.forms import (
    checkout_session_id,
    csrf_token_of,
    sign_in_over_http,
    start_checkout_over_http,
)
from tests.support.stripesim import Sim


def _wait_for_access(service: Service, email: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with service.sessions() as session:
            if entitlement_for(session, user_id_for_email(email), catalog=None, grace_seconds=0).access:
                return
        time.sleep(0.1)
    raise AssertionError(f"{email} got no access within {timeout}s")


def _centres(page: Page, selector: str) -> dict[str, float]:
    """A label's box, its vertical middle and the middle of its words."""
    found: dict[str, float] = page.locator(selector).evaluate(
        """label => {
            const box = label.getBoundingClientRect();
            const range = document.createRange();
            range.selectNodeContents(label);
            const words = range.getBoundingClientRect();
            return {box: Math.round(box.top) * 10000 + Math.round(box.height),
                    middle: box.top + box.height / 2, text: words.top + words.height / 2};
        }"""
    )
    return found


def _checkout_sessions(sim: Sim) -> list[str]:
    return [s.id for s in sim.client().v1.checkout.sessions.list(params={"limit": 100}).data]


def test_the_pricing_page_shows_the_catalog_with_yearly_savings_and_the_pass(pages_service: Service) -> None:
    with pages_service.http() as http:
        home, pricing = http.get("/"), http.get("/pricing")
    assert home.status_code == pricing.status_code == 200
    for text in ("Basic", "Advanced", "Pro", "$5.00", "$50.00", "$10.00", "$100.00", "per seat"):
        assert text in pricing.text, text
    assert "save up to 17%" in pricing.text
    assert "Save $20.00 a year per seat (17%)" in pricing.text  # Pro: 12 x $10 - $100
    assert "3-month Basic pass" in pricing.text and "$4.00" in pricing.text
    assert "price_" not in pricing.text  # amounts from the catalog, no Stripe price ids
    assert 'id="interval-month" value="month" checked' in pricing.text
    with pages_service.http() as http:
        assert 'id="interval-year" value="year" checked' in http.get("/pricing?interval=year").text


def test_the_period_switch_shows_yearly_prices_with_and_without_javascript(
    pages_service: Service, page: Page, no_js_page: Page
) -> None:
    for browser_page in (page, no_js_page):
        browser_page.goto(f"{pages_service.url}/pricing")
        pro = browser_page.locator("#plan-pro")
        monthly, yearly = pro.locator(".for-month .price"), pro.locator(".for-year .price")
        expect(monthly).to_have_text("$10.00 / month per seat")
        expect(yearly).to_be_hidden()
        browser_page.locator("label[for=interval-year]").click()
        expect(yearly).to_have_text("$100.00 / year per seat")
        expect(monthly).to_be_hidden()
        expect(pro.get_by_text("Save $20.00 a year per seat (17%)")).to_be_visible()
        expect(browser_page.get_by_role("button", name="Subscribe to Pro, yearly")).to_be_visible()
        expect(browser_page.get_by_role("button", name="Subscribe to Pro, monthly")).to_be_hidden()
    expect(page).to_have_url(f"{pages_service.url}/pricing?interval=year")  # JS keeps the choice in the URL
    screenshot(no_js_page, "yearly-without-javascript")


def test_the_pricing_page_is_accessible_signed_out_and_signed_in(pages_service: Service, page: Page) -> None:
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{pages_service.url}/pricing")
    check_accessibility(page)
    screenshot(page, "signed-out")
    expect(page.locator("#plan-pro .features")).to_contain_text("API access")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    with pages_service.http() as http:
        favicon, asked_for = http.get(icon or ""), http.get("/favicon.ico")
    assert favicon.status_code == asked_for.status_code == 200
    assert favicon.headers["content-type"] == asked_for.headers["content-type"] == "image/svg+xml"
    page.set_viewport_size({"width": 390, "height": 844})
    check_accessibility(page)
    screenshot(page, "signed-out-phone")
    # The period switch on a phone: both halves as tall as each other, their words centred.
    halves = [_centres(page, f"label[for=interval-{iv}]") for iv in ("month", "year")]
    assert halves[0]["box"] == halves[1]["box"], halves
    for half in halves:
        assert abs(half["text"] - half["middle"]) <= 1, halves
    assert failed == [], failed  # no favicon 404, nothing else missing
    page.set_viewport_size({"width": 1200, "height": 900})
    sign_in(page, pages_service.url, "ann@example.com")
    page.goto(f"{pages_service.url}/pricing?interval=year")
    check_accessibility(page)
    screenshot(page, "signed-in-yearly")


def test_subscribe_signed_out_goes_through_sign_in_and_back(pages_service: Service, page: Page, sim: Sim) -> None:
    page.goto(f"{pages_service.url}/pricing?interval=year")
    page.locator("#seats-pro-year").fill("3")
    page.get_by_role("button", name="Subscribe to Pro, yearly").click()
    expect(page).to_have_url(f"{pages_service.url}/sign-in?next=/pricing%3Fplan%3Dpro%26interval%3Dyear%26quantity%3D3")
    expect(page.get_by_role("status")).to_contain_text("Sign in to subscribe.")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_role("button", name="Sign in", exact=True).click()

    # Back with the choice remembered, waiting for a click: nothing started from a link.
    expect(page).to_have_url(f"{pages_service.url}/pricing?plan=pro&interval=year&quantity=3")
    expect(page.locator("#chosen")).to_contain_text("Pro, yearly, 3 seats: $300.00 a year.")
    expect(page.locator("#interval-year")).to_be_checked()
    check_accessibility(page)
    assert _checkout_sessions(sim) == []
    page.get_by_role("button", name="Continue to checkout").click()

    expect(page.get_by_text("Subscribe to Pro")).to_be_visible()
    assert page.url.startswith(pages_service.settings.stripe_api_base or "")
    [session_id] = _checkout_sessions(sim)
    [line] = sim.client().v1.checkout.sessions.line_items.list(session_id).data
    assert (line.price.lookup_key, line.quantity) == ("pro_year", 3)


def test_checkout_without_the_csrf_token_is_refused_and_starts_nothing(pages_service: Service, sim: Sim) -> None:
    with pages_service.http() as http:
        sign_in_over_http(http, "ann@example.com")
        refused = http.post("/checkout", data={"plan": "pro", "interval": "month", "quantity": "1"})
        assert refused.status_code == 403
        cross_site = http.post(
            "/checkout",
            data={"plan": "pro", "interval": "month", "csrf_token": csrf_token_of(http.get("/pricing"))},
            headers={"Origin": "https://evil.example"},
        )
        assert cross_site.status_code == 403
    assert _checkout_sessions(sim) == []


def test_subscribe_starts_stripes_checkout_for_the_catalog_price(pages_service: Service, sim: Sim) -> None:
    with pages_service.http() as http:
        sign_in_over_http(http, "ann@example.com")
        hosted = start_checkout_over_http(http, plan="pro", interval="year", quantity="3", price="1")
    session = sim.client().v1.checkout.sessions.retrieve(checkout_session_id(hosted), params={"expand": ["line_items"]})
    assert session.client_reference_id == user_id_for_email("ann@example.com")
    assert session.customer_email is None or session.customer_email == "ann@example.com"
    item = session.line_items.data[0]
    assert item.price.unit_amount == 10000 and item.quantity == 3


def test_a_wrong_choice_is_explained_on_the_pricing_page(pages_service: Service, sim: Sim) -> None:
    with pages_service.http() as http:
        sign_in_over_http(http, "ann@example.com")
        token = csrf_token_of(http.get("/pricing"))
        for fields, words in (
            ({"plan": "enterprise", "interval": "month"}, "enterprise"),
            ({"plan": "pro", "interval": "month", "quantity": "101"}, "100"),
            ({"plan": "pro", "interval": "month", "quantity": "two"}, "whole number"),
        ):
            answer = http.post("/checkout", data={"csrf_token": token, **fields})
            assert answer.status_code == 303 and answer.headers["location"] == "/pricing"
            assert words in http.get("/pricing").text
    assert _checkout_sessions(sim) == []


def test_a_subscriber_sees_their_plan_marked_and_is_sent_to_the_account_page(pages_service: Service, sim: Sim) -> None:
    with pages_service.http() as http:
        sign_in_over_http(http, "sub@example.com")
        hosted = start_checkout_over_http(http, plan="advanced", interval="month")
        assert sim.complete_checkout(checkout_session_id(hosted)).status_code < 400
        _wait_for_access(pages_service, "sub@example.com")
        pricing = http.get("/pricing")
        assert 'class="plan current" id="plan-advanced"' in pricing.text
        assert "Your plan · Active" in pricing.text
        assert "Switch to Pro on your account page" in pricing.text
        assert "Subscribe to Pro" not in pricing.text
        # A stale tab still showing Subscribe: a friendly pointer, no second subscription.
        token = csrf_token_of(pricing)
        again = http.post("/checkout", data={"csrf_token": token, "plan": "pro", "interval": "month"})
        assert again.status_code == 303 and again.headers["location"] == "/pricing"
        shown = http.get("/pricing").text
    assert "You already have a subscription" in shown and 'href="/account"' in shown
    assert len(_checkout_sessions(sim)) == 1


def test_a_pass_holder_sees_the_pass_marked(pages_service: Service, sim: Sim) -> None:
    with pages_service.http() as http:
        sign_in_over_http(http, "pass@example.com")
        hosted = start_checkout_over_http(http, product="pass-3-months")
        assert sim.complete_checkout(checkout_session_id(hosted)).status_code < 400
        _wait_for_access(pages_service, "pass@example.com")
        pricing = http.get("/pricing").text
    assert 'class="plan current" id="plan-basic"' in pricing
    assert "with a pass, until" in pricing


def test_the_pricing_page_answers_without_signing_in(pages_service: Service) -> None:
    answer = httpx.get(f"{pages_service.url}/pricing", trust_env=False)
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
