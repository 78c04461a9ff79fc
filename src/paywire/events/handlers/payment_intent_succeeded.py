"""`payment_intent.succeeded`: a payment went through.

Access from a payment is granted by `checkout.session.completed`, never here: this only
notes the payment intent's state next to the order it paid, in the log line. Re-reads the
payment intent only when an order names it (so it is not read ahead).
Facts: none.
"""

from __future__ import annotations

from collections.abc import Sequence

from paywire.db.repositories import orders
from paywire.events.handling import EventGroup, EventHandler, FactRule, HandlerContext
from paywire.stripe import Kind, StripeNotFound

EVENT_TYPE = "payment_intent.succeeded"


def note_payment(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    intent_id = group.object_id
    order = orders.find_by_payment_intent(ctx.mirror.session, intent_id)
    if order is None:
        return f"{intent_id} {group.latest.get('type')}: no order"
    try:
        fresh = ctx.mirror.reads.read(Kind.PAYMENT_INTENT, intent_id).obj
    except StripeNotFound:
        return f"{intent_id} not found in Stripe: order {order.id} {order.status}"
    return f"{intent_id} {fresh.get('status')}: order {order.id} {order.status}"


HANDLER = EventHandler(note_payment)
