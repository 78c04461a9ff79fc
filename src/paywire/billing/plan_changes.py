"""Changing plan, interval or seats on an existing subscription, in Cashier's words.

- `swap`: an upgrade takes effect now, prorated to the second and invoiced at once
  (`always_invoice`), billing date unchanged (a longer interval starts a new cycle now, as
  Stripe does: the unused time is credited, the new period charged). With
  `pending_if_incomplete`, a payment that fails or needs authentication leaves the plan as it
  was and an open invoice to pay: the outcome says `requires_payment`/`requires_action` and
  carries its hosted URL; paying it applies the upgrade, leaving it unpaid lets it lapse.
- `schedule_downgrade`: a downgrade waits for the period end in a subscription schedule;
  the user keeps what they paid for until then. `cancel_pending_change` releases it.
- During a trial every change applies at once, with no charge, and the trial keeps its end.

Which change a request is: `paywire.billing.plan_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paywire.billing.current import CurrentSubscription, current_subscription
from paywire.billing.errors import BillingUnavailable, InvalidChoice, SubscriptionConflict
from paywire.billing.lifecycle import Operation, require
from paywire.billing.operations import BillingContext, refresh_after
from paywire.billing.pending_changes import PendingChange
from paywire.billing.plan_items import change_items, new_items, phase_items_now
from paywire.billing.plan_rules import ChangeKind, Target, choose_target, direction, validate_request
from paywire.billing.schedules import release, release_spent_schedule, waiting_change
from paywire.billing.tax import enable_automatic_tax
from paywire.stripe import Kind, StripeUnavailable
from paywire.stripe import idempotency as keys
from paywire.stripe.ids import id_of

# How long a preview's proration date may be confirmed with (seconds of the customer's time).
PRORATION_DATE_MAX_AGE = 3600
# What the user is told when an upgrade waits for its payment, by `ChangeOutcome.status`.
PAYMENT_PENDING_MESSAGES = {
    "requires_payment": "Your payment for the upgrade failed; your plan stays as it is until the invoice is paid.",
    "requires_action": "Your bank asks you to confirm the payment; your plan changes once you have confirmed it.",
}


@dataclass(frozen=True)
class ChangeOutcome:
    kind: ChangeKind
    # changed: in effect now | scheduled: at effective_date | requires_payment /
    # requires_action: not in effect until the invoice at hosted_invoice_url is paid
    status: str
    effective_date: int
    invoice: dict[str, Any] | None = None

    @property
    def waiting_for_payment(self) -> bool:
        """The upgrade is not in effect until its invoice is paid (`PAYMENT_PENDING_MESSAGES`)."""
        return self.status in PAYMENT_PENDING_MESSAGES

    @property
    def hosted_invoice_url(self) -> str | None:
        """Where the user pays (or confirms) the change's invoice."""
        url = (self.invoice or {}).get("hosted_invoice_url")
        return url if isinstance(url, str) else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "change": self.kind.value,
            "status": self.status,
            "effective_date": self.effective_date,
            "invoice": self.invoice,
        }


@dataclass(frozen=True)
class PlannedChange:
    """A change request checked against the subscription as Stripe holds it now."""

    cur: CurrentSubscription
    target: Target
    kind: ChangeKind

    @property
    def immediate(self) -> bool:
        return self.kind is ChangeKind.UPGRADE or self.cur.trialing


