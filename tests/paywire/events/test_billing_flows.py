"""Issue 3's scenarios end to end: the API starts Checkout, stripesim takes the payment and
delivers signed webhooks, the worker mirrors Stripe, and `GET /api/billing` answers from
the mirror. Test clocks move customer time; every asynchronous outcome is polled for with
a deadline."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from paywire.billing.customers import get_or_create_customer
from paywire.billing.passes import add_calendar_months
from paywire.catalog import Catalog
from paywire.db.repositories import customers, orders, subscriptions, test_clocks
from paywire.events.worker import WorkerThread
from paywire.stripe import StripeGateway
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import Shop, deliveries_settled, inbox_drained, inbox_rows, wait_for
from tests.support.stripesim import Sim

DAY = 86_400
T0 = 1_893_456_000  # 2030-01-01T00:00:00Z, a customer's time on a test clock
ACCESS_STATUSES = ("active", "trialing", "past_due")


def on_a_test_clock(service: Service, sim: Sim, user_id: str) -> str:
    """Give `user_id` a Stripe customer living on a new test clock at T0 (through paywire's
    own get-or-create, as checkout would); returns the clock id."""
    clock = sim.client().v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    gateway = StripeGateway.from_settings(service.settings)
    with service.sessions() as session:
        get_or_create_customer(session, gateway, user_id=user_id, email=f"{user_id}@example.com", test_clock=clock.id)
    return str(clock.id)


def advance(service: Service, sim: Sim, clock_id: str, to: int) -> None:
    """Move the clock, then wait until paywire's clock mirror has caught up with it."""
    sim.advance(sim.client(), clock_id, to)

    def mirrored() -> bool:
        with service.sessions() as session:
            clock = test_clocks.find(session, clock_id)
            return clock is not None and clock.frozen_time == to and clock.status == "ready"

    wait_for(f"the clock mirror at {to}", mirrored)


def settled(service: Service, sim: Sim) -> bool:
    return deliveries_settled(sim) and inbox_drained(service)


def test_pro_monthly_grants_access_only_once_the_webhook_is_processed(
    make_paywire_service: Callable[..., Service],
    sim: Sim,
    catalog: Catalog,
    start_worker: Callable[..., WorkerThread],
) -> None:
    service = make_paywire_service(with_worker=False)
    shop = Shop(service, sim, "user_pro")
    session_id = shop.checkout({"plan": "pro", "interval": "month"})

    paid = shop.pay(session_id)
    assert paid.status_code == 200 and paid.json()["redirect_url"].endswith(f"session_id={session_id}")
    # The browser is back on the success page, the webhook is stored but not processed.
    with service.http() as http:
        http.get(paid.json()["redirect_url"].removeprefix(service.url))
    wait_for("the completed-session event stored", lambda: inbox_rows(service, type="checkout.session.completed"))
    before = shop.billing()
    assert (before["plan"], before["access"]) == (None, False)

    start_worker(service, catalog)
    after = wait_for("access granted", lambda: (b := shop.billing())["access"] and b)

    assert (after["plan"], after["status"], after["quantity"]) == ("pro", "active", 1)
    assert "api_access" in after["features"]
    assert after["cancel_at_period_end"] is False and after["current_period_end"]
    wait_for(
        "the completed-session event processed",
        lambda: inbox_rows(service, type="checkout.session.completed", state="processed"),
    )


def test_a_declined_card_grants_nothing(paywire_service: Service, sim: Sim) -> None:
    shop = Shop(paywire_service, sim, "user_declined")
    session_id = shop.checkout({"plan": "pro", "interval": "month"})

    declined = shop.pay(session_id, card="4000000000000002")

    assert declined.status_code == 402
    wait_for("every delivery worked off", lambda: settled(paywire_service, sim))
    billing = shop.billing()
    assert (billing["plan"], billing["access"]) == (None, False)
    with paywire_service.sessions() as session:
        rows = subscriptions.for_user(session, "user_declined")
        assert all(row.status not in ACCESS_STATUSES for row in rows), [r.status for r in rows]


