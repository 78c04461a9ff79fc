"""The subscription schedule attached to a subscription, seen from the operations: what change
waits in it, and letting it go when an operation needs the subscription free of it."""

from __future__ import annotations

from paywire.billing.current import CurrentSubscription
from paywire.billing.errors import BillingUnavailable
from paywire.billing.operations import BillingContext, refresh_after
from paywire.billing.pending_changes import PendingChange, pending_phase, stripe_items
from paywire.catalog import Catalog
from paywire.stripe import StripeUnavailable
from paywire.stripe import idempotency as keys


def waiting_change(catalog: Catalog, cur: CurrentSubscription) -> PendingChange | None:
    """The change waiting in the subscription's schedule, as Stripe holds it now."""
    return pending_phase(catalog, cur.schedule, stripe_items(cur.fresh), cur.period[1] if cur.items else None)


def release(ctx: BillingContext, cur: CurrentSubscription, fingerprint: str, why: str) -> None:
    """Release the attached schedule (the subscription keeps its items, later phases go)."""
    if cur.schedule is None:
        return
    schedule_id = str(cur.schedule["id"])
    try:
        ctx.gateway.release_schedule(
            schedule_id, idempotency_key=keys.subscription_operation(f"release:{why}", cur.id, fingerprint)
        )
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    refresh_after(ctx, cur, f"release:{why}", schedule_id=schedule_id)


def release_spent_schedule(ctx: BillingContext, cur: CurrentSubscription, fingerprint: str) -> None:
    """A schedule whose downgrade already happened stays attached until its last phase ends;
    an immediate change or a cancellation needs the subscription free of it."""
    if cur.schedule is not None and waiting_change(ctx.catalog, cur) is None:
        release(ctx, cur, fingerprint, "spent")