def plan_change(
    ctx: BillingContext,
    *,
    user_id: str,
    plan: str | None,
    interval: str | None,
    quantity: int | None,
    subscription_id: str | None = None,
) -> PlannedChange:
    """Every check a change must pass, made before anything is written to Stripe."""
    validate_request(ctx.catalog, plan=plan, interval=interval, quantity=quantity)
    cur = current_subscription(
        ctx.session, ctx.gateway, ctx.catalog, ctx.settings, user_id=user_id, subscription_id=subscription_id
    )
    require(cur.facts, Operation.CHANGE_PLAN)
    if cur.fresh.get("pending_update"):
        raise SubscriptionConflict(
            "An upgrade is waiting for its payment; pay its invoice or let it lapse first.",
            code="payment_pending",
        )
    target = choose_target(
        ctx.catalog,
        plan=plan,
        interval=interval,
        quantity=quantity,
        current_plan=cur.plan.key if cur.plan else None,
        current_quantity=cur.quantity,
    )
    if cur.plan is not None and cur.plan.marketplace != target.plan.marketplace:
        # A seller's plan is paid to its seller (`transfer_data`): not a change to or from one.
        raise InvalidChoice(
            "A seller's plan and the platform's plans cannot be switched between: cancel, then subscribe.",
            field="plan",
        )
    kind = direction(cur.plan, cur.interval, cur.quantity, target)
    waiting = waiting_change(ctx.catalog, cur)
    if waiting is not None:
        raise SubscriptionConflict(
            f"A change to {waiting.plan} ({waiting.interval}ly, {waiting.quantity}) is already scheduled for "
            "the period end; cancel it first (POST /api/subscription/pending-change/cancel).",
            code="change_pending",
            field="plan",
        )
    return PlannedChange(cur, target, kind)


def change_plan(
    ctx: BillingContext,
    *,
    user_id: str,
    plan: str | None,
    interval: str | None,
    quantity: int | None = None,
    proration_date: int | None = None,
    subscription_id: str | None = None,
) -> ChangeOutcome:
    """Upgrade now or downgrade at the period end, whichever the request is."""
    planned = plan_change(
        ctx, user_id=user_id, plan=plan, interval=interval, quantity=quantity, subscription_id=subscription_id
    )
    if planned.immediate:
        return swap(ctx, planned, proration_date=proration_date)
    return schedule_downgrade(ctx, planned)


def checked_proration_date(cur: CurrentSubscription, proration_date: int | None) -> int:
    """The moment prorations are computed at: the one a preview showed, if the user confirms
    it soon after (within the current period), else now. The date comes from the client, so it
    is bounded: an older one would credit time already used on a change that starts a new
    cycle (monthly → yearly), an amount chosen by the client."""
    if proration_date is None:
        return cur.now
    start, _ = cur.period
    if not max(start, cur.now - PRORATION_DATE_MAX_AGE) <= proration_date <= cur.now:
        raise InvalidChoice(
            "proration_date must be the preview's, confirmed within an hour and in the current period; "
            "preview the change again.",
            field="proration_date",
        )
    return proration_date


def swap(ctx: BillingContext, planned: PlannedChange, *, proration_date: int | None = None) -> ChangeOutcome:
    """Move the subscription to the target now (an upgrade, or any change during a trial)."""
    cur, target = planned.cur, planned.target
    at = checked_proration_date(cur, proration_date)
    fingerprint = cur.fingerprint()
    price_id = ctx.prices.price_id_for(target.lookup_key)
    items = change_items(ctx.catalog, ctx.prices, cur.items, target)
    try:
        release_spent_schedule(ctx, cur, fingerprint)
        if cur.trialing:
            # Nothing is paid during a trial, so nothing to prorate; the trial keeps its end.
            params: dict[str, Any] = {
                "items": items,
                "proration_behavior": "none",
                "trial_end": cur.fresh["trial_end"],
            }
        else:
            enable_automatic_tax(ctx, cur, fingerprint)
            params = {
                "items": items,
                "proration_behavior": "always_invoice",
                "payment_behavior": "pending_if_incomplete",
                "proration_date": at,
            }
        updated = ctx.gateway.update_subscription(
            cur.id,
            params,
            idempotency_key=keys.subscription_operation(
                "swap", cur.id, fingerprint, f"{price_id}:{target.quantity}:{at}"
            ),
        )
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; nothing was changed. Try again.") from exc
    invoice_id = id_of(updated.get("latest_invoice"))
    new_invoice = invoice_id if invoice_id != id_of(cur.fresh.get("latest_invoice")) else None
    refresh_after(ctx, cur, "swap", invoice_id=new_invoice)
    invoice = describe_invoice(ctx, new_invoice) if new_invoice else None
    if updated.get("pending_update"):
        status = (
            "requires_action" if invoice and invoice.get("payment_status") == "requires_action" else "requires_payment"
        )
        return ChangeOutcome(planned.kind, status, at, invoice)
    return ChangeOutcome(planned.kind, "changed", at, invoice)


