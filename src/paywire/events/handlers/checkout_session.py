"""`checkout.session.*`: provisioning after Checkout, never from the redirect.

Subscription mode: the subscription exists once the session completes; it is re-read and
mirrored like any subscription change (its status decides access, so a declined card
leaves an `incomplete` subscription that grants nothing).

Payment mode (the one-time pass): the session is re-read and the order fulfilled only if
Stripe says `payment_status == "paid"` — the event alone is not proof (delayed payment
methods complete a session before the money arrives; `async_payment_succeeded` follows).
The access window starts at the customer's time (their test clock's, in test mode) and
lasts the catalog's duration. Fulfilment is a conditional update, so it happens once
however many events describe the same payment, and the `pass_fulfilled` fact is written in
the same transaction, only by the call that fulfilled.
"""

from __future__ import annotations

from typing import Any

from paywire.billing.passes import pass_access_window
from paywire.db.models import Order
from paywire.db.repositories import orders
from paywire.events.handlers._event import EventGroup, event_object_id
from paywire.events.mirror import (
    HandlerContext,
    customer_time,
    record_facts,
    refresh_subscription,
    stripe_id,
    user_for,
)
from paywire.reactions import facts
from paywire.stripe import StripeNotFound

PAID = ("paid",)
COMPLETED = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


def on_session_completed(ctx: HandlerContext, group: EventGroup) -> str:
    session_id = event_object_id(group.latest)
    try:
        fresh = ctx.gateway.retrieve_checkout_session(session_id)
    except StripeNotFound:
        return f"{session_id} not found in Stripe: nothing to provision"
    if fresh.get("mode") == "subscription":
        subscription_id = stripe_id(fresh.get("subscription"))
        if subscription_id is None:
            return f"{session_id} {fresh.get('status')}: no subscription yet"
        return refresh_subscription(ctx, subscription_id)
    if fresh.get("mode") == "payment":
        return _fulfil_purchase(ctx, fresh)
    return f"{session_id} mode {fresh.get('mode')}: nothing to provision"


def on_session_unpaid(ctx: HandlerContext, group: EventGroup) -> str:
    """Expired, or a delayed payment failed: a pending order will not be paid."""
    session_id = event_object_id(group.latest)
    try:
        fresh = ctx.gateway.retrieve_checkout_session(session_id)
    except StripeNotFound:
        return f"{session_id} not found in Stripe: nothing to do"
    order = orders.find_by_checkout_session(ctx.session, session_id)
    if order is None:
        return f"{session_id} {fresh.get('status')}: no order"
    if fresh.get("payment_status") in PAID:
        # Stripe's current state wins over the event: this session was paid after all.
        return _fulfil_purchase(ctx, fresh)
    changed = orders.mark_failed(ctx.session, order)
    return f"{session_id} order {'failed' if changed else 'unchanged: ' + order.status}"


def _fulfil_purchase(ctx: HandlerContext, fresh: dict[str, Any]) -> str:
    session_id = fresh["id"]
    if fresh.get("payment_status") not in PAID:
        return f"{session_id} payment_status {fresh.get('payment_status')}: not fulfilled"
    order = orders.find_by_checkout_session(ctx.session, session_id) or _order_from_session(ctx, fresh)
    if order is None:
        return f"{session_id} paid, but names no product of the catalog: not fulfilled"
    if order.status == "fulfilled":
        return f"{session_id} order already fulfilled"
    product = ctx.catalog.product(order.product)
    if product is None:
        raise LookupError(f"order {order.id}: product {order.product!r} is not in the catalog")
    starts, ends = pass_access_window(product, customer_time(ctx, order.stripe_customer_id))
    fulfilled = orders.fulfil(
        ctx.session,
        order,
        payment_intent_id=stripe_id(fresh.get("payment_intent")),
        amount_total=fresh.get("amount_total"),
        currency=fresh.get("currency"),
        access_starts_at=starts,
        access_ends_at=ends,
    )
    if not fulfilled:
        return f"{session_id} order {order.status}: not fulfilled again"
    record_facts(
        ctx,
        [
            facts.pass_fulfilled(
                order_id=order.id,
                checkout_session_id=session_id,
                user_id=order.user_id,
                product=order.product,
                grants_plan=order.grants_plan,
                access_ends_at=ends,
                amount_total=order.amount_total,
                currency=order.currency,
            )
        ],
    )
    return f"{session_id} order fulfilled: {order.grants_plan} until {ends}"


def _order_from_session(ctx: HandlerContext, fresh: dict[str, Any]) -> Order | None:
    """A paid session whose pending order is missing (created before paywire recorded it,
    or the row was lost): rebuild the order from the session's metadata."""
    metadata = fresh.get("metadata") or {}
    product = ctx.catalog.product(str(metadata.get("product") or ""))
    customer_id = stripe_id(fresh.get("customer"))
    user_id = user_for(ctx.session, customer_id, fresh) or fresh.get("client_reference_id")
    if product is None or customer_id is None or not user_id:
        return None
    return orders.open_pending_order(
        ctx.session,
        user_id=str(user_id),
        stripe_customer_id=customer_id,
        checkout_session_id=fresh["id"],
        product=product.key,
        grants_plan=product.grants_plan,
    )


HANDLERS = {
    "checkout.session.completed": on_session_completed,
    "checkout.session.async_payment_succeeded": on_session_completed,
    "checkout.session.async_payment_failed": on_session_unpaid,
    "checkout.session.expired": on_session_unpaid,
}
