"""Subscriptions over time: renewals, trials, dunning, cancellation — driven by test clocks."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.support.billing_world import (
    CARD_3DS_ALWAYS,
    CARD_DECLINE,
    CARD_FAILS_LATER,
    clocked_customer,
    make_catalog,
    subscription_period,
    with_card,
)
from tests.support.stripesim import Sim

DAY = 86400


def subscribe(client: stripe.StripeClient, customer: Any, price: str, **params: Any) -> Any:
    return client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price}], **params})


def invoices_of(client: stripe.StripeClient, sub_id: str) -> list[Any]:
    return list(reversed(client.v1.invoices.list(params={"subscription": sub_id, "limit": 100}).data))


def test_subscription_renews_every_month_on_the_anchor_day(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client, start=1769904000)  # 2026-02-01 00:00 UTC
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id)
    assert sub.status == "active"
    start, end = subscription_period(sub)
    assert (start, end) == (1769904000, 1772323200)  # 1 Mar 2026

    sim.advance(stripe_client, clock.id, end + 2 * 3600)

    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert subscription_period(sub) == (1772323200, 1775001600)  # 1 Apr 2026
    cycle = invoices_of(stripe_client, sub.id)
    assert [(i.billing_reason, i.status, i.amount_paid) for i in cycle] == [
        ("subscription_create", "paid", 1000),
        ("subscription_cycle", "paid", 1000),
    ]
    assert cycle[1].lines.data[0].period.start == 1772323200
    assert sub.latest_invoice == cycle[1].id


def test_renewal_invoice_stays_draft_for_an_hour(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.basic_month.id)
    _, end = subscription_period(sub)

    sim.advance(stripe_client, clock.id, end + 60)
    assert invoices_of(stripe_client, sub.id)[-1].status == "draft"
    sim.advance(stripe_client, clock.id, end + 3601)
    assert invoices_of(stripe_client, sub.id)[-1].status == "paid"


def test_failed_renewals_follow_the_retry_schedule_then_cancel(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer, CARD_FAILS_LATER)
    sub = subscribe(stripe_client, customer, catalog.basic_month.id, payment_behavior="default_incomplete")
    # The first invoice is paid out of band so that only renewals hit the failing card.
    stripe_client.v1.invoices.pay(sub.latest_invoice, params={"paid_out_of_band": True})
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    _, end = subscription_period(sub)

    sim.advance(stripe_client, clock.id, end + 2 * 3600)
    renewal = invoices_of(stripe_client, sub.id)[-1]
    assert renewal.status == "open" and renewal.attempt_count == 1
    assert renewal.next_payment_attempt == end + 3600 + 1 * DAY
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"

    sim.advance(stripe_client, clock.id, end + 3600 + 13 * DAY)
    renewal = stripe_client.v1.invoices.retrieve(renewal.id)
    assert renewal.attempt_count == 7, "8 tries in 2 weeks: the first and 7 retries"
    assert renewal.next_payment_attempt == end + 3600 + 14 * DAY

    sim.advance(stripe_client, clock.id, end + 3600 + 14 * DAY + 60)
    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled"
    assert sub.cancellation_details.reason == "payment_failed"
    failures = stripe_client.v1.events.list(params={"type": "invoice.payment_failed", "limit": 100}).data
    assert len(failures) == 8


def test_a_retry_that_succeeds_restores_active(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.basic_month.id)
    bad = with_card(stripe_client, customer, CARD_DECLINE)
    assert bad.card.last4 == "0002"
    _, end = subscription_period(sub)
    sim.advance(stripe_client, clock.id, end + 2 * 3600)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"

    with_card(stripe_client, customer)
    sim.advance(stripe_client, clock.id, end + 3600 + DAY + 60)

    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert invoices_of(stripe_client, sub.id)[-1].status == "paid"


def test_renewal_needing_authentication_asks_for_action(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.basic_month.id)
    with_card(stripe_client, customer, CARD_3DS_ALWAYS)
    _, end = subscription_period(sub)

    sim.advance(stripe_client, clock.id, end + 2 * 3600)

    renewal = invoices_of(stripe_client, sub.id)[-1]
    assert renewal.status == "open"
    assert stripe_client.v1.events.list(params={"type": "invoice.payment_action_required"}).data
    payment = stripe_client.v1.invoice_payments.list(params={"invoice": renewal.id}).data[0]
    intent = stripe_client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert intent.status == "requires_action"
    assert intent.next_action.redirect_to_url.url.endswith(f"/authenticate/{intent.id}")
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"


def test_trial_ends_into_a_paid_period_with_a_warning_three_days_before(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id, trial_period_days=7)
    assert sub.status == "trialing"
    assert invoices_of(stripe_client, sub.id)[0].amount_due == 0

    sim.advance(stripe_client, clock.id, sub.trial_end - 3 * DAY + 10)
    assert stripe_client.v1.events.list(params={"type": "customer.subscription.trial_will_end"}).data
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "trialing"

    sim.advance(stripe_client, clock.id, sub.trial_end + 2 * 3600)
    after = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert after.status == "active"
    assert subscription_period(after)[0] == sub.trial_end
    assert invoices_of(stripe_client, sub.id)[-1].amount_paid == 1000


def test_a_trial_shorter_than_three_days_is_warned_about_at_once(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id, trial_period_days=1)
    sim.advance(stripe_client, clock.id, clock.frozen_time + 60)
    [warning] = stripe_client.v1.events.list(params={"type": "customer.subscription.trial_will_end"}).data
    assert warning.data.object["id"] == sub.id


def test_a_new_default_card_pays_the_failed_invoice_at_once(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer, CARD_FAILS_LATER)
    sub = subscribe(stripe_client, customer, catalog.basic_month.id, payment_behavior="default_incomplete")
    stripe_client.v1.invoices.pay(sub.latest_invoice, params={"paid_out_of_band": True})
    _, end = subscription_period(sub)
    sim.advance(stripe_client, clock.id, end + 2 * 3600)
    renewal = invoices_of(stripe_client, sub.id)[-1]
    assert (renewal.status, renewal.attempt_count) == ("open", 1)

    with_card(stripe_client, customer)  # the customer's new default, before the next retry

    renewal = stripe_client.v1.invoices.retrieve(renewal.id)
    assert (renewal.status, renewal.attempt_count) == ("paid", 2)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_trial_without_payment_method_can_cancel(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    sub = subscribe(
        stripe_client,
        customer,
        catalog.pro_month.id,
        trial_period_days=7,
        trial_settings={"end_behavior": {"missing_payment_method": "cancel"}},
    )
    sim.advance(stripe_client, clock.id, sub.trial_end + 60)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "canceled"


def test_cancel_at_period_end_keeps_the_period_then_ends(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id)
    _, end = subscription_period(sub)

    pending = stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert pending.status == "active" and pending.cancel_at == end and pending.cancel_at_period_end
    update = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert update.data.previous_attributes["cancel_at_period_end"] is False

    sim.advance(stripe_client, clock.id, end - 60)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    sim.advance(stripe_client, clock.id, end + 60)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at == end
    assert stripe_client.v1.events.list(params={"type": "customer.subscription.deleted"}).data
    assert len(invoices_of(stripe_client, sub.id)) == 1


def test_reactivating_before_the_end_keeps_renewing(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id)
    _, end = subscription_period(sub)
    stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    back = stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert back.cancel_at is None and back.canceled_at is None

    sim.advance(stripe_client, clock.id, end + 2 * 3600)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_cancel_now_and_canceled_subscriptions_refuse_changes(stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    _, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id)

    canceled = stripe_client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.update(sub.id, params={"items": [{"price": catalog.basic_month.id}]})
    assert info.value.param == "items"
    assert stripe_client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    assert len(stripe_client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"}).data) == 1


def test_incomplete_subscription_expires_after_23_hours(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer, CARD_DECLINE)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id)
    assert sub.status == "incomplete"

    sim.advance(stripe_client, clock.id, clock.frozen_time + 23 * 3600 + 60)

    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "incomplete_expired"
    assert stripe_client.v1.invoices.retrieve(sub.latest_invoice).status == "void"


def test_error_if_incomplete_creates_nothing(stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    _, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer, CARD_DECLINE)
    with pytest.raises(stripe.CardError) as info:
        subscribe(stripe_client, customer, catalog.pro_month.id, payment_behavior="error_if_incomplete")
    assert info.value.http_status == 402 and info.value.code == "card_declined"
    assert info.value.error is not None and info.value.error.decline_code == "generic_decline"
    assert stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []


def test_pause_withholds_invoices_and_resume_starts_a_new_cycle(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id)
    _, end = subscription_period(sub)

    paused = stripe_client.v1.subscriptions.pause(sub.id, params={"bill_for": {"unused_time_from": {"type": "none"}}})
    assert paused.status == "paused"
    assert paused.status_details.paused.subscription.type == "pause_requested"
    assert stripe_client.v1.events.list(params={"type": "customer.subscription.paused"}).data
    sim.advance(stripe_client, clock.id, end + 40 * DAY)
    assert len(invoices_of(stripe_client, sub.id)) == 1

    resumed = stripe_client.v1.subscriptions.resume(sub.id)
    assert resumed.status == "active"
    assert subscription_period(resumed)[0] == end + 40 * DAY
    assert invoices_of(stripe_client, sub.id)[-1].amount_paid == 1000
    assert stripe_client.v1.events.list(params={"type": "customer.subscription.resumed"}).data


def test_pause_collection_keeps_invoices_as_drafts(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id)
    _, end = subscription_period(sub)
    stripe_client.v1.subscriptions.update(sub.id, params={"pause_collection": {"behavior": "keep_as_draft"}})

    sim.advance(stripe_client, clock.id, end + 2 * 3600)

    assert invoices_of(stripe_client, sub.id)[-1].status == "draft"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    cleared = stripe_client.v1.subscriptions.update(sub.id, params={"pause_collection": ""})
    assert cleared.pause_collection is None


def test_invoice_upcoming_is_announced_days_before_the_renewal(sim: Sim, stripe_client: stripe.StripeClient) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id)
    _, end = subscription_period(sub)

    sim.advance(stripe_client, clock.id, end - 3 * DAY - 60)
    assert stripe_client.v1.events.list(params={"type": "invoice.upcoming"}).data == []
    sim.advance(stripe_client, clock.id, end - 3 * DAY + 60)

    upcoming = stripe_client.v1.events.list(params={"type": "invoice.upcoming"}).data
    assert len(upcoming) == 1
    invoice = upcoming[0].data.object
    # The pinned API gives every invoice an id; an upcoming one's is `upcoming_in_…` (it was None).
    assert invoice.id.startswith("upcoming_in_") and invoice.amount_due == 1000
    assert invoice.parent.subscription_details.subscription == sub.id
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_no_upcoming_invoice_for_a_subscription_ending_at_period_end(
    sim: Sim, stripe_client: stripe.StripeClient
) -> None:
    catalog = make_catalog(stripe_client)
    clock, customer = clocked_customer(stripe_client)
    with_card(stripe_client, customer)
    sub = subscribe(stripe_client, customer, catalog.pro_month.id, cancel_at_period_end=True)
    _, end = subscription_period(sub)
    sim.advance(stripe_client, clock.id, end - DAY)
    assert stripe_client.v1.events.list(params={"type": "invoice.upcoming"}).data == []
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
