"""Tax on the invoices of subscription changes, when the settings ask for it."""

from __future__ import annotations

from paywire.billing.current import CurrentSubscription
from paywire.billing.operations import BillingContext
from paywire.stripe import idempotency as keys


def enable_automatic_tax(ctx: BillingContext, cur: CurrentSubscription, fingerprint: str) -> None:
    """Tax on the change's invoice when configured. A separate update: Stripe takes only item
    changes together with `pending_if_incomplete`."""
    if not ctx.settings.automatic_tax or (cur.fresh.get("automatic_tax") or {}).get("enabled"):
        return
    ctx.gateway.update_subscription(
        cur.id,
        {"automatic_tax": {"enabled": True}},
        idempotency_key=keys.subscription_operation("automatic_tax", cur.id, fingerprint),
    )
