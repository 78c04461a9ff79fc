"""Per-type scenarios for the billing engine's objects, for test_shapes.py.

Each returns the raw JSON objects of its type, obtained through the SDK as a user would.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import stripe

from tests.stripesim.waiting import wait_until
from tests.support.stripesim import Sim

Json = dict[str, Any]


def raw(obj: stripe.StripeObject) -> Json:
    response = obj.last_response
    assert response is not None
    return json.loads(response.body)


def _catalog(c: stripe.StripeClient) -> tuple[stripe.Price, stripe.Price]:
    product = c.v1.products.create(params={"name": "Plan"})
    monthly = c.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 2000, "recurring": {"interval": "month"}}
    )
    once = c.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 700})
    return monthly, once


def _paying_customer(c: stripe.StripeClient, card: str = "tok_visa") -> tuple[stripe.Customer, stripe.PaymentMethod]:
    cus = c.v1.customers.create(params={"email": "shape@example.com"})
    pm = c.v1.payment_methods.create(params={"type": "card", "card": {"token": card}})
    c.v1.payment_methods.attach(pm.id, params={"customer": cus.id})
    c.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    return cus, pm


def _subscription(c: stripe.StripeClient, **extra: Any) -> stripe.Subscription:
    monthly, _ = _catalog(c)
    cus, _ = _paying_customer(c)
    coupon = c.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    rate = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 10, "inclusive": False})
    params = {
        "customer": cus.id,
        "items": [{"price": monthly.id, "quantity": 2}],
        "discounts": [{"coupon": coupon.id}],
        "default_tax_rates": [rate.id],
        **extra,
    }
    return c.v1.subscriptions.create(params=params)  # type: ignore[arg-type]


def payment_method(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus = c.v1.customers.create()
    pm = c.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}})
    return [raw(pm), raw(c.v1.payment_methods.attach(pm.id, params={"customer": cus.id}))]


def subscription(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    sub = _subscription(c)
    trialing = _subscription(c, trial_period_days=7)
    return [
        raw(sub),
        raw(c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})),
        raw(trialing),
        raw(c.v1.subscriptions.cancel(trialing.id)),
    ]


def subscription_item(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    sub = _subscription(c)
    metered = _metered_subscription(c)
    c.v1.subscription_schedules.create(params={"from_subscription": metered.id})  # its phase items too
    return [
        *raw(c.v1.subscription_items.list(params={"subscription": sub.id}))["data"],
        *raw(c.v1.subscription_items.list(params={"subscription": metered.id}))["data"],
    ]


def _metered_subscription(c: stripe.StripeClient) -> stripe.Subscription:
    """A subscription on a usage-based price (its item has no quantity)."""
    meter = c.v1.billing.meters.create(
        params={
            "display_name": "Calls",
            "event_name": f"calls_{uuid.uuid4().hex}",
            "default_aggregation": {"formula": "sum"},
        }
    )
    product = c.v1.products.create(params={"name": "Usage"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 2,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    cus, _ = _paying_customer(c)
    return c.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price.id}]})


def deleted_subscription_item(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    sub = _subscription(c)
    _, once = _catalog(c)
    extra = c.v1.prices.create(
        params={"product": once.product, "currency": "usd", "unit_amount": 300, "recurring": {"interval": "month"}}
    )
    item = c.v1.subscription_items.create(params={"subscription": sub.id, "price": extra.id})
    return [raw(c.v1.subscription_items.delete(item.id))]


def invoice(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    sub = _subscription(c)
    paid = c.v1.invoices.retrieve(str(sub.latest_invoice))
    cus = c.v1.customers.create()
    draft = c.v1.invoices.create(params={"customer": cus.id})
    return [raw(paid), raw(draft), raw(c.v1.invoices.create_preview(params={"subscription": sub.id}))]


def deleted_invoice(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus = c.v1.customers.create()
    draft = c.v1.invoices.create(params={"customer": cus.id})
    return [raw(c.v1.invoices.delete(draft.id))]


def line_item(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    sub = _subscription(c)
    return raw(c.v1.invoices.line_items.list(str(sub.latest_invoice)))["data"]


def invoiceitem(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus = c.v1.customers.create()
    return [raw(c.v1.invoice_items.create(params={"customer": cus.id, "amount": 500, "currency": "usd"}))]


def deleted_invoiceitem(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus = c.v1.customers.create()
    item = c.v1.invoice_items.create(params={"customer": cus.id, "amount": 500, "currency": "usd"})
    return [raw(c.v1.invoice_items.delete(item.id))]


def invoice_payment(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    sub = _subscription(c)
    return raw(c.v1.invoice_payments.list(params={"invoice": str(sub.latest_invoice)}))["data"]


def payment_intent(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus, pm = _paying_customer(c)
    done = c.v1.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "customer": cus.id, "payment_method": pm.id, "confirm": True}
    )
    waiting = c.v1.payment_intents.create(params={"amount": 900, "currency": "usd", "customer": cus.id})
    return [raw(done), raw(waiting), raw(c.v1.payment_intents.cancel(waiting.id))]


def charge(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    payment_intent(c, sim)
    return raw(c.v1.charges.list())["data"]


def refund(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus, pm = _paying_customer(c)
    pi = c.v1.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "customer": cus.id, "payment_method": pm.id, "confirm": True}
    )
    return [raw(c.v1.refunds.create(params={"payment_intent": pi.id, "amount": 500}))]


def dispute(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    sim.control("config", {"dispute_delay_s": 0})
    cus, pm = _paying_customer(c, card="tok_createDispute")
    c.v1.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "customer": cus.id, "payment_method": pm.id, "confirm": True}
    )
    found: list[Json] = []

    def opened() -> bool:
        found[:] = raw(c.v1.disputes.list())["data"]
        return bool(found)

    wait_until(opened, timeout=10, message="no dispute opened for tok_createDispute")
    return found


def file(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    evidence = io.BytesIO(b"%PDF-1.4\n%%EOF\n")
    evidence.name = "receipt.pdf"
    uploaded = c.v1.files.create(params={"file": evidence, "purpose": "dispute_evidence"})  # type: ignore[typeddict-item]
    return [raw(uploaded), raw(c.v1.files.retrieve(uploaded.id))]


def setup_intent(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus = c.v1.customers.create()
    pm = c.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}})
    return [raw(c.v1.setup_intents.create(params={"customer": cus.id, "payment_method": pm.id, "confirm": True}))]


def _session(c: stripe.StripeClient, mode: str, price: str) -> stripe.checkout.Session:
    return c.v1.checkout.sessions.create(
        params={
            "mode": mode,  # type: ignore[typeddict-item]
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": "http://127.0.0.1/ok",
            "cancel_url": "http://127.0.0.1/no",
        }
    )


def checkout_session(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    monthly, once = _catalog(c)
    pay = _session(c, "payment", once.id)
    sub = _session(c, "subscription", monthly.id)
    sim.complete_checkout(sub.id)
    expired = _session(c, "payment", once.id)
    return [
        raw(pay),
        raw(c.v1.checkout.sessions.retrieve(sub.id)),
        raw(c.v1.checkout.sessions.expire(expired.id)),
    ]


def item(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    _, once = _catalog(c)
    session = _session(c, "payment", once.id)
    return raw(c.v1.checkout.sessions.line_items.list(session.id))["data"]


def subscription_schedule(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    sub = _subscription(c)
    schedule = c.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    other = c.v1.subscription_schedules.create(params={"from_subscription": _subscription(c).id})
    return [
        raw(schedule),
        raw(c.v1.subscription_schedules.release(schedule.id)),
        raw(c.v1.subscription_schedules.cancel(other.id)),
    ]


def billing_portal_configuration(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    return [
        raw(
            c.v1.billing_portal.configurations.create(
                params={
                    "features": {
                        "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
                        "payment_method_update": {"enabled": True},
                    },
                }
            )
        )
    ]


def billing_portal_session(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus = c.v1.customers.create()
    return [raw(c.v1.billing_portal.sessions.create(params={"customer": cus.id, "return_url": "http://127.0.0.1/"}))]


def discount(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    _subscription(c)
    events = raw(c.v1.events.list(params={"type": "customer.discount.created"}))["data"]
    return [e["data"]["object"] for e in events]


def deleted_discount(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    sub = _subscription(c)
    return [raw(c.v1.subscriptions.delete_discount(sub.id))]


BILLING_SCENARIOS: list[tuple[str, Callable[[stripe.StripeClient, Sim], list[Json]]]] = [
    ("payment_method", payment_method),
    ("subscription", subscription),
    ("subscription_item", subscription_item),
    ("invoice", invoice),
    ("deleted_invoice", deleted_invoice),
    ("line_item", line_item),
    ("deleted_invoiceitem", deleted_invoiceitem),
    ("invoice_payment", invoice_payment),
    ("payment_intent", payment_intent),
    ("charge", charge),
    ("refund", refund),
    ("dispute", dispute),
    ("file", file),
    ("setup_intent", setup_intent),
    ("checkout.session", checkout_session),
    ("item", item),
    ("subscription_schedule", subscription_schedule),
    ("billing_portal.configuration", billing_portal_configuration),
    ("billing_portal.session", billing_portal_session),
    ("discount", discount),
    ("deleted_subscription_item", deleted_subscription_item),
    ("invoiceitem", invoiceitem),
    ("deleted_discount", deleted_discount),
]


def disputes_declines_and_authentication(c: stripe.StripeClient, sim: Sim) -> None:
    """A dispute won with evidence, a declined and a 3-D Secure payment, a card detached."""
    dispute(c, sim)
    lost = c.v1.disputes.list().data[0]
    c.v1.disputes.update(lost.id, params={"evidence": {"uncategorized_text": "winning_evidence"}})
    cus, _ = _paying_customer(c)
    declining = c.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_chargeDeclined"}})
    c.v1.payment_methods.attach(declining.id, params={"customer": cus.id})
    with pytest.raises(stripe.CardError):
        c.v1.payment_intents.create(
            params={
                "amount": 900,
                "currency": "usd",
                "customer": cus.id,
                "payment_method": declining.id,
                "confirm": True,
            }
        )
    c.v1.payment_methods.detach(declining.id)
    c.v1.payment_intents.create(
        params={
            "amount": 900,
            "currency": "usd",
            "payment_method": "pm_card_threeDSecure2Required",
            "confirm": True,
            "return_url": "http://127.0.0.1/back",
        }
    )


def refunds_settled_later_and_evidence_staged(c: stripe.StripeClient, sim: Sim) -> None:
    """A pending refund that succeeds and one that fails (on a test clock), and a dispute's
    evidence staged with a file, submitted, and decided by the bank."""
    start = int(time.time())
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": start})
    cus = c.v1.customers.create(params={"test_clock": clock.id})
    for card in ("pm_card_pendingRefund", "pm_card_refundFail"):
        pi = c.v1.payment_intents.create(
            params={"amount": 900, "currency": "usd", "customer": cus.id, "payment_method": card, "confirm": True}
        )
        c.v1.refunds.create(params={"payment_intent": pi.id})
    sim.advance(c, clock.id, start + 3600)
    sim.control("config", {"dispute_delay_s": 0})
    payer, pm = _paying_customer(c, card="tok_createDispute")
    pi = c.v1.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "customer": payer.id, "payment_method": pm.id, "confirm": True}
    )
    opened: list[Any] = []
    wait_until(
        lambda: bool(opened.extend(c.v1.disputes.list(params={"payment_intent": pi.id}).data) or opened),
        timeout=10,
        message="no dispute opened for tok_createDispute",
    )
    staged = opened[0]
    receipt = file(c, sim)[0]["id"]
    c.v1.disputes.update(staged.id, params={"evidence": {"receipt": receipt}, "submit": False})
    c.v1.disputes.update(staged.id, params={"submit": True})
    sim.control(f"disputes/{staged.id}/decide", {"outcome": "lost"})


def subscription_lifecycle(c: stripe.StripeClient, sim: Sim) -> None:
    """On a test clock, a weekly plan (so it all fits in the 30 days events are kept): a trial
    that ends, pending updates applied and expired, pausing and resuming, a failed renewal
    written off, a renewal that needs 3-D Secure, a schedule that completes."""
    product = c.v1.products.create(params={"name": "Weekly"})
    weekly, *upgrades = (
        c.v1.prices.create(
            params={"product": product.id, "currency": "usd", "unit_amount": amount, "recurring": {"interval": "week"}}
        )
        for amount in (1000, 3000, 5000)
    )
    day = 86400
    start = 1_767_225_600  # 2026-01-01
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": start})
    cus = c.v1.customers.create(params={"test_clock": clock.id, "email": "life@example.com"})

    def card(token: str) -> str:
        pm = c.v1.payment_methods.create(params={"type": "card", "card": {"token": token}})
        c.v1.payment_methods.attach(pm.id, params={"customer": cus.id})
        return pm.id

    good = card("tok_visa")
    c.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": good}})
    sub = c.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": weekly.id}], "trial_period_days": 4}
    )
    sim.advance(c, clock.id, start + 5 * day)  # trial_will_end, invoice.upcoming, the trial ends

    def pending_upgrade(price: str) -> str:
        c.v1.subscriptions.update(sub.id, params={"default_payment_method": card("tok_chargeDeclined")})
        item = c.v1.subscriptions.retrieve(sub.id)["items"].data[0]
        updated = c.v1.subscriptions.update(
            sub.id,
            params={
                "items": [{"id": item.id, "price": price}],
                "proration_behavior": "always_invoice",
                "payment_behavior": "pending_if_incomplete",
            },
        )
        return str(updated.latest_invoice)

    c.v1.invoices.pay(pending_upgrade(upgrades[0].id), params={"payment_method": good})  # pending_update_applied
    pending_upgrade(upgrades[1].id)
    sim.advance(c, clock.id, start + 6 * day + 3600)  # pending_update_expired, its invoice voided
    sim.advance(c, clock.id, start + 12 * day)  # the renewal fails: invoice.payment_failed
    failed = c.v1.invoices.list(params={"subscription": sub.id, "status": "open"}).data[0]
    c.v1.invoices.mark_uncollectible(failed.id)
    c.v1.subscriptions.update(sub.id, params={"default_payment_method": card("tok_threeDSecure2Required")})
    sim.advance(c, clock.id, start + 19 * day)  # the renewal needs 3-D Secure: payment_action_required
    c.v1.subscriptions.update(sub.id, params={"default_payment_method": good})
    c.v1.subscriptions.pause(sub.id, params={"type": "subscription"})
    c.v1.subscriptions.resume(sub.id, params={"billing_cycle_anchor": "unchanged"})
    schedule = c.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    phase = schedule.phases[0]
    c.v1.subscription_schedules.update(
        schedule.id,
        params={
            "end_behavior": "cancel",
            "phases": [
                {
                    "items": [{"price": phase["items"][0].price, "quantity": 1}],
                    "start_date": phase.start_date,
                    "end_date": phase.end_date,
                }
            ],
        },
    )
    sim.advance(c, clock.id, phase.end_date + 3600)  # subscription_schedule.completed


# Flows that make the event types no per-type scenario makes (their objects are in /v1/events).
FLOW_EVENT_SCENARIOS: list[Callable[[stripe.StripeClient, Sim], object]] = [
    disputes_declines_and_authentication,
    refunds_settled_later_and_evidence_staged,
    subscription_lifecycle,
]
