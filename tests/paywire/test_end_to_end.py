"""The issue's done-when scenarios that cross the whole service: checkout against
stripesim, the signed webhook, the worker, the mirror, and `GET /api/billing`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import stripe
from sqlalchemy import select

from paywire.billing.customers import get_or_create_customer
from paywire.billing.passes import add_calendar_months
from paywire.db.models import Subscription, WebhookEvent
from paywire.stripe import StripeGateway
from paywire.workers import start_worker_thread
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

DAY = 86400


def _billing(service: Service, user: str) -> dict[str, Any]:
    with service.http() as http:
        r = http.get("/api/billing", headers=service.headers_for(user))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _checkout(service: Service, user: str, body: dict[str, Any]) -> str:
    with service.http() as http:
        r = http.post("/api/checkout", json=body, headers=service.headers_for(user, f"{user}@x.io"))
    assert r.status_code == 200, r.text
    session_id: str = r.json()["id"]
    return session_id


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _settled(service: Service, sim: Sim) -> bool:
    """Stripe delivered everything and the worker processed every stored event."""
    if sim.get("webhooks/attempts")["pending"]:
        return False
    with service.sessions() as db:
        states = db.scalars(select(WebhookEvent.state)).all()
    return bool(states) and not any(s in ("pending", "processing") for s in states)


def test_pro_monthly_grants_access_only_once_the_webhook_is_processed(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    service = make_paywire_service(with_worker=False)
    session_id = _checkout(service, "alice", {"plan": "pro", "interval": "month"})
    assert _billing(service, "alice")["access"] is False

    completed = sim.complete_checkout(session_id, "4242424242424242")
    assert completed.status_code == 200, completed.text
    redirect = completed.json()["redirect_url"]
    assert redirect.startswith(service.url + "/billing/success")
    with httpx.Client(trust_env=False) as browser:
        browser.get(redirect)  # the browser lands on the success URL
    _wait_for(lambda: not sim.get("webhooks/attempts")["pending"], "webhook delivery")
    with service.sessions() as db:
        assert db.scalars(select(WebhookEvent.type)).all()  # stored, not yet processed
    # Redirect followed, webhooks stored: still no access until the worker processes them.
    before = _billing(service, "alice")
    assert (before["plan"], before["access"]) == (None, False)

    service.worker = start_worker_thread(service.settings, service.stop_worker)
    _wait_for(lambda: _billing(service, "alice")["access"] is True, "access after processing")
    after = _billing(service, "alice")
    assert (after["plan"], after["status"], after["access"]) == ("pro", "active", True)
    assert after["quantity"] == 1 and "api_access" in after["features"]
    assert after["current_period_end"] > time.time() + 27 * DAY
    assert after["cancel_at_period_end"] is False


def test_a_declined_card_leaves_no_access_and_no_live_subscription_row(paywire_service: Service, sim: Sim) -> None:
    session_id = _checkout(paywire_service, "bob", {"plan": "pro", "interval": "month"})
    declined = sim.complete_checkout(session_id, "4000000000000002")
    assert declined.status_code == 402
    _wait_for(lambda: _settled(paywire_service, sim), "every event to be processed")
    billing = _billing(paywire_service, "bob")
    assert (billing["plan"], billing["access"]) == (None, False)
    with paywire_service.sessions() as db:
        rows = db.scalars(select(Subscription).where(Subscription.user_id == "bob")).all()
    assert all(row.status not in ("active", "trialing", "past_due") for row in rows)


def test_the_pass_grants_basic_for_three_months_of_clock_time(
    paywire_service: Service, sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    start = int(time.time())
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": start})
    gateway = StripeGateway.from_settings(paywire_service.settings)
    with paywire_service.sessions() as db:
        get_or_create_customer(db, gateway, user_id="carol", email="carol@x.io", test_clock=clock.id)

    session_id = _checkout(paywire_service, "carol", {"product": "pass-3-months"})
    assert sim.complete_checkout(session_id).status_code == 200
    _wait_for(lambda: _billing(paywire_service, "carol")["access"] is True, "the pass to be fulfilled")
    granted = _billing(paywire_service, "carol")
    assert (granted["plan"], granted["source"]) == ("basic", "pass")
    ends = add_calendar_months(start, 3)
    assert abs(granted["access_until"] - ends) <= 5

    sim.advance(stripe_client, clock.id, ends - DAY)
    _wait_for(lambda: _settled(paywire_service, sim), "clock events")
    assert _billing(paywire_service, "carol")["access"] is True
    sim.advance(stripe_client, clock.id, ends + DAY)
    _wait_for(lambda: _billing(paywire_service, "carol")["access"] is False, "the pass to end")
    assert _billing(paywire_service, "carol")["reason"] == "pass_expired"


def test_cancelling_in_the_portal_keeps_access_to_the_period_end(
    paywire_service: Service, sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    start = int(time.time())
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": start})
    gateway = StripeGateway.from_settings(paywire_service.settings)
    with paywire_service.sessions() as db:
        get_or_create_customer(db, gateway, user_id="dave", email="dave@x.io", test_clock=clock.id)
    session_id = _checkout(paywire_service, "dave", {"plan": "advanced", "interval": "month"})
    assert sim.complete_checkout(session_id).status_code == 200
    _wait_for(lambda: _billing(paywire_service, "dave")["access"] is True, "the subscription")
    period_end = _billing(paywire_service, "dave")["current_period_end"]
    subscription = stripe_client.v1.checkout.sessions.retrieve(session_id).subscription

    with paywire_service.http() as http:
        portal = http.post("/api/billing-portal", headers=paywire_service.headers_for("dave"))
    assert portal.status_code == 200, portal.text
    with httpx.Client(trust_env=False, follow_redirects=True) as browser:
        canceled = browser.post(f"{portal.json()['url']}/subscriptions/{subscription}/cancel", data={})
    assert canceled.status_code == 200, canceled.text

    _wait_for(lambda: _billing(paywire_service, "dave")["cancel_at_period_end"] is True, "the cancellation")
    canceling = _billing(paywire_service, "dave")
    assert (canceling["plan"], canceling["access"], canceling["reason"]) == (
        "advanced",
        True,
        "canceling_at_period_end",
    )
    assert canceling["access_until"] == period_end

    sim.advance(stripe_client, clock.id, period_end - DAY)
    _wait_for(lambda: _settled(paywire_service, sim), "clock events")
    assert _billing(paywire_service, "dave")["access"] is True
    sim.advance(stripe_client, clock.id, period_end + DAY)
    _wait_for(lambda: _billing(paywire_service, "dave")["status"] == "canceled", "the end of the period")
    ended = _billing(paywire_service, "dave")
    assert (ended["plan"], ended["access"], ended["reason"]) == (None, False, "canceled")
