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


DECLINES = [
    ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
    ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error"),
]


@pytest.mark.parametrize(("pm", "code", "decline"), DECLINES)
def test_declines_answer_402_with_their_codes(
    stripe_client: stripe.StripeClient, pm: str, code: str, decline: str
) -> None:
    # Stripe answers a declined confirmation with a 402 card_error (it used to be a 200 here).
    with pytest.raises(stripe.CardError) as info:
        pay(stripe_client, pm)
    err = info.value
    assert err.http_status == 402 and err.code == code
    assert err.error is not None and err.error.decline_code == decline and err.error.type == "card_error"
    failed = err.error.payment_intent
    assert failed is not None and failed.status == "requires_payment_method"
    assert failed.last_payment_error.code == code and failed.last_payment_error.decline_code == decline
    assert err.error.charge == failed.latest_charge
    assert stripe_client.v1.charges.retrieve(failed.latest_charge).status == "failed"
    assert stripe_client.v1.payment_intents.retrieve(failed.id).status == "requires_payment_method"


def test_an_off_session_payment_needing_authentication_declines(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as info:
        pay(stripe_client, "pm_card_authenticationRequired", off_session=True)
    assert info.value.http_status == 402 and info.value.code == "authentication_required"
    assert info.value.error is not None and info.value.error.decline_code == "authentication_required"


def test_a_declined_payment_retried_with_the_same_key_gets_the_same_402(stripe_client: stripe.StripeClient) -> None:
    params = {"amount": 2000, "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": True}
    answers = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as info:
            stripe_client.v1.payment_intents.create(params=params, options={"idempotency_key": "decline-once"})  # type: ignore[arg-type]
        answers.append(
            info.value.error.payment_intent.id if info.value.error and info.value.error.payment_intent else None
        )
    assert answers[0] is not None and answers[0] == answers[1]
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def test_a_declined_invoice_payment_answers_402(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create()
    stripe_client.v1.invoice_items.create(params={"customer": customer.id, "amount": 1500, "currency": "usd"})
    invoice = stripe_client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_chargeDeclinedInsufficientFunds"})
    assert info.value.http_status == 402 and info.value.code == "card_declined"
    assert info.value.error is not None and info.value.error.decline_code == "insufficient_funds"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"


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
