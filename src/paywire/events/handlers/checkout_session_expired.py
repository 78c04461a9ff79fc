"""`checkout.session.expired`: a Checkout Session was abandoned (or closed by a newer one).

Re-reads: the session. Stripe's current state wins over the event: a session paid after all
is fulfilled (`checkout_session_completed.fulfil_purchase`); otherwise a pending order for it
is marked failed, and grants nothing.
Facts: none (or `pass_fulfilled`, if it turns out paid).
"""

from __future__ import annotations

from collections.abc import Sequence

from paywire.db.repositories import orders
from paywire.events.handlers.checkout_session_completed import PAID, fulfil_purchase
from paywire.events.handling import EventGroup, EventHandler, FactRule, HandlerContext
from paywire.stripe import Kind, StripeNotFound

EVENT_TYPE = "checkout.session.expired"


def close_unpaid(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    session_id = group.object_id
    try:
        fresh = ctx.mirror.reads.read(Kind.CHECKOUT_SESSION, session_id).obj
    except StripeNotFound:
        return f"{session_id} not found in Stripe: nothing to do"
    order = orders.find_by_checkout_session(ctx.mirror.session, session_id)
    if order is None:
        return f"{session_id} {fresh.get('status')}: no order"
    if fresh.get("payment_status") in PAID:
        return fulfil_purchase(ctx, fresh)
    changed = orders.mark_failed(ctx.mirror.session, order)
    return f"{session_id} order {'failed' if changed else 'unchanged: ' + order.status}"


HANDLER = EventHandler(close_unpaid, reads=Kind.CHECKOUT_SESSION)
