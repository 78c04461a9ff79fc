"""`customer.subscription.trial_will_end`: a trial ends in three days (or sooner).

Re-reads: the subscription, as every `customer.subscription.*` event; the customer too when
the subscription has no card of its own (is there one on file?).
Facts: `trial_will_end:<subscription>:<trial end>` while the subscription is still trialing
(keyed by the trial's end: a trial extended to a new date gets its own reminder), with what
will be charged and whether a card is on file, besides the state facts of every
subscription write.
Reactions: the customer's reminder: what will be charged and when, and, without a card on
file, the signed link to add one. A trial that then ends without a way to pay is told by the
state (`trial_ended`).
"""

from __future__ import annotations

from typing import Any

from paywire.events.appliers import refresh_subscription
from paywire.events.handling import EventHandler, HandlerContext
from paywire.mirror.customers import user_for
from paywire.mirror.subscriptions import subscription_payload
from paywire.outbox import Fact
from paywire.stripe import Kind, StripeError
from paywire.stripe.ids import id_of

EVENT_TYPE = "customer.subscription.trial_will_end"


def trial_reminder(ctx: HandlerContext, subscription: dict[str, Any]) -> list[Fact]:
    trial_end = subscription.get("trial_end")
    if subscription.get("status") != "trialing" or not trial_end:
        return []
    sub_id = subscription["id"]
    user_id = user_for(ctx.mirror.session, id_of(subscription.get("customer")), subscription)
    plan, interval = ctx.mirror.catalog.plan_of_subscription(subscription)
    items = (subscription.get("items") or {}).get("data") or []
    amount = sum(int((i.get("price") or {}).get("unit_amount") or 0) * int(i.get("quantity") or 1) for i in items)
    currency = subscription.get("currency")
    payload = {
        **subscription_payload(subscription, plan=plan, interval=interval),
        "trial_end": trial_end,
        "amount_due": amount,
        "currency": currency,
        "card_on_file": _card_on_file(ctx, subscription),
    }
    return [Fact("trial_will_end", f"trial_will_end:{sub_id}:{trial_end}", user_id, sub_id, payload)]


def _card_on_file(ctx: HandlerContext, subscription: dict[str, Any]) -> bool:
    if subscription.get("default_payment_method"):
        return True
    customer_id = id_of(subscription.get("customer"))
    if customer_id is None:
        return False
    try:
        customer = ctx.mirror.reads.read(Kind.CUSTOMER, customer_id).obj
    except StripeError:
        return False
    return bool((customer.get("invoice_settings") or {}).get("default_payment_method"))


HANDLER = EventHandler(refresh_subscription, reads=Kind.SUBSCRIPTION, facts=trial_reminder)
