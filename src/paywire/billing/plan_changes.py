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

Which is which (`direction`): a higher-ranked plan is an upgrade, a lower one a downgrade;
on the same plan a yearly interval is an upgrade from monthly (paid now), monthly a
downgrade from yearly; then more seats are an upgrade, fewer a downgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from paywire.billing.checkout import SubscriptionChoice, choose
from paywire.billing.current import CurrentSubscription, current_subscription
from paywire.billing.errors import BillingUnavailable, InvalidChoice, PlanNotFound, SubscriptionConflict
from paywire.billing.lifecycle import Operation, require
from paywire.billing.operations import BillingContext, refresh_after
from paywire.catalog import Catalog, Plan
from paywire.stripe import StripeUnavailable
from paywire.stripe import idempotency as keys

INTERVAL_RANK = {"month": 0, "year": 1}
# How long a preview's proration date may be confirmed with (seconds of the customer's time).
PRORATION_DATE_MAX_AGE = 3600
# What the user is told when an upgrade waits for its payment, by `ChangeOutcome.status`.
PAYMENT_PENDING_MESSAGES = {
    "requires_payment": "The payment for the upgrade failed; the plan is unchanged until the invoice is paid.",
    "requires_action": "The bank asks the cardholder to confirm the payment; the plan changes once it is paid.",
}


