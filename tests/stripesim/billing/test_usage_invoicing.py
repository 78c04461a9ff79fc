"""A hybrid subscription (a flat price and a graduated metered price with an allowance):
the renewal bills the period's usage in arrears, one line per tier, and the preview of the
next invoice shows the usage so far."""

from __future__ import annotations

from typing import Any

import stripe

from tests.support.billing_world import clocked_customer, subscription_period, with_card
from tests.support.stripesim import Sim


def _hybrid(client: stripe.StripeClient) -> tuple[Any, Any]:
    meter = client.v1.billing.meters.create(
        params={"display_name": "API calls", "event_name": "api_calls", "default_aggregation": {"formula": "sum"}}
    )
    plan = client.v1.products.create(params={"name": "Scale"})
    calls = client.v1.products.create(params={"name": "API calls"})
    flat = client.v1.prices.create(
        params={"product": plan.id, "currency": "usd", "unit_amount": 2000, "recurring": {"interval": "month"}}
    )
    metered = client.v1.prices.create(
        params={
            "product": calls.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [{"up_to": 10000, "unit_amount": 0}, {"up_to": "inf", "unit_amount_decimal": "0.1"}],
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    return flat, metered


def _usage(client: stripe.StripeClient, customer: str, at: int, value: int, identifier: str) -> None:
    client.v1.billing.meter_events.create(
        params={
            "event_name": "api_calls",
            "identifier": identifier,
            "timestamp": at,
            "payload": {"stripe_customer_id": customer, "value": str(value)},
        }
    )


def test_usage_beyond_the_allowance_is_billed_per_tier_at_the_period_end(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    flat, metered = _hybrid(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": flat.id}, {"price": metered.id}]}
    )
    assert stripe_client.v1.invoices.retrieve(sub.latest_invoice).amount_paid == 2000
    start, end = subscription_period(sub)
    sim.advance(stripe_client, clock.id, start + 3600)
    _usage(stripe_client, customer.id, start + 60, 9000, "a")
    _usage(stripe_client, customer.id, start + 120, 3500, "b")

    upcoming = stripe_client.v1.invoices.create_preview(params={"customer": customer.id, "subscription": sub.id})
    usage_lines = [(line.quantity, line.amount) for line in upcoming.lines.data if line.period.end == end]
    assert usage_lines[:2] == [(10000, 0), (2500, 250)]
    assert upcoming.amount_due == 2000 + 250

    sim.advance(stripe_client, clock.id, end + 2 * 3600)
    renewal = stripe_client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    lines = [(line.quantity, line.amount, line.description) for line in renewal.lines.data]
    assert lines[:2] == [
        (10000, 0, "10000 × API calls (Tier 1 at $0.00 / month)"),
        (2500, 250, "2500 × API calls (Tier 2 at $0.001 / month)"),
    ]
    assert all((line.period.start, line.period.end) == (start, end) for line in renewal.lines.data[:2])
    assert renewal.amount_paid == 250 + 2000
