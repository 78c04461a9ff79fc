"""Payment intents, test cards, refunds and disputes."""

from __future__ import annotations

import pytest
import stripe

from tests.support.billing_world import CARD_DISPUTE, clocked_customer
from tests.support.stripesim import Sim


def pay(client: stripe.StripeClient, pm: str, amount: int = 2000, **extra: object) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "payment_method": pm, "confirm": True, **extra}
    )


def test_visa_succeeds_with_a_charge(stripe_client: stripe.StripeClient) -> None:
    intent = pay(stripe_client, "pm_card_visa")
    assert intent.status == "succeeded" and intent.amount_received == 2000
    charge = stripe_client.v1.charges.retrieve(intent.latest_charge)
    assert charge.paid and charge.payment_method_details.card.last4 == "4242"
    assert charge.outcome.network_status == "approved_by_network"


@pytest.mark.parametrize(
    ("pm", "code", "decline"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
    ],
)
def test_declines_carry_their_codes(stripe_client: stripe.StripeClient, pm: str, code: str, decline: str) -> None:
    intent = pay(stripe_client, pm)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == code
    assert intent.last_payment_error.decline_code == decline
    assert stripe_client.v1.charges.retrieve(intent.latest_charge).status == "failed"


def test_authentication_required_card_asks_for_action(stripe_client: stripe.StripeClient) -> None:
    intent = pay(stripe_client, "pm_card_threeDSecure2Required", return_url="https://app.example/back")
    assert intent.status == "requires_action"
    assert intent.next_action.type == "redirect_to_url"
    assert intent.next_action.redirect_to_url.return_url == "https://app.example/back"


def test_refunds_partial_then_full(stripe_client: stripe.StripeClient) -> None:
    intent = pay(stripe_client, "pm_card_visa")
    first = stripe_client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
    assert first.status == "succeeded" and first.amount == 500
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 5000})
    assert info.value.param == "amount"
    stripe_client.v1.refunds.create(params={"charge": intent.latest_charge})
    charge = stripe_client.v1.charges.retrieve(intent.latest_charge)
    assert charge.amount_refunded == 2000 and charge.refunded
    assert len(stripe_client.v1.events.list(params={"type": "charge.refunded"}).data) == 2


def test_dispute_opens_after_the_charge_and_can_be_won(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    clock, customer = clocked_customer(stripe_client)
    pm = stripe_client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": CARD_DISPUTE, "exp_month": 1, "exp_year": 2035}}
    )
    stripe_client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    intent = pay(stripe_client, pm.id, customer=customer.id)
    assert intent.status == "succeeded"
    assert stripe_client.v1.disputes.list().data == []

    sim.advance(stripe_client, clock.id, clock.frozen_time + 3600)

    dispute = stripe_client.v1.disputes.list().data[0]
    assert dispute.status == "needs_response" and dispute.reason == "fraudulent"
    assert dispute.charge == intent.latest_charge
    assert stripe_client.v1.charges.retrieve(intent.latest_charge).disputed
    won = stripe_client.v1.disputes.update(dispute.id, params={"evidence": {"uncategorized_text": "winning_evidence"}})
    assert won.status == "won"
    types = [e.type for e in stripe_client.v1.events.list(params={"limit": 50}).data]
    assert "charge.dispute.created" in types and "charge.dispute.closed" in types


def test_idempotent_subscription_creation_returns_the_same_object(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(params={"name": "Pro"})
    price = stripe_client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 1000, "recurring": {"interval": "month"}}
    )
    customer = stripe_client.v1.customers.create(params={"payment_method": "pm_card_visa"})
    params = {"customer": customer.id, "items": [{"price": price.id}], "payment_behavior": "default_incomplete"}
    first = stripe_client.v1.subscriptions.create(params=params, options={"idempotency_key": "sub:create:u1"})
    again = stripe_client.v1.subscriptions.create(params=params, options={"idempotency_key": "sub:create:u1"})
    assert first.id == again.id
    assert again.last_response.headers.get("idempotent-replayed") == "true"
    assert len(stripe_client.v1.subscriptions.list(params={"status": "all"}).data) == 1
