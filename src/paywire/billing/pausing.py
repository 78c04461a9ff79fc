"""Pausing a subscription: no access and no charges while paused, everything kept.

Stripe's `pause` where it is allowed; a subscription managed by a schedule (a downgrade
waiting for the period end) cannot be paused that way, so it gets `pause_collection`
instead (its invoices are voided while paused), which the lifecycle counts as paused too.

`pause` gives back the unused time of the period as a credit; `unpause` starts a new billing
cycle at once and charges it, less that credit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paywire.billing.current import current_subscription
from paywire.billing.errors import BillingUnavailable
from paywire.billing.lifecycle import Operation, require
from paywire.billing.operations import BillingContext, refresh_after
from paywire.stripe import StripeUnavailable
from paywire.stripe import idempotency as keys


@dataclass(frozen=True)
class PauseOutcome:
    status: str  # Stripe's status afterwards
    how: str  # "pause" | "pause_collection"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "how": self.how}


def pause(ctx: BillingContext, *, user_id: str, subscription_id: str | None = None) -> PauseOutcome:
    cur = current_subscription(
        ctx.session, ctx.gateway, ctx.catalog, ctx.settings, user_id=user_id, subscription_id=subscription_id
    )
    require(cur.facts, Operation.PAUSE)
    key = keys.subscription_operation("pause", cur.id, cur.fingerprint())
    try:
        if cur.schedule is not None:
            updated = ctx.gateway.update_subscription(
                cur.id, {"pause_collection": {"behavior": "void"}}, idempotency_key=key
            )
            how = "pause_collection"
        else:
            updated = ctx.gateway.pause_subscription(cur.id, idempotency_key=key)
            how = "pause"
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    refresh_after(ctx, cur, "pause")
    return PauseOutcome(str(updated.get("status")), how)


def unpause(ctx: BillingContext, *, user_id: str, subscription_id: str | None = None) -> PauseOutcome:
    cur = current_subscription(
        ctx.session, ctx.gateway, ctx.catalog, ctx.settings, user_id=user_id, subscription_id=subscription_id
    )
    require(cur.facts, Operation.UNPAUSE)
    key = keys.subscription_operation("unpause", cur.id, cur.fingerprint())
    try:
        if cur.fresh.get("status") == "paused":
            updated = ctx.gateway.unpause_subscription(cur.id, idempotency_key=key)
            how = "pause"
        else:
            updated = ctx.gateway.update_subscription(cur.id, {"pause_collection": ""}, idempotency_key=key)
            how = "pause_collection"
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    latest = updated.get("latest_invoice")
    latest_id = latest.get("id") if isinstance(latest, dict) else latest
    refresh_after(ctx, cur, "unpause", invoice_id=latest_id if isinstance(latest_id, str) else None)
    return PauseOutcome(str(updated.get("status")), how)
