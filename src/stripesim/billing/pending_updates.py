"""Stripe's `payment_behavior=pending_if_incomplete`: a change waits as `pending_update` until
its invoice is paid (then it applies) or 23 hours pass (then it expires)."""

from __future__ import annotations

from typing import Any

from stripesim.billing import invoices
from stripesim.billing.change_plans import Plan, apply_plan
from stripesim.billing.subscription_items import ItemSpec
from stripesim.ids import new_id
from stripesim.state import Record, State

PENDING_UPDATE_S = 23 * 3600


def hold_until_paid(state: State, sub: Record, plan: Plan, invoice: Record) -> None:
    """Stripe's `pending_if_incomplete`: the change waits for the invoice to be paid."""
    invoices.create(state, invoice)
    sub["latest_invoice"] = invoice["id"]
    sub["_pending_plan"] = _plan_to_json(plan)
    sub["_pending_invoice"] = invoice["id"]
    invoices.finalize(state, invoice)
    if invoice["status"] == "open":
        invoices.attempt(state, invoice)
    if sub.get("_pending_invoice") == invoice["id"]:
        sub["pending_update"] = {
            "billing_cycle_anchor": plan.at if plan.reset_anchor else None,
            "cancel_at_period_end": None,
            "discount": None,
            "discounts": None,
            "expires_at": plan.at + PENDING_UPDATE_S,
            "metadata": None,
            "subscription_items": [_pending_item(state, sub, s) for s in plan.final],
            "trial_end": None,
            "trial_from_plan": None,
        }


def _pending_item(state: State, sub: Record, spec: ItemSpec) -> Record:
    """The subscription item as it will be once the update applies (shown whole, as Stripe does;
    the subscription's renderer embeds its price)."""
    current = state.find(spec.item_id, "subscription_item") if spec.item_id else None
    template = current or state.get(sub["_items"][0], "subscription_item")
    item = {k: v for k, v in template.items() if k[:1] != "_"}
    item.update(price=spec.price["id"], quantity=spec.quantity, metadata=dict(spec.metadata or {}))
    if current is None:
        item.update(id=new_id("si"), created=state.now_for(sub), discounts=[])
    return item


def _plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "final": [
            {"price": s.price["id"], "quantity": s.quantity, "metadata": s.metadata, "item_id": s.item_id}
            for s in plan.final
        ],
        "removed": plan.removed,
        "reset_anchor": plan.reset_anchor,
        "at": plan.at,
    }


def apply_pending_update(state: State, sub: Record) -> None:
    data = sub.pop("_pending_plan", None)
    sub.pop("_pending_invoice", None)
    if data is None:
        return
    plan = Plan(
        final=[
            ItemSpec(state.get(f["price"], "price"), f["quantity"], f["metadata"], f["item_id"]) for f in data["final"]
        ],
        removed=data["removed"],
        reset_anchor=data["reset_anchor"],
        at=data["at"],
        items_changed=True,
    )
    if sub.get("pending_update") is None:
        # Paid at once: the update was never pending in Stripe's eyes, and the update request
        # that made it announces the change (one `customer.subscription.updated`).
        _apply(state, sub, plan)
        return
    with state.changing(sub):
        _apply(state, sub, plan)
    state.emit("customer.subscription.pending_update_applied", sub)


def _apply(state: State, sub: Record, plan: Plan) -> None:
    apply_plan(state, sub, plan)
    sub["pending_update"] = None
    if sub["status"] in ("past_due", "unpaid", "incomplete"):
        sub["status"] = "active"


def expire_pending_update(state: State, sub: Record) -> None:
    invoice = state.find(sub.pop("_pending_invoice", None), "invoice")
    sub.pop("_pending_plan", None)
    if invoice is not None and invoice["status"] == "open":
        invoices.void(state, invoice)
    with state.changing(sub):
        sub["pending_update"] = None
    state.emit("customer.subscription.pending_update_expired", sub)
