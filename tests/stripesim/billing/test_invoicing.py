"""What invoices charge: metered usage in arrears, tiered prices, promotion codes, automatic tax."""

from __future__ import annotations

import pytest
import stripe

from tests.support.billing_world import clocked_customer, make_catalog, pay_checkout, subscription_period, with_card
from tests.support.stripesim import Sim


def test_metered_usage_is_billed_at_the_end_of_the_period(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    meter = stripe_client.v1.billing.meters.create(
        params={
            "display_name": "API calls",
            "event_name": "api_calls",
            "default_aggregation": {"formula": "sum"},
        }
    )
    product = stripe_client.v1.products.create(params={"name": "API"})
    price = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 3,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = stripe_client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}]})
    assert stripe_client.v1.invoices.retrieve(sub.latest_invoice).amount_due == 0
    start, end = subscription_period(sub)
    sim.advance(stripe_client, clock.id, start + 4 * 3600)
    for i, value in enumerate(["100", "250", "250"]):
        stripe_client.v1.billing.meter_events.create(
            params={
                "event_name": "api_calls",
                "identifier": f"call-batch-{i}",
                "timestamp": start + 3600 * (i + 1),
                "payload": {"stripe_customer_id": customer.id, "value": value},
            }
        )
    # A retried report with the same identifier is refused, so it is not counted twice.
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.billing.meter_events.create(
            params={
                "event_name": "api_calls",
                "identifier": "call-batch-0",
                "timestamp": start + 3600,
                "payload": {"stripe_customer_id": customer.id, "value": "100"},
            }
        )

    sim.advance(stripe_client, clock.id, end + 2 * 3600)

    renewal = stripe_client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    line = renewal.lines.data[0]
    assert line.quantity == 600 and line.amount == 1800
    assert (line.period.start, line.period.end) == (start, end)
    assert renewal.amount_paid == 1800


def test_graduated_and_volume_tiers(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(params={"name": "Seats"})
    tiers = [{"up_to": 5, "unit_amount": 1000}, {"up_to": "inf", "unit_amount": 800}]
    graduated = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": tiers,
            "recurring": {"interval": "month"},
        }
    )
    volume = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "volume",
            "tiers": tiers,
            "recurring": {"interval": "month"},
        }
    )
    _, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    for price, expected in ((graduated, 5 * 1000 + 3 * 800), (volume, 8 * 800)):
        sub = stripe_client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": price.id, "quantity": 8}]}
        )
        assert stripe_client.v1.invoices.retrieve(sub.latest_invoice).amount_paid == expected


def test_promotion_code_and_automatic_tax_at_checkout(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 20, "duration": "once"})
    stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "LAUNCH20"}
    )
    sim.control("config", {"automatic_tax_percent": 10})
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": catalog.pro_month.id, "quantity": 1}],
            "success_url": "https://x/ok",
            "allow_promotion_codes": True,
            "automatic_tax": {"enabled": True},
        }
    )

    response = pay_checkout(sim, session.id, promotion_code="launch20")
    assert response.status_code == 200, response.text

    done = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["invoice"]})
    assert done.total_details.amount_discount == 200
    assert done.total_details.amount_tax == 80
    assert done.amount_total == 880
    assert done.invoice.amount_paid == 880
    assert done.invoice.total_taxes[0].taxable_amount == 800


def test_an_unknown_promotion_code_is_refused_and_nothing_is_charged(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    catalog = make_catalog(stripe_client)
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": catalog.pro_month.id, "quantity": 1}],
            "success_url": "https://x/ok",
            "allow_promotion_codes": True,
        }
    )
    response = pay_checkout(sim, session.id, promotion_code="NOPE")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "promotion_code"
    assert stripe_client.v1.charges.list().data == []
