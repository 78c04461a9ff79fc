"""Ending a subscription: at the period end (`cancel`, undone by `reactivate`/`resume`), or at
once by an admin (`cancel_now`), optionally refunding the unused time.

`cancel` keeps access until the period end: the user paid for it. A change scheduled for the
period end is dropped with it (the subscription will not renew into it); Stripe refuses to set
a cancellation on a subscription a schedule manages, so the schedule is released first.

`cancel_now` with a refund: Stripe computes the credit for the unused time (`prorate`), which
paywire pays back from the subscription's latest payments (newest first, never more than was
paid and not yet refunded), then removes the credit so it is not also given on a later invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paywire.billing.current import CurrentSubscription, current_subscription
from paywire.billing.errors import AdminOnly, BillingUnavailable
from paywire.billing.lifecycle import Operation, require
from paywire.billing.operations import BillingContext, refresh_after
from paywire.billing.schedules import release, waiting_change
from paywire.stripe import StripeUnavailable
from paywire.stripe import idempotency as keys
from paywire.stripe.ids import id_of


@dataclass(frozen=True)
class CancelOutcome:
    status: str  # "cancel_pending" | "canceled" | "active" | "trialing"
    ends_at: int | None
    refunded: int = 0
    credit: int = 0
    dropped_pending_change: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ends_at": self.ends_at,
            "refunded": self.refunded,
            "credit": self.credit,
            "dropped_pending_change": self.dropped_pending_change,
        }


def _current(ctx: BillingContext, user_id: str, subscription_id: str | None) -> CurrentSubscription:
    return current_subscription(
        ctx.session, ctx.gateway, ctx.catalog, ctx.settings, user_id=user_id, subscription_id=subscription_id
    )


def cancel(ctx: BillingContext, *, user_id: str, subscription_id: str | None = None) -> CancelOutcome:
    """Cancel at the period end; access continues until then."""
    cur = _current(ctx, user_id, subscription_id)
    require(cur.facts, Operation.CANCEL)
    fingerprint = cur.fingerprint()
    had_schedule = cur.schedule is not None
    dropped = waiting_change(ctx.catalog, cur) is not None
    release(ctx, cur, fingerprint, "cancel")
    try:
        updated = ctx.gateway.update_subscription(
            cur.id,
            {"cancel_at_period_end": True},
            idempotency_key=keys.subscription_operation("cancel", cur.id, fingerprint),
        )
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    refresh_after(ctx, cur, "cancel", schedule_id=str(cur.schedule["id"]) if had_schedule and cur.schedule else None)
    return CancelOutcome("cancel_pending", updated.get("cancel_at") or cur.period[1], dropped_pending_change=dropped)


def reactivate(ctx: BillingContext, *, user_id: str, subscription_id: str | None = None) -> CancelOutcome:
    """Undo `cancel` before the period ends: the subscription renews again."""
    cur = _current(ctx, user_id, subscription_id)
    require(cur.facts, Operation.REACTIVATE)
    params: dict[str, Any] = {"cancel_at_period_end": False}
    if cur.fresh.get("cancel_at") and not cur.fresh.get("cancel_at_period_end"):
        params = {"cancel_at": ""}  # a cancellation set for a date, e.g. in the dashboard
    try:
        updated = ctx.gateway.update_subscription(
            cur.id, params, idempotency_key=keys.subscription_operation("reactivate", cur.id, cur.fingerprint())
        )
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    refresh_after(ctx, cur, "reactivate")
    return CancelOutcome(str(updated.get("status")), None)


# Laravel Cashier's word for the same thing.
resume = reactivate


def cancel_now(
    ctx: BillingContext,
    *,
    admin_user_id: str,
    user_id: str,
    refund: bool = False,
    subscription_id: str | None = None,
) -> CancelOutcome:
    """End `user_id`'s subscription at once (admins only), refunding the unused time if asked."""
    if admin_user_id not in ctx.settings.admin_users:
        raise AdminOnly("Only an admin may cancel a subscription immediately.")
    cur = _current(ctx, user_id, subscription_id)
    require(cur.facts, Operation.CANCEL_NOW)
    fingerprint = cur.fingerprint()
    try:
        # A paused subscription's unused time was credited when it paused: crediting it
        # again at cancel would refund it twice.
        ctx.gateway.cancel_subscription(
            cur.id,
            prorate=refund and cur.fresh.get("status") != "paused",
            invoice_now=False,
            idempotency_key=keys.subscription_operation("cancel_now", cur.id, fingerprint, f"refund={refund}"),
        )
        credit, refunded = _refund_unused_time(ctx, cur) if refund else (0, 0)
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    refresh_after(ctx, cur, "cancel_now", schedule_id=str(cur.schedule["id"]) if cur.schedule else None)
    return CancelOutcome("canceled", cur.now, refunded=refunded, credit=credit)


def _refund_unused_time(ctx: BillingContext, cur: CurrentSubscription) -> tuple[int, int]:
    """Pay the subscription's pending credit back to the card it came from. (credit, refunded)"""
    credits = [
        item
        for item in ctx.gateway.list_pending_invoice_items(cur.customer.stripe_customer_id)
        if int(item.get("amount") or 0) < 0 and _subscription_of_item(item) == cur.id
    ]
    credit = -sum(int(item["amount"]) for item in credits)
    remaining = credit
    refunded = 0
    for invoice in ctx.gateway.list_invoices_of_subscription(cur.id, status="paid"):
        if remaining <= 0:
            break
        for payment in ctx.gateway.list_invoice_payments(str(invoice["id"])):
            intent_id = id_of((payment.get("payment") or {}).get("payment_intent"))
            if not intent_id or payment.get("status") != "paid":
                continue
            already = sum(int(r.get("amount") or 0) for r in ctx.gateway.list_refunds_of_payment(intent_id))
            refundable = int(payment.get("amount_paid") or 0) - already
            amount = min(remaining, refundable)
            if amount <= 0:
                continue
            ctx.gateway.create_refund(
                payment_intent_id=intent_id,
                amount=amount,
                user_id=cur.user_id,
                reason="unused_time",
                idempotency_key=keys.refund(cur.id, intent_id, amount),
            )
            remaining -= amount
            refunded += amount
            if remaining <= 0:
                break
    for item in credits:
        # Paid back in money: the same credit must not also reduce a later invoice.
        ctx.gateway.delete_invoice_item(str(item["id"]))
    return credit, refunded


def _subscription_of_item(item: dict[str, Any]) -> str | None:
    parent = item.get("parent") or {}
    return id_of((parent.get("subscription_details") or {}).get("subscription"))