def test_the_three_month_pass_grants_basic_for_three_months_then_ends(paywire_service: Service, sim: Sim) -> None:
    clock_id = on_a_test_clock(paywire_service, sim, "user_pass")
    shop = Shop(paywire_service, sim, "user_pass")
    session_id = shop.checkout({"product": "pass-3-months"})

    assert shop.pay(session_id).status_code == 200
    granted = wait_for("the pass fulfilled", lambda: (b := shop.billing())["access"] and b)

    ends = add_calendar_months(T0, 3)
    assert (granted["plan"], granted["source"], granted["access_until"]) == ("basic", "pass", ends)
    assert "api_access" not in granted["features"]
    advance(paywire_service, sim, clock_id, ends - DAY)
    assert shop.billing()["access"] is True
    advance(paywire_service, sim, clock_id, ends + DAY)
    ended = shop.billing()
    assert (ended["access"], ended["reason"]) == (False, "pass_expired")


def cancel_in_the_portal(shop: Shop, subscription_id: str) -> None:
    """What the user does: open paywire's portal link, press cancel on the subscription."""
    with shop.service.http() as http:
        portal = http.post("/api/billing-portal", headers=shop.headers)
    assert portal.status_code == 200, portal.text
    url = portal.json()["url"]
    with httpx.Client(timeout=30, trust_env=False) as browser:
        assert browser.get(url).status_code == 200
        canceled = browser.post(f"{url}/subscriptions/{subscription_id}/cancel", data={"reason": "too_expensive"})
    assert canceled.status_code in (200, 303), canceled.text


@pytest.mark.parametrize("via", ["portal", "api"])
def test_cancel_at_period_end_keeps_access_until_the_period_ends(paywire_service: Service, sim: Sim, via: str) -> None:
    user_id = f"user_cancel_{via}"
    clock_id = on_a_test_clock(paywire_service, sim, user_id)
    shop = Shop(paywire_service, sim, user_id)
    session_id = shop.checkout({"plan": "basic", "interval": "month"})
    assert shop.pay(session_id).status_code == 200
    active = wait_for("the subscription active", lambda: (b := shop.billing())["access"] and b)
    period_end = active["current_period_end"]
    assert period_end == add_calendar_months(T0, 1)
    subscription_id = sim.client().v1.checkout.sessions.retrieve(session_id).subscription
    assert isinstance(subscription_id, str)

    if via == "portal":
        cancel_in_the_portal(shop, subscription_id)
    else:
        sim.client().v1.subscriptions.update(subscription_id, params={"cancel_at_period_end": True})
    canceling = wait_for("the cancellation mirrored", lambda: (b := shop.billing())["cancel_at_period_end"] and b)
    assert (canceling["plan"], canceling["access"], canceling["access_until"]) == ("basic", True, period_end)

    advance(paywire_service, sim, clock_id, period_end - DAY)
    assert shop.billing()["access"] is True
    advance(paywire_service, sim, clock_id, period_end + DAY)
    ended = wait_for("the subscription canceled", lambda: (b := shop.billing())["status"] == "canceled" and b)
    assert (ended["plan"], ended["access"]) == (None, False)


@pytest.mark.parametrize("trial_days", [7])
def test_a_mirrored_trial_marks_the_users_trial_used(
    make_paywire_service: Callable[..., Service], sim: Sim, trial_days: int
) -> None:
    service = make_paywire_service(PAYWIRE_TRIAL_DAYS=trial_days)
    shop = Shop(service, sim, "user_trial")
    assert shop.pay(shop.checkout({"plan": "advanced", "interval": "year"})).status_code == 200

    trialing = wait_for("the trial mirrored", lambda: (b := shop.billing())["access"] and b)

    assert (trialing["plan"], trialing["status"]) == ("advanced", "trialing")
    with service.sessions() as session:
        customer = customers.find_by_user(session, "user_trial")
        assert customer is not None and customer.trial_used is True


def test_a_refund_takes_the_pass_back_only_when_full(paywire_service: Service, sim: Sim) -> None:
    shop = Shop(paywire_service, sim, "user_refund")
    session_id = shop.checkout({"product": "pass-3-months"})
    assert shop.pay(session_id).status_code == 200
    wait_for("the pass fulfilled", lambda: shop.billing()["access"])
    client = sim.client()
    intent_id = client.v1.checkout.sessions.retrieve(session_id).payment_intent
    assert isinstance(intent_id, str)

    client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 100})
    wait_for(
        "the partial refund worked off", lambda: inbox_rows(paywire_service, type="charge.refunded", state="processed")
    )
    assert shop.billing()["access"] is True, "a partial refund keeps the pass"

    client.v1.refunds.create(params={"payment_intent": intent_id})
    refunded = wait_for("access taken back", lambda: (b := shop.billing())["access"] is False and b)
    assert refunded["plan"] is None
    with paywire_service.sessions() as session:
        [order] = orders.for_user(session, "user_refund")
        assert order.status == "refunded"
