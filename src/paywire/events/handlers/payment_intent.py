"""`payment_intent.*` and `charge.*`: payments seen from the order side.

Access from a payment is granted by `checkout.session.completed` (see checkout_session);
here a refund takes it back: a fully refunded payment moves its order to `refunded`, which
grants nothing. Every refund is a `refund_issued` fact, known by the refund's id (two
partial refunds: two facts, even when one re-read sees both). Other payment events are re-read and noted in the
log line only.
"""

from __future__ import annotations

from paywire.db.repositories import orders
from paywire.events.handlers._event import EventGroup, event_object, event_object_id
from paywire.events.mirror import HandlerContext, record_facts, stripe_id, user_for
from paywire.reactions import facts
from paywire.stripe import StripeNotFound


def on_payment_intent_changed(ctx: HandlerContext, group: EventGroup) -> str:
    intent_id = event_object_id(group.latest)
    order = orders.find_by_payment_intent(ctx.session, intent_id)
    if order is None:
        return f"{intent_id} {group.latest.get('type')}: no order"
    try:
        fresh = ctx.gateway.retrieve_payment_intent(intent_id)
    except StripeNotFound:
        return f"{intent_id} not found in Stripe: order {order.id} {order.status}"
    return f"{intent_id} {fresh.get('status')}: order {order.id} {order.status}"


def on_charge_refunded(ctx: HandlerContext, group: EventGroup) -> str:
    charge_id = event_object_id(group.latest)
    try:
        charge = ctx.gateway.retrieve_charge(charge_id)
    except StripeNotFound:
        return f"{charge_id} not found in Stripe: nothing refunded here"
    intent_id = stripe_id(charge.get("payment_intent"))
    if intent_id is None:
        return f"{charge_id} has no payment intent"
    refunds = [r for r in ctx.gateway.list_refunds_of_payment(intent_id) if stripe_id(r.get("charge")) == charge_id]
    user_id = user_for(ctx.session, stripe_id(charge.get("customer")), charge)
    record_facts(ctx, facts.refund_facts(refunds, user_id=user_id))
    order = orders.find_by_payment_intent(ctx.session, intent_id)
    if order is None:
        return f"{charge_id} refunded {charge.get('amount_refunded')}: no order"
    if not charge.get("refunded"):
        return f"{intent_id} partially refunded: order {order.status} kept"
    changed = orders.mark_refunded(ctx.session, order)
    return f"{intent_id} fully refunded: order {order.id} {'refunded' if changed else 'already refunded'}"


def on_charge_noted(ctx: HandlerContext, group: EventGroup) -> str:
    charge = event_object(group.latest)
    return f"{event_object_id(group.latest)} {group.latest.get('type')} for {stripe_id(charge.get('payment_intent'))}"


HANDLERS = {
    "payment_intent.succeeded": on_payment_intent_changed,
    "payment_intent.payment_failed": on_payment_intent_changed,
    "payment_intent.canceled": on_payment_intent_changed,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_charge_noted,
}