def schedule_downgrade(ctx: BillingContext, planned: PlannedChange) -> ChangeOutcome:
    """Put the target in a schedule phase starting at the period end."""
    cur, target = planned.cur, planned.target
    fingerprint = cur.fingerprint()
    price_id = ctx.prices.price_id_for(target.lookup_key)
    _, period_end = cur.period
    try:
        schedule = cur.schedule or ctx.gateway.create_schedule_from_subscription(
            cur.id, idempotency_key=keys.subscription_operation("schedule", cur.id, fingerprint)
        )
        current_phase = schedule.get("current_phase") or {}
        phases = [
            {
                "items": phase_items_now(cur.items),
                "start_date": current_phase.get("start_date") or cur.period[0],
                "end_date": period_end,
                "proration_behavior": "none",
            },
            {
                "items": new_items(ctx.catalog, ctx.prices, target),
                "iterations": 1,
                "proration_behavior": "none",
                "metadata": {"paywire_plan": target.plan.key, "paywire_interval": target.interval},
            },
        ]
        ctx.gateway.update_schedule(
            str(schedule["id"]),
            {"phases": phases, "end_behavior": "release"},
            idempotency_key=keys.subscription_operation(
                "schedule_downgrade", cur.id, fingerprint, f"{price_id}:{target.quantity}"
            ),
        )
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    refresh_after(ctx, cur, "schedule_downgrade", schedule_id=str(schedule["id"]))
    return ChangeOutcome(planned.kind, "scheduled", period_end)


def cancel_pending_change(ctx: BillingContext, *, user_id: str, subscription_id: str | None = None) -> PendingChange:
    """Undo a downgrade scheduled for the period end: the schedule is released, and the
    subscription renews as it is. Returns the change that was dropped."""
    cur = current_subscription(
        ctx.session, ctx.gateway, ctx.catalog, ctx.settings, user_id=user_id, subscription_id=subscription_id
    )
    require(cur.facts, Operation.CANCEL_PENDING_CHANGE)
    waiting = waiting_change(ctx.catalog, cur)
    if waiting is None or cur.schedule is None:
        raise SubscriptionConflict("No plan change is scheduled.", code="no_pending_change")
    release(ctx, cur, cur.fingerprint(), "cancel_pending_change")
    return waiting


def describe_invoice(ctx: BillingContext, invoice_id: str) -> dict[str, Any]:
    """The invoice a change produced, as the user needs it: what it cost, whether it is paid,
    and where to pay it if not (with the payment's state, to tell a decline from 3-D Secure)."""
    invoice = ctx.gateway.retrieve(Kind.INVOICE, invoice_id)
    payment_status = None
    if invoice.get("status") == "open":
        for payment in ctx.gateway.list_invoice_payments(invoice_id):
            intent_id = id_of((payment.get("payment") or {}).get("payment_intent"))
            if intent_id:
                payment_status = ctx.gateway.retrieve(Kind.PAYMENT_INTENT, intent_id).get("status")
    return {
        "id": invoice["id"],
        "status": invoice.get("status"),
        "currency": invoice.get("currency"),
        "total": invoice.get("total"),
        "amount_due": invoice.get("amount_due"),
        "amount_paid": invoice.get("amount_paid"),
        "hosted_invoice_url": invoice.get("hosted_invoice_url"),
        "payment_status": payment_status,
    }
