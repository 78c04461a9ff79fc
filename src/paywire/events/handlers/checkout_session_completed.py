"""`checkout.session.completed`: a customer finished Checkout. Provisioning happens here (and
on `async_payment_succeeded`), never on the redirect.

Re-reads: the session; in subscription mode also its subscription (read ahead with it). Neither
when the mirror holds that subscription past `incomplete` already: its own events, handled
first, brought it there and carry every later change (two requests for nothing, on every
subscriber's first minute).
- Subscription mode: the subscription exists once the session completes; it is mirrored like
  any subscription change, and its status decides access (a declined card leaves an
  `incomplete` subscription that grants nothing). Facts: the subscription's state facts.
- Payment mode, a purchase from sellers (`metadata.marketplace`): a multi-seller order's sellers
  are paid, one transfer per line, each once (`pay_sellers`); a single sale's destination charge
  paid its seller already.
- Payment mode (the one-time pass): the order is fulfilled only if Stripe says
  `payment_status == "paid"`; the event alone is no proof (delayed payment methods complete a
  session before the money arrives). Access starts at the customer's time (their test
  clock's, in test mode), or where the user's passes of the same plan end if one still runs
  (buying again extends), and lasts the catalog's duration. The order keeps when it was paid,
  the invoice Checkout made (`invoice_creation`) and the receipt of the payment (re-reads the
  payment intent and its charge). Fulfilment is a conditional update, so it happens once
  however many events describe the payment. Fact: `pass_fulfilled:<session>`, written only by
  the call that fulfilled.
Reactions: the welcome (`access_granted`) or "Your pass is ready" (`pass_fulfilled`) email.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paywire.billing import marketplace
from paywire.billing.passes import pass_access_window, runs_until
from paywire.db.models import Order
from paywire.db.repositories import connect, orders
from paywire.events.handling import EventGroup, EventHandler, FactRule, HandlerContext, ReadKey, Stored, event_object
from paywire.mirror import subscriptions
from paywire.mirror.customers import customer_time, user_for
from paywire.outbox import Fact
from paywire.stripe import Kind, StripeNotFound
from paywire.stripe.ids import id_of

EVENT_TYPE = "checkout.session.completed"
# A session made free by a 100 %-off code completes as `no_payment_required`: nothing to wait for.
PAID = ("paid", "no_payment_required")


def provision(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    session_id = group.object_id
    subscription_id = subscription_of(group.latest)
    if subscription_id is not None:
        kept = subscriptions.held_past_checkout(ctx.mirror, subscription_id)
        if kept is not None:
            return kept.note
    try:
        fresh = ctx.mirror.reads.read(Kind.CHECKOUT_SESSION, session_id).obj
    except StripeNotFound:
        return f"{session_id} not found in Stripe: nothing to provision"
    if fresh.get("mode") == "subscription":
        subscription_id = id_of(fresh.get("subscription"))
        if subscription_id is None:
            return f"{session_id} {fresh.get('status')}: no subscription yet"
        kept = subscriptions.refresh(ctx.mirror, subscription_id)
        return kept.note if kept is not None else f"{subscription_id} not found in Stripe: nothing to mirror"
    if fresh.get("mode") == "payment":
        return fulfil_purchase(ctx, fresh)
    return f"{session_id} mode {fresh.get('mode')}: nothing to provision"


def fulfil_purchase(ctx: HandlerContext, fresh: dict[str, Any]) -> str:
    session_id = fresh["id"]
    if fresh.get("payment_status") not in PAID:
        return f"{session_id} payment_status {fresh.get('payment_status')}: not fulfilled"
    if (fresh.get("metadata") or {}).get("marketplace"):
        return pay_sellers(ctx, fresh)
    session = ctx.mirror.session
    order = orders.find_by_checkout_session(session, session_id) or _order_from_session(ctx, fresh)
    if order is None:
        return f"{session_id} paid, but names no product of the catalog: not fulfilled"
    if order.status == "fulfilled":
        return f"{session_id} order already fulfilled"
    product = ctx.mirror.catalog.product(order.product)
    if product is None:
        raise LookupError(f"order {order.id}: product {order.product!r} is not in the catalog")
    payment_intent_id = id_of(fresh.get("payment_intent"))
    receipt_url = _receipt_of(ctx, payment_intent_id)
    paid_at = customer_time(ctx.mirror, order.stripe_customer_id)
    held = orders.lock_passes_of(session, order.user_id, order.grants_plan)
    if order.status == "fulfilled":  # fulfilled by another worker while this one waited
        return f"{session_id} order already fulfilled"
    running = runs_until(
        ((o.access_starts_at, o.access_ends_at) for o in held if o.id != order.id and o.status in orders.PAID_STATES),
        paid_at,
    )
    starts, ends = pass_access_window(product, paid_at, running)
    fulfilled = orders.fulfil(
        session,
        order,
        payment_intent_id=payment_intent_id,
        amount_total=fresh.get("amount_total"),
        currency=fresh.get("currency"),
        access_starts_at=starts,
        access_ends_at=ends,
        paid_at=paid_at,
        invoice_id=id_of(fresh.get("invoice")),
        receipt_url=receipt_url,
    )
    if not fulfilled:
        return f"{session_id} order {order.status}: not fulfilled again"
    ctx.mirror.record_facts([pass_fulfilled(order, session_id, ends)])
    return f"{session_id} order fulfilled: {order.grants_plan} until {ends}"


def pay_sellers(ctx: HandlerContext, fresh: dict[str, Any]) -> str:
    """A purchase from sellers (`paywire.billing.marketplace`). One seller's sale was paid to
    them by the charge itself (a destination charge: its transfer and fee arrive as their own
    events). A multi-seller order's sellers are paid now, a transfer per line, each made once
    (keyed by order and line), and the order remembers them."""
    session_id = fresh["id"]
    order = connect.find_order(ctx.mirror.session, session_id)
    if order is None:
        return f"{session_id} sale paid: paid to the seller by its charge"
    if order.status == "paid_out":
        return f"{session_id} order already paid out"
    intent_id = id_of(fresh.get("payment_intent"))
    intent = ctx.mirror.reads.read(Kind.PAYMENT_INTENT, intent_id).obj if intent_id else {}
    charge_id = id_of(intent.get("latest_charge"))
    if charge_id is None:
        raise LookupError(f"order {session_id}: its payment has no charge yet")
    made = marketplace.pay_sellers(ctx.gateway, order, charge_id=charge_id)
    connect.record_transfers(ctx.mirror.session, order, made)
    return f"{session_id} order paid out: {len(order.transfers)} transfers in {order.transfer_group}"


def _receipt_of(ctx: HandlerContext, payment_intent_id: str | None) -> str | None:
    """The receipt of the payment (its charge's `receipt_url`); None for a free order or one
    Stripe no longer has."""
    if payment_intent_id is None:
        return None
    try:
        intent = ctx.mirror.reads.read(Kind.PAYMENT_INTENT, payment_intent_id).obj
        charge_id = id_of(intent.get("latest_charge"))
        charge = ctx.mirror.reads.read(Kind.CHARGE, charge_id).obj if charge_id else {}
    except StripeNotFound:
        return None
    url = charge.get("receipt_url")
    return url if isinstance(url, str) and charge.get("paid") else None


def pass_fulfilled(order: Order, session_id: str, access_ends_at: int) -> Fact:
    payload = {
        "order_id": order.id,
        "checkout_session_id": session_id,
        "product": order.product,
        "grants_plan": order.grants_plan,
        "access_ends_at": access_ends_at,
        "amount_total": order.amount_total,
        "currency": order.currency,
    }
    return Fact("pass_fulfilled", f"pass_fulfilled:{session_id}", order.user_id, session_id, payload)


def _order_from_session(ctx: HandlerContext, fresh: dict[str, Any]) -> Order | None:
    """A paid session whose pending order is missing (created before paywire recorded it,
    or the row was lost): rebuild the order from the session's metadata."""
    metadata = fresh.get("metadata") or {}
    product = ctx.mirror.catalog.product(str(metadata.get("product") or ""))
    customer_id = id_of(fresh.get("customer"))
    user_id = user_for(ctx.mirror.session, customer_id, fresh) or fresh.get("client_reference_id")
    if product is None or customer_id is None or not user_id:
        return None
    return orders.open_pending_order(
        ctx.mirror.session,
        user_id=str(user_id),
        stripe_customer_id=customer_id,
        checkout_session_id=fresh["id"],
        product=product.key,
        grants_plan=product.grants_plan,
    )


def read_ahead(event: dict[str, Any]) -> list[ReadKey]:
    """A completed subscription checkout will read its subscription, a paid purchase its
    payment intent: say so from the event."""
    session = event_object(event)
    subscription_id = id_of(session.get("subscription"))
    if session.get("mode") == "subscription" and subscription_id:
        return [(Kind.SUBSCRIPTION, subscription_id)]
    payment_intent_id = id_of(session.get("payment_intent"))
    if session.get("mode") == "payment" and session.get("payment_status") == "paid" and payment_intent_id:
        return [(Kind.PAYMENT_INTENT, payment_intent_id)]
    return []


def subscription_of(event: dict[str, Any]) -> str | None:
    """The subscription a completed subscription checkout made, from the event: a completed
    session's mode and subscription never change (the event is signed: it is Stripe's word)."""
    session = event_object(event)
    if session.get("mode") != "subscription" or session.get("status") != "complete":
        return None
    return id_of(session.get("subscription"))


def served_by_mirror(event: dict[str, Any], stored: Stored) -> bool:
    """Neither the session nor its subscription needs a read when the mirror holds the
    subscription past what the checkout announces: its own events, handled first, brought it
    there and carry every later change."""
    subscription_id = subscription_of(event)
    return subscription_id is not None and subscriptions.past_checkout(stored((Kind.SUBSCRIPTION, subscription_id)))


HANDLER = EventHandler(provision, reads=Kind.CHECKOUT_SESSION, foresee=read_ahead, served=served_by_mirror)
