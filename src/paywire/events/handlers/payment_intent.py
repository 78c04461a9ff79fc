"""`payment_intent.*` and `charge.*`: payments seen from the order side.

Access from a payment is granted by `checkout.session.completed` (see checkout_session);
here a refund takes it back: a fully refunded payment moves its order to `refunded`, which
grants nothing. Other payment events are re-read and noted in the log line only.
"""

from __future__ import annotations

from typing import Any

from paywire.db.repositories import orders
from paywire.events.handlers._event import event_object, event_object_id
from paywire.events.mirror import HandlerContext, stripe_id
from paywire.stripe import StripeNotFound


def on_payment_intent_changed(ctx: HandlerContext, event: dict[str, Any]) -> str:
    intent_id = event_object_id(event)
    order = orders.find_by_payment_intent(ctx.session, intent_id)
    if order is None:
        return f"{intent_id} {event.get('type')}: no order"
    try:
        fresh = ctx.gateway.retrieve_payment_intent(intent_id)
    except StripeNotFound:
        return f"{intent_id} not found in Stripe: order {order.id} {order.status}"
    return f"{intent_id} {fresh.get('status')}: order {order.id} {order.status}"


def on_charge_refunded(ctx: HandlerContext, event: dict[str, Any]) -> str:
    charge = event_object(event)
    intent_id = stripe_id(charge.get("payment_intent"))
    if intent_id is None:
        return f"{event_object_id(event)} has no payment intent"
    order = orders.find_by_payment_intent(ctx.session, intent_id)
    if order is None:
        return f"{intent_id} refunded, no order"
    try:
        fresh = ctx.gateway.retrieve_payment_intent(intent_id, expand=["latest_charge"])
    except StripeNotFound:
        return f"{intent_id} not found in Stripe: order {order.status} kept"
    latest = fresh.get("latest_charge")
    if not isinstance(latest, dict) or not latest.get("refunded"):
        return f"{intent_id} partially refunded: order {order.status} kept"
    changed = orders.mark_refunded(ctx.session, order)
    return f"{intent_id} fully refunded: order {order.id} {'refunded' if changed else 'already refunded'}"


def on_charge_noted(ctx: HandlerContext, event: dict[str, Any]) -> str:
    charge = event_object(event)
    return f"{event_object_id(event)} {event.get('type')} for {stripe_id(charge.get('payment_intent'))}"


HANDLERS = {
    "payment_intent.succeeded": on_payment_intent_changed,
    "payment_intent.payment_failed": on_payment_intent_changed,
    "payment_intent.canceled": on_payment_intent_changed,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_charge_noted,
}
