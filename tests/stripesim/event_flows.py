"""The billing flows paywire drives, each returning the events it caused in order of creation.

test_event_order.py runs each and compares with the table in src/stripesim/README.md. Catalog
and customer set-up happen before a flow's first event is noted, so a row lists only what the
flow itself causes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import stripe

from tests.support.billing_world import (
    CARD_3DS_ALWAYS,
    CARD_DECLINE,
    clocked_customer,
    make_catalog,
    pay_checkout,
    subscription_period,
    with_card,
)
from tests.support.stripesim import Sim

Flow = Callable[[stripe.StripeClient, Sim], list[str]]
FEB_1 = 1769904000  # 2026-02-01 00:00 UTC


def events_since(client: stripe.StripeClient, mark: str | None) -> list[str]:
    """Event types created after the event `mark` (all, if None), oldest first."""
    out: list[Any] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = client.v1.events.list(params=params)  # type: ignore[arg-type]
        for event in page.data:
            if event.id == mark:
                return [e.type for e in reversed(out)]
            out.append(event)
        if not page.has_more:
            return [e.type for e in reversed(out)]
        params["starting_after"] = page.data[-1].id


def last_event(client: stripe.StripeClient) -> str | None:
    page = client.v1.events.list(params={"limit": 1}).data
    return page[0].id if page else None


def _subscriber(c: stripe.StripeClient, sim: Sim, card: str | None = None) -> tuple[Any, Any, Any, Any]:
    catalog = make_catalog(c)
    clock, customer = clocked_customer(c, start=FEB_1)
    with_card(c, customer, *([card] if card else []))
    sub = c.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": catalog.pro_month.id}]})
    sim.advance(c, clock.id, FEB_1 + 14 * 86400)
    return catalog, clock, customer, sub


def checkout_subscription(c: stripe.StripeClient, sim: Sim) -> list[str]:
    catalog = make_catalog(c)
    customer = c.v1.customers.create(params={"email": "buyer@example.com"})
    mark = last_event(c)
    session = c.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": catalog.pro_month.id, "quantity": 1}],
            "success_url": "http://127.0.0.1/ok",
        }
    )
    assert pay_checkout(sim, session.id).status_code == 200
    return events_since(c, mark)


def checkout_trial(c: stripe.StripeClient, sim: Sim) -> list[str]:
    catalog = make_catalog(c)
    customer = c.v1.customers.create(params={"email": "trial@example.com"})
    mark = last_event(c)
    session = c.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": catalog.pro_month.id, "quantity": 1}],
            "subscription_data": {"trial_period_days": 14},
            "success_url": "http://127.0.0.1/ok",
        }
    )
    assert pay_checkout(sim, session.id).status_code == 200
    return events_since(c, mark)


def checkout_one_time(c: stripe.StripeClient, sim: Sim) -> list[str]:
    catalog = make_catalog(c)
    customer = c.v1.customers.create(params={"email": "pass@example.com"})
    mark = last_event(c)
    session = c.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer.id,
            "line_items": [{"price": catalog.pass_once.id, "quantity": 1}],
            "success_url": "http://127.0.0.1/ok",
        }
    )
    assert pay_checkout(sim, session.id).status_code == 200
    return events_since(c, mark)


def upgrade_now(c: stripe.StripeClient, sim: Sim) -> list[str]:
    catalog, _, _, sub = _subscriber(c, sim)
    mark = last_event(c)
    c.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": sub["items"].data[0].id, "price": catalog.pro_year.id}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        },
    )
    return events_since(c, mark)


def upgrade_declined(c: stripe.StripeClient, sim: Sim) -> list[str]:
    catalog, _, customer, sub = _subscriber(c, sim)
    with_card(c, customer, CARD_DECLINE)
    mark = last_event(c)
    c.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": sub["items"].data[0].id, "price": catalog.pro_year.id}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        },
    )
    return events_since(c, mark)


def downgrade_at_period_end(c: stripe.StripeClient, sim: Sim) -> list[str]:
    catalog, _, _, sub = _subscriber(c, sim)
    mark = last_event(c)
    schedule = c.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    start, end = subscription_period(sub)
    c.v1.subscription_schedules.update(
        schedule.id,
        params={
            "end_behavior": "release",
            "phases": [
                {"items": [{"price": catalog.pro_month.id, "quantity": 1}], "start_date": start, "end_date": end},
                {"items": [{"price": catalog.basic_month.id, "quantity": 1}], "iterations": 1},
            ],
        },
    )
    return events_since(c, mark)


def cancel_at_period_end(c: stripe.StripeClient, sim: Sim) -> list[str]:
    _, _, _, sub = _subscriber(c, sim)
    mark = last_event(c)
    c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    return events_since(c, mark)


def cancel_now_with_refund(c: stripe.StripeClient, sim: Sim) -> list[str]:
    _, _, _, sub = _subscriber(c, sim)
    invoice = c.v1.invoices.retrieve(str(sub.latest_invoice))
    payment = c.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0]
    mark = last_event(c)
    c.v1.subscriptions.cancel(sub.id, params={"prorate": True})
    c.v1.refunds.create(params={"payment_intent": str(payment.payment.payment_intent), "amount": 500})
    return events_since(c, mark)


def pause_and_unpause(c: stripe.StripeClient, sim: Sim) -> list[str]:
    _, _, _, sub = _subscriber(c, sim)
    mark = last_event(c)
    c.v1.subscriptions.pause(sub.id, params={"type": "subscription"})
    c.v1.subscriptions.resume(sub.id, params={"billing_cycle_anchor": "now", "proration_behavior": "none"})
    return events_since(c, mark)


def _renewal(c: stripe.StripeClient, sim: Sim, card: str | None = None) -> list[str]:
    """The events of a subscriber's first renewal (paid with `card` when one is given)."""
    _, clock, customer, sub = _subscriber(c, sim)
    if card is not None:
        with_card(c, customer, card)
    _, end = subscription_period(sub)
    sim.control("config", {"upcoming_invoice_days": 0})
    mark = last_event(c)
    sim.advance(c, clock.id, end + 2 * 3600)
    return [t for t in events_since(c, mark) if not t.startswith("test_helpers.")]


