"""Checkout Sessions: what completing one creates, in Stripe's order, for each mode and card."""

from __future__ import annotations

import httpx
import pytest
import stripe

from tests.support.billing_world import (
    CARD_3DS,
    CARD_DECLINE,
    CARD_NO_FUNDS,
    clocked_customer,
    event_types,
    make_catalog,
    pay_checkout,
)
from tests.support.stripesim import Sim


def subscription_session(client: stripe.StripeClient, price: str, **extra: object) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": "https://app.example/success?cs={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://app.example/cancel",
            "client_reference_id": "user-1",
            "metadata": {"user_id": "user-1"},
            **extra,
        }
    )


def test_paying_a_subscription_session_creates_an_active_subscription(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    catalog = make_catalog(stripe_client)
    session = subscription_session(stripe_client, catalog.pro_month.id)
    assert session.status == "open" and session.url.startswith(sim.url)
    assert session.amount_total == 1000

    response = pay_checkout(sim, session.id)
    assert response.status_code == 200
    assert response.json()["redirect_url"] == f"https://app.example/success?cs={session.id}"

    done = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription", "invoice"]})
    assert done.status == "complete" and done.payment_status == "paid"
    assert done.client_reference_id == "user-1"
    assert done.subscription.status == "active"
    assert done.subscription.default_payment_method is not None
    assert done.invoice.status == "paid" and done.invoice.amount_paid == 1000
    assert done.invoice.parent.subscription_details.subscription == done.subscription.id
    assert done.customer is not None

    types = event_types(stripe_client)
    sequence = [
        "customer.created",
        "payment_method.attached",
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
        "checkout.session.completed",
    ]
    positions = [types.index(t) for t in sequence]
    assert positions == sorted(positions), types
    created = stripe_client.v1.events.list(params={"type": "customer.subscription.created"}).data[0]
    assert created.data.object.status == "incomplete"
    updated = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert updated.data.object.status == "active"
    assert updated.data.previous_attributes["status"] == "incomplete"


@pytest.mark.parametrize(
    ("card", "decline_code"), [(CARD_DECLINE, "generic_decline"), (CARD_NO_FUNDS, "insufficient_funds")]
)
def test_a_declined_card_creates_no_subscription(
    sim: Sim, stripe_client: stripe.StripeClient, card: str, decline_code: str
) -> None:
    catalog = make_catalog(stripe_client)
    session = subscription_session(stripe_client, catalog.pro_month.id)

    response = pay_checkout(sim, session.id, card)

    assert response.status_code == 402
    assert response.json()["error"]["decline_code"] == decline_code
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []


def test_authentication_required_then_completed(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    session = subscription_session(stripe_client, catalog.pro_month.id)

    first = pay_checkout(sim, session.id, CARD_3DS)
    assert first.json()["status"] == "requires_action"
    assert stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []

    done = sim.control(f"checkout/sessions/{session.id}/authenticate", {"result": "succeed"})
    assert done["status"] == "complete"
    sub = stripe_client.v1.subscriptions.list().data[0]
    assert sub.status == "active"


def test_failed_authentication_leaves_the_session_open(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    session = subscription_session(stripe_client, catalog.pro_month.id)
    pay_checkout(sim, session.id, CARD_3DS)

    failed = httpx.post(f"{sim.url}/_sim/checkout/sessions/{session.id}/authenticate", json={"result": "fail"})
    assert failed.status_code == 402
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_trial_subscription_needs_no_payment(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    session = subscription_session(stripe_client, catalog.pro_month.id, subscription_data={"trial_period_days": 14})
    assert session.amount_total == 0

    pay_checkout(sim, session.id)

    done = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert done.payment_status == "no_payment_required"
    sub = done.subscription
    assert sub.status == "trialing"
    assert sub.trial_end - sub.trial_start == 14 * 86400
    assert sub["items"].data[0].current_period_end == sub.trial_end


def test_one_time_payment_without_customer_creation(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": catalog.pass_once.id, "quantity": 1}],
            "success_url": "https://app.example/ok",
            "payment_intent_data": {"metadata": {"user_id": "u9"}},
        }
    )

    pay_checkout(sim, session.id, email="guest@example.com")

    done = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert done.status == "complete" and done.payment_status == "paid"
    assert done.customer is None
    assert done.customer_details.email == "guest@example.com"
    assert done.payment_intent.status == "succeeded" and done.payment_intent.amount == 400
    assert done.payment_intent.metadata["user_id"] == "u9"


def test_session_for_an_existing_customer_on_a_test_clock_expires(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    session = subscription_session(stripe_client, catalog.basic_month.id, customer=customer.id)
    assert session.customer == customer.id

    sim.advance(stripe_client, clock.id, clock.frozen_time + 25 * 3600)

    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert "checkout.session.expired" in event_types(stripe_client)


def test_checkout_rejects_what_stripe_rejects(stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    base = {"line_items": [{"price": catalog.pro_month.id, "quantity": 1}], "success_url": "https://x/ok"}
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(
            params={**base, "mode": "subscription", "payment_method_types": ["card"]}
        )
    assert info.value.param == "payment_method_types"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params={**base, "mode": "payment"})
    assert info.value.param == "line_items[0][price]"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params={"mode": "subscription", "line_items": base["line_items"]})
    assert info.value.param == "success_url"
