"""The next invoice of a subscription, as Stripe would issue it: its date and amount (and how
much of it is a hybrid plan's metered usage so far).

Asked of Stripe (`invoices.create_preview`), never computed here, so discounts, tax and
pending prorations are in it. A change waiting for the period end (a downgrade) is previewed
at its new price: that is what the renewal will charge. A subscription set to cancel, paused
or ended has no next invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paywire.billing.lifecycle import LifecycleState
from paywire.billing.pending_changes import PendingChange
from paywire.billing.prices import PriceBook
from paywire.catalog import Catalog
from paywire.db.models import Subscription
from paywire.stripe import StripeGateway

# States whose subscription renews, so a next invoice is expected.
RENEWING_STATES = frozenset({LifecycleState.ACTIVE, LifecycleState.TRIALING, LifecycleState.PAST_DUE})


@dataclass(frozen=True)
class UpcomingInvoice:
    date: int | None
    amount: int
    currency: str
    usage_amount: int = 0  # of which metered usage (a hybrid plan's, billed in arrears)


def upcoming_invoice(
    gateway: StripeGateway,
    catalog: Catalog,
    prices: PriceBook,
    subscription: Subscription,
    state: LifecycleState,
    pending: PendingChange | None = None,
    *,
    automatic_tax: bool = False,
) -> UpcomingInvoice | None:
    """The subscription's next invoice (None when it will not renew). Reads Stripe: raises
    `StripeError` when Stripe does not answer, for the caller to say so."""
    if state not in RENEWING_STATES:
        return None
    params: dict[str, Any] = {"customer": subscription.stripe_customer_id, "subscription": subscription.id}
    date = subscription.current_period_end
    if pending is not None and pending.plan is not None and pending.interval is not None:
        new_price = _pending_price(catalog, prices, pending)
        if new_price is not None and pending.interval == subscription.interval and subscription.items:
            item = {"id": _flat_item_id(catalog, subscription), "price": new_price, "quantity": pending.quantity}
            params["subscription_details"] = {"items": [item], "proration_behavior": "none"}
        elif new_price is not None:
            # A new interval starts a cycle of its own: its first invoice is the new price alone.
            params = {
                "customer": subscription.stripe_customer_id,
                "subscription_details": {"items": [{"price": new_price, "quantity": pending.quantity}]},
            }
            if automatic_tax:
                params["automatic_tax"] = {"enabled": True}
        date = pending.effective_date
    preview = gateway.preview_invoice(params)
    if date is None:
        date = preview.get("period_end") or preview.get("next_payment_attempt")
    return UpcomingInvoice(
        date=int(date) if date is not None else None,
        amount=int(preview.get("amount_due") or 0),
        currency=str(preview.get("currency") or catalog.currency),
        usage_amount=_usage_amount(catalog, preview),
    )


def _flat_item_id(catalog: Catalog, subscription: Subscription) -> str:
    """The item of the plan's flat price (a hybrid plan's others are metered)."""
    meters = {meter.product_id for meter in catalog.meters.values()}
    return next((i.id for i in subscription.items if i.product_id not in meters), subscription.items[0].id)


def _usage_amount(catalog: Catalog, preview: dict[str, Any]) -> int:
    """What the preview charges for metered usage: its lines on a meter's product."""
    meters = {meter.product_id for meter in catalog.meters.values()}
    total = 0
    for line in (preview.get("lines") or {}).get("data") or []:
        details = (line.get("pricing") or {}).get("price_details") or {}
        if details.get("product") in meters:
            total += int(line.get("amount") or 0)
    return total


def _pending_price(catalog: Catalog, prices: PriceBook, pending: PendingChange) -> str | None:
    plan = catalog.plan(pending.plan or "")
    if plan is None or pending.interval not in plan.prices:
        return None
    return prices.price_id_for(plan.lookup_key(pending.interval))
