"""What the account page refuses, and that a refusal changes nothing: a forged plan or price,
a form without its CSRF token, an operation the subscription's state does not allow, Stripe
not answering; and a signed-out visitor is sent to sign in.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from paywire.web.pages.session import user_id_for_email
from tests.paywire.billing.subscribers import Subscriber, event_count, subscribed
from tests.paywire.conftest import Service
from tests.paywire.web.pages.conftest import check_accessibility, screenshot, sign_in
from tests.support.stripesim import Sim

pytestmark = pytest.mark.browser

NO_SUCH_PLAN = "No plan 'enterprise'; choose one of basic, advanced, pro, scale."


@pytest.fixture
def service(make_paywire_service: Callable[..., Service]) -> Service:
    return make_paywire_service(PAYWIRE_PAGES=True, PAYWIRE_DEMO_SIGN_IN=True)


def subscriber_for(service: Service, sim: Sim, email: str, plan: str) -> Subscriber:
    return subscribed(service, sim, user_id_for_email(email), plan)


def open_account(page: Page, service: Service, email: str) -> str:
    """Signed in on the account page; returns the page's CSRF token."""
    sign_in(page, service.url, email)
    page.goto(service.url + "/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Account and billing")
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    return token


def unchanged(subscriber: Subscriber, before: dict[str, object], events: int) -> None:
    """Stripe holds the subscription as before and emitted nothing: nothing was written."""
    assert snapshot(subscriber) == before
    assert event_count(subscriber.sim) == events


def snapshot(subscriber: Subscriber) -> dict[str, object]:
    sub = subscriber.stripe_subscription()
    keys = ("status", "cancel_at_period_end", "schedule", "pause_collection", "latest_invoice", "discounts")
    return {"price": sub["items"]["data"][0]["price"]["id"], **{k: sub[k] for k in keys}}


def test_a_forged_plan_in_the_form_shows_the_error_and_changes_nothing(service: Service, sim: Sim, page: Page) -> None:
    ivy = subscriber_for(service, sim, "ivy@example.com", "basic")
    ivy.settle()
    before, events = snapshot(ivy), event_count(sim)
    open_account(page, service, "ivy@example.com")
    # What a user editing the page could send: an option the catalog does not have.
    page.locator("#change-plan-select option[value=pro]").evaluate("option => { option.value = 'enterprise'; }")
    page.get_by_label("Plan", exact=True).select_option("enterprise")

    with page.expect_response(service.url + "/account") as answer:
        page.get_by_role("button", name="Preview the change").click()

    assert answer.value.status == 400  # back on the account page (never the form's POST), at the API's status
    expect(page.locator("#account-error")).to_have_text(NO_SUCH_PLAN)
    expect(page.locator("#account-error")).to_have_attribute("role", "alert")
    expect(page.locator("#plan-name")).to_have_text("Basic (Monthly)")
    check_accessibility(page)
    screenshot(page, "forged-plan")
    unchanged(ivy, before, events)


def test_a_forged_confirmation_is_refused_by_the_same_checks_as_the_api(service: Service, sim: Sim, page: Page) -> None:
    jon = subscriber_for(service, sim, "jon@example.com", "basic")
    jon.settle()
    before, events = snapshot(jon), event_count(sim)
    token = open_account(page, service, "jon@example.com")

    forged = {
        "plan": ({"plan": "enterprise", "interval": "month"}, 400, NO_SUCH_PLAN),
        "price": (
            {"plan": "pro", "interval": "month", "amount": "1"},
            400,
            "Prices and amounts come from the catalog: name a plan, interval and quantity.",
        ),
        "seats": ({"plan": "pro", "interval": "month", "quantity": "-3"}, 400, "Seats must be a whole number."),
        "date": (
            {"plan": "pro", "interval": "month", "proration_date": "1000"},
            400,
            "proration_date must be the preview's, confirmed within an hour and in the current period; "
            "preview the change again.",
        ),
        "interval": ({"plan": "pro", "interval": "week"}, 400, None),
    }
    for name, (fields, status, message) in forged.items():
        answer = page.request.post(service.url + "/account/change", form={"csrf_token": token, **fields})
        assert (answer.url, answer.status) == (service.url + "/account", status), (name, answer.status)
        if message is not None:
            assert f'id="account-error">{message}<' in html.unescape(answer.text()), name
    unchanged(jon, before, events)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(service: Service, sim: Sim, page: Page) -> None:
    kim = subscriber_for(service, sim, "kim@example.com", "basic")
    kim.settle()
    before, events = snapshot(kim), event_count(sim)
    open_account(page, service, "kim@example.com")

    for path in ("/account/cancel", "/account/pause", "/account/change", "/account/portal"):
        missing = page.request.post(service.url + path, form={"plan": "pro", "interval": "month"}, max_redirects=0)
        wrong = page.request.post(service.url + path, form={"csrf_token": "x" * 43}, max_redirects=0)
        assert (missing.status, wrong.status) == (403, 403), path
        assert "security token is missing or out of date" in missing.text()
    unchanged(kim, before, events)


