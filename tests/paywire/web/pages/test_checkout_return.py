"""Back from Checkout: "confirming your payment" until the processed webhook shows in the
mirror, then the plan; never access from the redirect. Declined cards, cancelled, abandoned
and unpaid checkouts, another user's checkout; with and without JavaScript."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from playwright.sync_api import Page, expect

from paywire.billing.entitlements import entitlement_for
from paywire.web.pages.session import user_id_for_email
from paywire.workers import start_worker_thread
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import deliveries_settled, inbox_drained, wait_for
from tests.paywire.web.pages.conftest import (
    DECLINED_CARD,
    check_accessibility,
    pay_on_hosted_checkout,
    screenshot,
    sign_in,
)
from tests.paywire.web.pages.forms import checkout_session_id, sign_in_over_http, start_checkout_over_http
from tests.support.stripesim import Sim

RETURN_URL = re.compile(r".*/billing/success\?session_id=cs_\w+.*")


def _access(service: Service, email: str) -> bool:
    with service.sessions() as session:
        return entitlement_for(session, user_id_for_email(email), catalog=None, grace_seconds=0).access


def _subscribe_on_the_page(page: Page, service: Service, *, seats: str = "2") -> None:
    page.goto(f"{service.url}/pricing")
    page.get_by_label("Seats").first.fill(seats)  # the monthly form is the visible one
    page.get_by_role("button", name="Subscribe to Pro, monthly").click()
    expect(page.get_by_text("Subscribe to Pro")).to_be_visible()


def test_subscribing_to_pro_with_4242_ends_on_active_pro(pages_service: Service, page: Page) -> None:
    sign_in(page, pages_service.url, "ann@example.com")
    _subscribe_on_the_page(page, pages_service)
    screenshot(page, "hosted-checkout")
    pay_on_hosted_checkout(page)
    page.wait_for_url(RETURN_URL)
    expect(page.get_by_role("heading", name="Payment confirmed")).to_be_visible(timeout=20_000)
    expect(page.locator("#confirmed-plan")).to_have_text("You are on Pro: Active, 2 seats.")
    check_accessibility(page)
    screenshot(page, "return-confirmed")
    assert _access(pages_service, "ann@example.com")
    page.get_by_role("link", name="Pricing").click()
    expect(page.locator("#plan-pro")).to_contain_text("Your plan · Active")


def test_the_return_page_waits_for_the_webhook_not_the_redirect(
    make_paywire_service: Callable[..., Service], page: Page, sim: Sim
) -> None:
    service = make_paywire_service(with_worker=False, PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET="")
    sign_in(page, service.url, "ann@example.com")
    _subscribe_on_the_page(page, service, seats="1")
    session_id = checkout_session_id(page.url)
    pay_on_hosted_checkout(page)
    page.wait_for_url(RETURN_URL)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Confirming your payment…")
    check_accessibility(page)
    screenshot(page, "return-confirming")
    # Stripe has the payment; the webhook is stored but no worker processes it.
    assert sim.client().v1.checkout.sessions.retrieve(session_id).status == "complete"
    for _ in range(3):  # three polls of the page's script, each answered "not yet"
        with page.expect_response(lambda r: "/checkout/status" in r.url, timeout=10_000) as polled:
            pass
        assert polled.value.ok
        assert "Pro" not in page.locator("#checkout-return").inner_text()
    expect(heading).to_have_text("Confirming your payment…")
    assert not _access(service, "ann@example.com")
    # The worker processes the webhook: the open page turns to the plan by itself.
    service.worker = start_worker_thread(service.settings, service.stop_worker)
    expect(heading).to_have_text("Payment confirmed", timeout=20_000)
    expect(page.locator("#confirmed-plan")).to_have_text("You are on Pro: Active.")


def test_subscribe_and_return_work_without_javascript(pages_service: Service, no_js_page: Page) -> None:
    page = no_js_page
    sign_in(page, pages_service.url, "nojs@example.com")
    _subscribe_on_the_page(page, pages_service, seats="3")
    pay_on_hosted_checkout(page)
    page.wait_for_url(RETURN_URL)
    # The page refreshes itself (meta refresh) until the mirror has the subscription.
    expect(page.get_by_role("heading", name="Payment confirmed")).to_be_visible(timeout=20_000)
    expect(page.locator("#confirmed-plan")).to_have_text("You are on Pro: Active, 3 seats.")
    screenshot(page, "return-confirmed-without-javascript")


def test_without_javascript_the_confirming_page_refreshes_itself(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    service = make_paywire_service(with_worker=False, PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET="")
    with service.http() as http:
        sign_in_over_http(http, "ann@example.com")
        session_id = checkout_session_id(start_checkout_over_http(http, plan="basic", interval="month"))
        assert sim.complete_checkout(session_id).status_code < 400
        waiting = http.get("/billing/success", params={"session_id": session_id})
    assert waiting.status_code == 200 and "Confirming your payment…" in waiting.text
    refresh = re.search(r'<noscript><meta http-equiv="refresh" content="2; url=([^"]+)"></noscript>', waiting.text)
    assert refresh and refresh.group(1).startswith(f"/billing/success?session_id={session_id}&amp;since=")
    assert "Basic" not in waiting.text.split('id="checkout-return"')[1]


def test_a_declined_card_shows_the_error_and_gives_no_access(pages_service: Service, page: Page, sim: Sim) -> None:
    sign_in(page, pages_service.url, "declined@example.com")
    _subscribe_on_the_page(page, pages_service, seats="1")
    pay_on_hosted_checkout(page, DECLINED_CARD)
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined.")
    assert page.url.startswith(pages_service.settings.stripe_api_base or "")
    screenshot(page, "hosted-checkout-declined")
    page.locator("#cancel-link").click()  # giving up: Checkout's back link, the cancel URL
    expect(page).to_have_url(f"{pages_service.url}/pricing?checkout=canceled")
    expect(page.get_by_role("heading", name="Checkout cancelled")).to_be_visible()
    expect(page.locator("#checkout-canceled")).to_contain_text("Nothing was charged.")
    check_accessibility(page)
    screenshot(page, "canceled")
    # Whatever webhooks the decline caused are delivered and worked off before looking.
    wait_for("the decline's events processed", lambda: deliveries_settled(sim) and inbox_drained(pages_service))
    page.reload()
    expect(page.get_by_text("Your current plan")).to_have_count(0)
    assert not _access(pages_service, "declined@example.com")


def test_a_configured_cancel_path_gets_its_own_page(make_paywire_service: Callable[..., Service], page: Page) -> None:
    service = make_paywire_service(
        with_worker=False, PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET="", PAYWIRE_CHECKOUT_CANCEL_PATH="/billing/canceled"
    )
    page.goto(f"{service.url}/billing/canceled")
    expect(page.get_by_role("heading", name="Checkout cancelled")).to_be_visible()
    expect(page.get_by_text("Nothing was charged.")).to_be_visible()
    check_accessibility(page)
    page.get_by_role("link", name="Back to pricing").click()
    expect(page).to_have_url(f"{service.url}/pricing")


def test_another_users_checkout_tells_nothing(pages_service: Service, sim: Sim) -> None:
    with pages_service.http() as ann:
        sign_in_over_http(ann, "ann@example.com")
        session_id = checkout_session_id(start_checkout_over_http(ann, plan="advanced", interval="year"))
        assert sim.complete_checkout(session_id).status_code < 400
        deadline = time.monotonic() + 20
        while "Payment confirmed" not in ann.get("/billing/success", params={"session_id": session_id}).text:
            assert time.monotonic() < deadline, "ann's payment was never confirmed"
            time.sleep(0.2)
    with pages_service.http() as bob:
        sign_in_over_http(bob, "bob@example.com")
        theirs = bob.get("/billing/success", params={"session_id": session_id})
        nobodys = bob.get("/billing/success", params={"session_id": "cs_test_doesnotexist"})
        status = bob.get("/checkout/status", params={"session_id": session_id}).json()

    def body(page: str) -> str:
        return page.split('id="checkout-return"')[1].split("</section>")[0]

    assert "We could not find this checkout" in theirs.text
    assert "Advanced" not in body(theirs.text) and "ann@" not in theirs.text
    assert body(theirs.text) == body(nobodys.text)
    assert status == {"state": "unknown"}


def test_the_return_page_needs_sign_in_and_comes_back(pages_service: Service, page: Page) -> None:
    page.goto(f"{pages_service.url}/billing/success?session_id=cs_test_abc")
    expect(page).to_have_url(re.compile(r".*/sign-in\?next=/billing/success%3Fsession_id%3Dcs_test_abc$"))
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{pages_service.url}/billing/success?session_id=cs_test_abc")
    expect(page.get_by_role("heading", name="We could not find this checkout")).to_be_visible()


def test_an_abandoned_wait_says_the_payment_is_not_confirmed_yet(
    make_paywire_service: Callable[..., Service], sim: Sim, page: Page
) -> None:
    service = make_paywire_service(with_worker=False, PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET="")
    sign_in(page, service.url, "ann@example.com")
    with service.http() as http:
        for name, value in ((c["name"], c["value"]) for c in page.context.cookies()):
            http.cookies.set(name, value)
        session_id = checkout_session_id(start_checkout_over_http(http, plan="basic", interval="month"))
    assert sim.complete_checkout(session_id).status_code < 400
    since = int(time.time()) - 120  # the page has been waiting for two minutes
    page.goto(f"{service.url}/billing/success?session_id={session_id}&since={since}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your payment is not confirmed yet")
    expect(page.locator("#checkout-return")).to_contain_text("keeps checking")
    check_accessibility(page)
    screenshot(page, "return-not-confirmed-yet")
    assert not _access(service, "ann@example.com")


def test_an_unpaid_checkout_is_not_confirming(pages_service: Service) -> None:
    with pages_service.http() as http:
        sign_in_over_http(http, "ann@example.com")
        hosted = start_checkout_over_http(http, plan="basic", interval="month")
        page = http.get("/billing/success", params={"session_id": checkout_session_id(hosted)})
        status = http.get("/checkout/status", params={"session_id": checkout_session_id(hosted)}).json()
    assert "Your payment is not complete" in page.text and "nothing has been paid" in page.text
    assert f'href="{hosted}"' in page.text  # back to the open checkout
    assert status == {"state": "not_paid"}


def test_a_pass_bought_on_the_page_is_confirmed_after_its_webhook(pages_service: Service, page: Page) -> None:
    sign_in(page, pages_service.url, "pass@example.com")
    page.goto(f"{pages_service.url}/pricing")
    page.get_by_role("button", name="Buy the 3-month Basic pass").click()
    pay_on_hosted_checkout(page)
    page.wait_for_url(RETURN_URL)
    expect(page.locator("#confirmed-plan")).to_contain_text("Your pass is active: Basic until", timeout=20_000)
    screenshot(page, "pass-confirmed")