def renewal_paid(c: stripe.StripeClient, sim: Sim) -> list[str]:
    return _renewal(c, sim)


def renewal_declined(c: stripe.StripeClient, sim: Sim) -> list[str]:
    return _renewal(c, sim, CARD_DECLINE)


def renewal_needs_authentication(c: stripe.StripeClient, sim: Sim) -> list[str]:
    return _renewal(c, sim, CARD_3DS_ALWAYS)


def promotion_code_applied(c: stripe.StripeClient, sim: Sim) -> list[str]:
    _, _, _, sub = _subscriber(c, sim)
    coupon = c.v1.coupons.create(params={"percent_off": 20, "duration": "forever"})
    code = c.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "SAVE20"})
    mark = last_event(c)
    c.v1.subscriptions.update(sub.id, params={"discounts": [{"promotion_code": code.id}]})
    return events_since(c, mark)


def portal_session(c: stripe.StripeClient, sim: Sim) -> list[str]:
    customer = c.v1.customers.create(params={"email": "portal@example.com"})
    mark = last_event(c)
    c.v1.billing_portal.sessions.create(params={"customer": customer.id, "return_url": "http://127.0.0.1/account"})
    return events_since(c, mark)


def declined_confirmation(c: stripe.StripeClient, sim: Sim) -> list[str]:
    customer = c.v1.customers.create()
    mark = last_event(c)
    with pytest.raises(stripe.CardError):
        c.v1.payment_intents.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )
    return events_since(c, mark)


FLOWS: dict[str, Flow] = {
    f.__name__: f
    for f in [
        checkout_subscription,
        checkout_trial,
        checkout_one_time,
        upgrade_now,
        upgrade_declined,
        downgrade_at_period_end,
        cancel_at_period_end,
        cancel_now_with_refund,
        pause_and_unpause,
        renewal_paid,
        renewal_declined,
        renewal_needs_authentication,
        promotion_code_applied,
        portal_session,
        declined_confirmation,
    ]
}