def test_an_operation_the_state_does_not_allow_shows_its_message(service: Service, sim: Sim, page: Page) -> None:
    """A stale tab: cancel already done, the old page's Cancel is sent again."""
    lea = subscriber_for(service, sim, "lea@example.com", "basic")
    token = open_account(page, service, "lea@example.com")
    stale = page.context.new_page()
    stale.goto(service.url + "/account")
    stale_confirmation = page.context.new_page()
    stale_confirmation.goto(service.url + "/account/cancel")
    page.get_by_role("button", name="Cancel subscription").click()
    page.get_by_role("button", name="Yes, cancel my subscription").click()
    expect(page.locator("#plan-status")).to_have_text("Set to cancel at the end of the period")
    lea.settle()
    before, events = snapshot(lea), event_count(sim)

    with stale.expect_response(service.url + "/account") as answer:
        stale.get_by_role("button", name="Cancel subscription").click()  # its confirmation is refused at once

    assert answer.value.status == 409
    expect(stale.locator("#account-error")).to_have_text("The subscription is already set to cancel at the period end.")
    expect(stale.locator("#plan-status")).to_have_text("Set to cancel at the end of the period")
    with stale_confirmation.expect_response(service.url + "/account") as confirmed:
        stale_confirmation.get_by_role("button", name="Yes, cancel my subscription").click()
    assert confirmed.value.status == 409
    again = page.request.post(service.url + "/account/unpause", form={"csrf_token": token})
    assert again.status == 409 and "The subscription is set to cancel at the period end" in again.text()
    unchanged(lea, before, events)


def test_when_stripe_does_not_answer_the_page_says_so(service: Service, sim: Sim, page: Page) -> None:
    max_ = subscriber_for(service, sim, "max@example.com", "basic")
    max_.settle()
    token = open_account(page, service, "max@example.com")
    expect(page.locator("#next-invoice")).to_have_text("$5.00 on 1 March 2026")
    sim.control("faults", {"api": {"fail_next_500": 1000}})
    try:
        page.reload()
        expect(page.locator("#next-invoice")).to_have_text(
            "Not available right now: Stripe did not answer. Reload the page to try again."
        )
        expect(page.locator("#plan-name")).to_have_text("Basic (Monthly)")  # the mirror still answers
        check_accessibility(page)
        refused = page.request.post(service.url + "/account/cancel", form={"csrf_token": token, "confirm": "yes"})
    finally:
        sim.control("faults", {"clear": True})
    assert refused.status == 503 and refused.headers["retry-after"] == "5"
    assert refused.url == service.url + "/account"
    assert "Billing is temporarily unavailable; try again." in refused.text()
    assert max_.stripe_subscription()["cancel_at_period_end"] is False


def test_signed_out_the_account_page_sends_to_sign_in_and_back(service: Service, page: Page) -> None:
    page.goto(service.url + "/account")

    page.wait_for_url(service.url + "/sign-in?next=/account")
    page.get_by_label("Email").fill("new@example.com")
    page.get_by_role("button", name="Sign in", exact=True).click()

    page.wait_for_url(service.url + "/account")
    expect(page.locator("#no-plan")).to_have_text("No plan.")
