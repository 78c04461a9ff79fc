"""Plan changes: proration arithmetic to the cent, immediate invoices, pending updates,
previews, interval changes and downgrades scheduled at the period end."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.support.billing_world import (
    CARD_DECLINE,
    clocked_customer,
    make_catalog,
    subscription_period,
    with_card,
)
from tests.support.stripesim import Sim

FEB_1 = 1769904000  # 2026-02-01 00:00 UTC; February 2026 has 28 days
HALF_FEB = FEB_1 + 14 * 86400


def pro_subscriber(sim: Sim, client: stripe.StripeClient, quantity: int = 1) -> tuple[Any, Any, Any, Any]:
    catalog = make_catalog(client)
    clock, customer = clocked_customer(client, start=FEB_1)
    with_card(client, customer)
    sub = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": catalog.pro_month.id, "quantity": quantity}],
        }
    )
    sim.advance(client, clock.id, HALF_FEB)
    return catalog, clock, customer, sub


def premium(client: stripe.StripeClient, catalog: Any) -> Any:
    product = client.v1.products.create(params={"name": "Premium"})
    return client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 3000, "recurring": {"interval": "month"}}
    )


def test_upgrade_with_always_invoice_charges_the_prorated_difference_now(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    catalog, _, _, sub = pro_subscriber(sim, stripe_client)
    target = premium(stripe_client, catalog)
    item = sub["items"].data[0]

    updated = stripe_client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": target.id}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        },
    )

    assert updated["items"].data[0].price.id == target.id
    assert updated.pending_update is None
    assert subscription_period(updated) == subscription_period(sub)  # billing date unchanged
    invoice = stripe_client.v1.invoices.retrieve(updated.latest_invoice)
    assert invoice.billing_reason == "subscription_update"
    assert invoice.status == "paid"
    assert sorted(line.amount for line in invoice.lines.data) == [-500, 1500]
    assert invoice.amount_paid == 1000
    descriptions = {line.description for line in invoice.lines.data}
    assert descriptions == {"Unused time on Pro after 15 Feb 2026", "Remaining time on Premium after 15 Feb 2026"}


def test_preview_matches_what_the_change_then_charges(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog, _, customer, sub = pro_subscriber(sim, stripe_client)
    target = premium(stripe_client, catalog)
    item = sub["items"].data[0]
    change = {
        "items": [{"id": item.id, "price": target.id}],
        "proration_behavior": "always_invoice",
        "proration_date": HALF_FEB,
    }

    preview = stripe_client.v1.invoices.create_preview(
        params={"customer": customer.id, "subscription": sub.id, "subscription_details": change}
    )
    assert preview.amount_due == 1000
    assert all(line.parent.subscription_item_details.proration for line in preview.lines.data)
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == catalog.pro_month.id

    updated = stripe_client.v1.subscriptions.update(sub.id, params=change)
    assert stripe_client.v1.invoices.retrieve(updated.latest_invoice).amount_paid == preview.amount_due


def test_preview_of_the_next_renewal_includes_pending_prorations(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    _, _, customer, sub = pro_subscriber(sim, stripe_client, quantity=2)
    item = sub["items"].data[0]

    stripe_client.v1.subscriptions.update(sub.id, params={"items": [{"id": item.id, "quantity": 4}]})
    preview = stripe_client.v1.invoices.create_preview(params={"customer": customer.id, "subscription": sub.id})

    amounts = sorted(line.amount for line in preview.lines.data)
    assert amounts == [-1000, 2000, 4000]  # unused 2 seats, remaining 4 seats, next month of 4 seats
    assert preview.amount_due == 5000
    assert preview.period_end == subscription_period(sub)[1]


def test_a_failed_upgrade_payment_leaves_the_plan_unchanged(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog, _, customer, sub = pro_subscriber(sim, stripe_client)
    target = premium(stripe_client, catalog)
    with_card(stripe_client, customer, CARD_DECLINE)
    stripe_client.v1.subscriptions.update(sub.id, params={"default_payment_method": ""})
    item = sub["items"].data[0]

    updated = stripe_client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": target.id}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        },
    )

    assert updated["items"].data[0].price.id == catalog.pro_month.id
    assert updated.status == "active"
    # Stripe shows the pending items whole, their price expanded (it was the price's id here).
    assert updated.pending_update.subscription_items[0].price.id == target.id
    invoice = stripe_client.v1.invoices.retrieve(updated.latest_invoice)
    assert invoice.status == "open" and invoice.hosted_invoice_url

    # Paying the invoice later applies the change; an unpaid one expires after 23 hours.
    with_card(stripe_client, customer)
    stripe_client.v1.invoices.pay(invoice.id)
    applied = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert applied["items"].data[0].price.id == target.id and applied.pending_update is None


def test_an_unpaid_pending_update_expires(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog, clock, customer, sub = pro_subscriber(sim, stripe_client)
    target = premium(stripe_client, catalog)
    with_card(stripe_client, customer, CARD_DECLINE)
    item = sub["items"].data[0]
    updated = stripe_client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": target.id}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        },
    )

    sim.advance(stripe_client, clock.id, HALF_FEB + 23 * 3600 + 60)

    after = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert after.pending_update is None
    assert after["items"].data[0].price.id == catalog.pro_month.id
    assert stripe_client.v1.invoices.retrieve(updated.latest_invoice).status == "void"


def test_more_seats_with_create_prorations_wait_for_the_next_invoice(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    _, clock, _, sub = pro_subscriber(sim, stripe_client, quantity=3)
    item = sub["items"].data[0]

    stripe_client.v1.subscriptions.update(sub.id, params={"items": [{"id": item.id, "quantity": 5}]})
    pending = stripe_client.v1.invoice_items.list(params={"pending": True}).data
    assert sorted(i.amount for i in pending) == [-1500, 2500]

    _, end = subscription_period(sub)
    sim.advance(stripe_client, clock.id, end + 2 * 3600)
    renewal = stripe_client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert renewal.amount_paid == 5000 + 1000


def test_switching_to_yearly_restarts_the_cycle_and_credits_unused_time(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    catalog, _, _, sub = pro_subscriber(sim, stripe_client)
    item = sub["items"].data[0]

    updated = stripe_client.v1.subscriptions.update(
        sub.id, params={"items": [{"id": item.id, "price": catalog.pro_year.id}]}
    )

    assert subscription_period(updated)[0] == HALF_FEB
    assert updated.billing_cycle_anchor == HALF_FEB
    invoice = stripe_client.v1.invoices.retrieve(updated.latest_invoice)
    assert sorted(line.amount for line in invoice.lines.data) == [-500, 10000]
    assert invoice.amount_paid == 9500


def test_downgrade_at_period_end_through_a_schedule(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog, clock, _, sub = pro_subscriber(sim, stripe_client)
    start, end = subscription_period(sub)
    schedule = stripe_client.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    assert schedule.phases[0].end_date == end
    stripe_client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "end_behavior": "release",
            "phases": [
                {"items": [{"price": catalog.pro_month.id, "quantity": 1}], "start_date": start, "end_date": end},
                {"items": [{"price": catalog.basic_month.id, "quantity": 1}], "iterations": 1},
            ],
        },
    )
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == catalog.pro_month.id

    sim.advance(stripe_client, clock.id, end + 2 * 3600)

    after = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert after["items"].data[0].price.id == catalog.basic_month.id
    assert stripe_client.v1.invoices.retrieve(after.latest_invoice).amount_paid == 500
    assert stripe_client.v1.subscription_schedules.retrieve(schedule.id).status == "active"


def test_releasing_a_schedule_undoes_the_pending_downgrade(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog, clock, _, sub = pro_subscriber(sim, stripe_client)
    start, end = subscription_period(sub)
    schedule = stripe_client.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    stripe_client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "phases": [
                {"items": [{"price": catalog.pro_month.id}], "start_date": start, "end_date": end},
                {"items": [{"price": catalog.basic_month.id}]},
            ]
        },
    )
    released = stripe_client.v1.subscription_schedules.release(schedule.id)
    assert released.status == "released" and released.released_subscription == sub.id
    assert stripe_client.v1.subscriptions.retrieve(sub.id).schedule is None

    sim.advance(stripe_client, clock.id, end + 2 * 3600)
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == catalog.pro_month.id


def test_schedule_managed_subscription_refuses_direct_cancellation(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    _, _, _, sub = pro_subscriber(sim, stripe_client)
    stripe_client.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert "subscription schedule" in info.value.user_message


def test_changing_plan_during_a_trial_keeps_the_trial_end(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    _, customer = clocked_customer(stripe_client, start=FEB_1)
    with_card(stripe_client, customer)
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.basic_month.id}], "trial_period_days": 14}
    )
    updated = stripe_client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": sub["items"].data[0].id, "price": catalog.pro_year.id}],
            "proration_behavior": "always_invoice",
        },
    )
    assert updated.status == "trialing"
    assert updated.trial_end == sub.trial_end
    assert subscription_period(updated)[1] == sub.trial_end
    assert stripe_client.v1.invoice_items.list(params={"pending": True}).data == []


def test_pending_update_outcomes_are_announced(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog, clock, customer, sub = pro_subscriber(sim, stripe_client)
    target = premium(stripe_client, catalog)
    with_card(stripe_client, customer, CARD_DECLINE)
    item = sub["items"].data[0]
    change = {
        "items": [{"id": item.id, "price": target.id}],
        "proration_behavior": "always_invoice",
        "payment_behavior": "pending_if_incomplete",
    }
    stripe_client.v1.subscriptions.update(sub.id, params=change)
    sim.advance(stripe_client, clock.id, HALF_FEB + 23 * 3600 + 60)
    assert stripe_client.v1.events.list(params={"type": "customer.subscription.pending_update_expired"}).data

    with_card(stripe_client, customer)
    stripe_client.v1.subscriptions.update(
        sub.id, params={**change, "items": [{"id": item.id, "price": catalog.pro_year.id}]}
    )
    # Paid at once: the update never waited, so nothing is announced as applied.
    assert stripe_client.v1.events.list(params={"type": "customer.subscription.pending_update_applied"}).data == []


def test_paying_a_pending_update_later_announces_it_applied(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog, _, customer, sub = pro_subscriber(sim, stripe_client)
    target = premium(stripe_client, catalog)
    with_card(stripe_client, customer, CARD_DECLINE)
    item = sub["items"].data[0]
    updated = stripe_client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": target.id}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        },
    )
    with_card(stripe_client, customer)
    stripe_client.v1.invoices.pay(updated.latest_invoice)
    applied = stripe_client.v1.events.list(params={"type": "customer.subscription.pending_update_applied"}).data
    assert len(applied) == 1 and applied[0].data.object["items"].data[0].price.id == target.id


def test_events_are_kept_for_thirty_days_of_clock_time(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    _, clock, _, sub = pro_subscriber(sim, stripe_client)
    assert stripe_client.v1.events.list(params={"type": "customer.subscription.created"}).data
    sim.advance(stripe_client, clock.id, HALF_FEB + 31 * 86400)
    assert stripe_client.v1.events.list(params={"type": "customer.subscription.created"}).data == []
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_preview_of_a_schedule_shows_the_next_phase(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog, _, customer, sub = pro_subscriber(sim, stripe_client)
    start, end = subscription_period(sub)
    schedule = stripe_client.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    stripe_client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "phases": [
                {"items": [{"price": catalog.pro_month.id}], "start_date": start, "end_date": end},
                {"items": [{"price": catalog.basic_month.id}]},
            ]
        },
    )
    preview = stripe_client.v1.invoices.create_preview(params={"customer": customer.id, "schedule": schedule.id})
    assert [line.amount for line in preview.lines.data] == [500]
    assert preview.lines.data[0].period.start == end

    proposed = stripe_client.v1.invoices.create_preview(
        params={
            "customer": customer.id,
            "subscription": sub.id,
            "schedule_details": {
                "phases": [
                    {"items": [{"price": catalog.pro_month.id}], "start_date": start, "end_date": end},
                    {"items": [{"price": catalog.advanced_month.id, "quantity": 2}]},
                ]
            },
        }
    )
    assert [line.amount for line in proposed.lines.data] == [1400]


def test_preview_of_cancelling_now_credits_unused_time(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    _, _, customer, sub = pro_subscriber(sim, stripe_client)
    preview = stripe_client.v1.invoices.create_preview(
        params={"customer": customer.id, "subscription": sub.id, "subscription_details": {"cancel_now": True}}
    )
    assert [line.amount for line in preview.lines.data] == [-500]
    assert preview.amount_due == 0 and preview.ending_balance == -500
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_previewing_a_promotion_code_redeems_nothing(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    _, _, customer, sub = pro_subscriber(sim, stripe_client)
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 50, "duration": "once", "max_redemptions": 1})
    code = stripe_client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": coupon.id}})
    preview = stripe_client.v1.invoices.create_preview(
        params={"customer": customer.id, "subscription": sub.id, "discounts": [{"promotion_code": code.id}]}
    )
    assert preview.total_discount_amounts[0].amount == 500
    assert stripe_client.v1.coupons.retrieve(coupon.id).times_redeemed == 0
    assert stripe_client.v1.promotion_codes.retrieve(code.id).times_redeemed == 0
    assert stripe_client.v1.events.list(params={"type": "customer.discount.created"}).data == []


def test_cancel_with_proration_during_a_trial_credits_nothing(stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    _, customer = clocked_customer(stripe_client, start=FEB_1)
    with_card(stripe_client, customer)
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": catalog.pro_month.id}], "trial_period_days": 7}
    )
    stripe_client.v1.subscriptions.cancel(sub.id, params={"prorate": True})
    assert stripe_client.v1.invoice_items.list(params={"customer": customer.id}).data == []


def test_a_preview_for_a_customer_alone_is_their_next_renewal(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    # Stripe: without subscription (or subscription_details[items]) the preview is the next
    # upcoming invoice among the customer's subscriptions; stripesim used to refuse it.
    _, _, customer, sub = pro_subscriber(sim, stripe_client)
    by_customer = stripe_client.v1.invoices.create_preview(params={"customer": customer.id})
    by_subscription = stripe_client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert by_customer.parent.subscription_details.subscription == sub.id
    assert by_customer.amount_due == by_subscription.amount_due > 0
    assert [line.amount for line in by_customer.lines.data] == [line.amount for line in by_subscription.lines.data]
    nobody = stripe_client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoices.create_preview(params={"customer": nobody.id})
    assert info.value.code == "invoice_upcoming_none"
