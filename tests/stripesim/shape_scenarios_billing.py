"""Per-type scenarios for the billing engine's objects, for test_shapes.py.

Each returns the raw JSON objects of its type, obtained through the SDK as a user would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import stripe

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
    return raw(c.v1.subscription_items.list(params={"subscription": sub.id}))["data"]


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
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = raw(c.v1.disputes.list())["data"]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("no dispute opened for tok_createDispute")


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