class ChangeKind(StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


@dataclass(frozen=True)
class Target:
    plan: Plan
    interval: str
    quantity: int

    @property
    def lookup_key(self) -> str:
        return self.plan.lookup_key(self.interval)

    def describe(self) -> str:
        seats = f" × {self.quantity}" if self.plan.per_seat else ""
        return f"{self.plan.name} ({self.interval}ly{seats})"


@dataclass(frozen=True)
class PendingPhase:
    """A change waiting in the subscription's schedule."""

    plan: str | None
    interval: str | None
    quantity: int
    effective_date: int


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


# ----- pure rules ------------------------------------------------------------------------------
def validate_request(catalog: Catalog, *, plan: str | None, interval: str | None, quantity: int | None) -> None:
    """The catalog checks that need no subscription: before anything is read from Stripe."""
    if not plan:
        raise PlanNotFound("Name the plan to change to.")
    choose(catalog, plan=plan, interval=interval, quantity=1 if quantity is None else quantity)


def choose_target(
    catalog: Catalog,
    *,
    plan: str | None,
    interval: str | None,
    quantity: int | None,
    current_plan: str | None,
    current_quantity: int,
) -> Target:
    """What the user asks for, checked against the catalog. Seats default to the current
    count when staying on a per-seat plan, else to one."""
    validate_request(catalog, plan=plan, interval=interval, quantity=quantity)
    if quantity is None:
        found = catalog.plan(str(plan))
        quantity = current_quantity if found is not None and found.per_seat and plan == current_plan else 1
    choice = choose(catalog, plan=plan, interval=interval, quantity=quantity)
    if not isinstance(choice, SubscriptionChoice):  # pragma: no cover - choose returns plans for plans
        raise InvalidChoice("Name a plan.", field="plan")
    return Target(choice.plan, choice.interval, choice.quantity)


def direction(
    current_plan: Plan | None, current_interval: str | None, current_quantity: int, target: Target
) -> ChangeKind:
    """Upgrade or downgrade (see the module docstring). Raises for the current plan itself."""
    same_plan = current_plan is not None and current_plan.key == target.plan.key
    if same_plan and current_interval == target.interval and current_quantity == target.quantity:
        raise SubscriptionConflict(f"You are already on {target.describe()}.", code="already_on_plan", field="plan")
    if current_plan is None:
        return ChangeKind.UPGRADE  # an unknown (legacy) price: anything in the catalog is a move up
    if not same_plan:
        return ChangeKind.UPGRADE if target.plan.rank > current_plan.rank else ChangeKind.DOWNGRADE
    if current_interval != target.interval:
        before = INTERVAL_RANK.get(current_interval or "", 0)
        return ChangeKind.UPGRADE if INTERVAL_RANK[target.interval] > before else ChangeKind.DOWNGRADE
    return ChangeKind.UPGRADE if target.quantity > current_quantity else ChangeKind.DOWNGRADE


def pending_phase(catalog: Catalog, cur: CurrentSubscription) -> PendingPhase | None:
    """The change waiting in the attached schedule: a phase starting at or after the current
    period's end whose items differ from the subscription's."""
    if cur.schedule is None or cur.schedule.get("status") not in ("active", "not_started"):
        return None
    from paywire.events.mirror import plan_of

    now_items = sorted(((i.get("price") or {}).get("id"), int(i.get("quantity") or 1)) for i in cur.items)
    period_end = cur.period[1]
    for phase in cur.schedule.get("phases") or []:
        start = phase.get("start_date")
        if start is None or start < period_end:
            continue
        items = phase.get("items") or []
        wanted = sorted((_price_id(i.get("price")), int(i.get("quantity") or 1)) for i in items)
        if wanted == now_items:
            continue
        prices = [{"price": i["price"]} for i in items if isinstance(i.get("price"), dict)]
        plan, interval = plan_of(catalog, {"items": {"data": prices}})
        return PendingPhase(plan, interval, sum(int(i.get("quantity") or 1) for i in items) or 1, int(start))
    return None


def _price_id(price: Any) -> str | None:
    if isinstance(price, dict):
        return price.get("id")
    return price if isinstance(price, str) else None


# ----- operations ------------------------------------------------------------------------------
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
    kind = direction(cur.plan, cur.interval, cur.quantity, target)
    waiting = pending_phase(ctx.catalog, cur)
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
    item = {"id": cur.item["id"], "price": price_id, "quantity": target.quantity}
    try:
        release_spent_schedule(ctx, cur, fingerprint)
        if cur.trialing:
            # Nothing is paid during a trial, so nothing to prorate; the trial keeps its end.
            params: dict[str, Any] = {
                "items": [item],
                "proration_behavior": "none",
                "trial_end": cur.fresh["trial_end"],
            }
        else:
            enable_automatic_tax(ctx, cur, fingerprint)
            params = {
                "items": [item],
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
    invoice_id = _id(updated.get("latest_invoice"))
    new_invoice = invoice_id if invoice_id != _id(cur.fresh.get("latest_invoice")) else None
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
                "items": [
                    {"price": (i.get("price") or {}).get("id"), "quantity": int(i.get("quantity") or 1)}
                    for i in cur.items
                ],
                "start_date": current_phase.get("start_date") or cur.period[0],
                "end_date": period_end,
                "proration_behavior": "none",
            },
            {
                "items": [{"price": price_id, "quantity": target.quantity}],
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


def cancel_pending_change(ctx: BillingContext, *, user_id: str, subscription_id: str | None = None) -> PendingPhase:
    """Undo a downgrade scheduled for the period end: the schedule is released, and the
    subscription renews as it is. Returns the change that was dropped."""
    cur = current_subscription(
        ctx.session, ctx.gateway, ctx.catalog, ctx.settings, user_id=user_id, subscription_id=subscription_id
    )
    require(cur.facts, Operation.CANCEL_PENDING_CHANGE)
    waiting = pending_phase(ctx.catalog, cur)
    if waiting is None or cur.schedule is None:
        raise SubscriptionConflict("No plan change is scheduled.", code="no_pending_change")
    release(ctx, cur, cur.fingerprint(), "cancel_pending_change")
    return waiting


# ----- steps shared with other operations ------------------------------------------------------
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
    if cur.schedule is not None and pending_phase(ctx.catalog, cur) is None:
        release(ctx, cur, fingerprint, "spent")


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


def describe_invoice(ctx: BillingContext, invoice_id: str) -> dict[str, Any]:
    """The invoice a change produced, as the user needs it: what it cost, whether it is paid,
    and where to pay it if not (with the payment's state, to tell a decline from 3-D Secure)."""
    invoice = ctx.gateway.retrieve_invoice(invoice_id)
    payment_status = None
    if invoice.get("status") == "open":
        for payment in ctx.gateway.list_invoice_payments(invoice_id):
            intent_id = _id((payment.get("payment") or {}).get("payment_intent"))
            if intent_id:
                payment_status = ctx.gateway.retrieve_payment_intent(intent_id).get("status")
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


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None
