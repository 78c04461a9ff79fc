"""What a change to a subscription's items will do, worked out before anything changes (the
final item set, prorations to the second as in flexible billing mode, a cycle reset), and
making the new item set the subscription's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stripesim.billing.periods import period_end
from stripesim.billing.pricing import amount_for, prorated
from stripesim.billing.prorations import time_label
from stripesim.billing.subscription_items import (
    Charge,
    ItemSpec,
    add_period_lines,
    is_metered,
    items_of,
    new_item,
    period_of,
    validate_items,
)
from stripesim.errors import InvalidRequest
from stripesim.state import Record, State


@dataclass
class ItemChange:
    """One entry of `items[]` on an update."""

    item_id: str | None = None
    price: Record | None = None
    quantity: int | None = None
    deleted: bool = False
    metadata: dict[str, str] | None = None


@dataclass
class Plan:
    """What an update will do, computed before anything changes."""

    final: list[ItemSpec]
    removed: list[str]
    prorations: list[dict[str, Any]] = field(default_factory=list)
    reset_anchor: bool = False
    at: int = 0
    items_changed: bool = False

    def charges(self) -> list[Charge]:
        return [(spec.price, spec.quantity, spec.item_id) for spec in self.final]


def plan_change(
    state: State,
    sub: Record,
    changes: list[ItemChange],
    *,
    at: int,
    proration_behavior: str,
    anchor_now: bool = False,
) -> Plan:
    current = {item["id"]: item for item in items_of(state, sub)}
    final: dict[str, ItemSpec] = {
        iid: ItemSpec(state.get(item["price"], "price"), item["quantity"], dict(item["metadata"]), iid)
        for iid, item in current.items()
    }
    new_specs: list[ItemSpec] = []
    removed: list[str] = []
    for i, change in enumerate(changes):
        if change.item_id:
            if change.item_id not in current:
                raise InvalidRequest(
                    f"No such subscription item: '{change.item_id}' on this subscription.",
                    param=f"items[{i}][id]",
                    code="resource_missing",
                )
            if change.deleted:
                removed.append(change.item_id)
                final.pop(change.item_id, None)
                continue
            spec = final[change.item_id]
            if change.price is not None:
                spec.price = change.price
            if change.quantity is not None:
                spec.quantity = change.quantity
            if change.metadata is not None:
                spec.metadata = change.metadata
        else:
            if change.price is None:
                raise InvalidRequest(
                    f"Missing required param: items[{i}][price].",
                    param=f"items[{i}][price]",
                    code="parameter_missing",
                )
            new_specs.append(ItemSpec(change.price, change.quantity or 1, change.metadata or {}))
    specs = list(final.values()) + new_specs
    validate_items(state, specs)
    for spec in specs:
        if not is_metered(spec.price) and (spec.quantity or 0) < 0:
            raise InvalidRequest("Invalid quantity: must be at least 0.", param="items")
    plan = Plan(final=specs, removed=removed, at=at)
    old_interval = _interval_of(state, list(current.values()))
    new_interval = (specs[0].price["recurring"]["interval"], specs[0].price["recurring"].get("interval_count") or 1)
    # A trial keeps its end; otherwise a new interval starts a new cycle now, as on Stripe.
    plan.reset_anchor = sub["status"] != "trialing" and (anchor_now or old_interval != new_interval)
    plan.items_changed = bool(removed or new_specs) or any(
        (s.price["id"], s.quantity) != (current[s.item_id]["price"], current[s.item_id]["quantity"])
        for s in specs
        if s.item_id
    )
    start, end = period_of(sub)
    nothing_to_prorate = not plan.items_changed and not plan.reset_anchor
    if sub["status"] == "trialing" or proration_behavior == "none" or nothing_to_prorate:
        return plan
    for iid, item in current.items():
        old_price = state.get(item["price"], "price")
        if is_metered(old_price):
            continue
        kept = final.get(iid)
        unchanged = kept is not None and (kept.price["id"], kept.quantity) == (old_price["id"], item["quantity"])
        if unchanged and not plan.reset_anchor:
            continue
        credit = prorated(amount_for(old_price, item["quantity"]), start, end, at)
        if credit:
            plan.prorations.append(
                _proration(
                    old_price,
                    item["quantity"],
                    -credit,
                    time_label("Unused", state, old_price, item["quantity"], at),
                    at,
                    end,
                    iid,
                )
            )
    if plan.reset_anchor:
        return plan
    for spec in specs:
        if is_metered(spec.price):
            continue
        if spec.item_id:
            old = current[spec.item_id]
            if (spec.price["id"], spec.quantity) == (old["price"], old["quantity"]):
                continue
        debit = prorated(amount_for(spec.price, spec.quantity or 1), start, end, at)
        if debit:
            plan.prorations.append(
                _proration(
                    spec.price,
                    spec.quantity,
                    debit,
                    time_label("Remaining", state, spec.price, spec.quantity, at),
                    at,
                    end,
                    spec.item_id,
                )
            )
    return plan


def _interval_of(state: State, items: list[Record]) -> tuple[str, int] | None:
    for item in items:
        recurring = state.get(item["price"], "price")["recurring"]
        return recurring["interval"], recurring.get("interval_count") or 1
    return None


def _proration(
    price: Record, quantity: int | None, amount: int, description: str, start: int, end: int, item_id: str | None
) -> dict[str, Any]:
    return {
        "price": price,
        "quantity": quantity,
        "amount": amount,
        "description": description,
        "start": start,
        "end": end,
        "item": item_id,
    }


def apply_plan(state: State, sub: Record, plan: Plan) -> None:
    """Make the item set of `plan` the subscription's, resetting the cycle if it says so."""
    start, end = period_of(sub)
    if plan.reset_anchor:
        recurring = plan.final[0].price["recurring"]
        start, end = plan.at, period_end(plan.at, recurring, plan.at)
        sub["billing_cycle_anchor"] = plan.at
        sub["_period_start"], sub["_period_end"] = start, end
    keep = []
    for spec in plan.final:
        if spec.item_id and spec.item_id in state.objects:
            item = state.objects[spec.item_id]
            item["price"] = spec.price["id"]
            item["quantity"] = None if is_metered(spec.price) else spec.quantity
            item["metadata"] = spec.metadata
            item["current_period_start"], item["current_period_end"] = start, end
            keep.append(item["id"])
        else:
            keep.append(new_item(state, sub, spec, start, end)["id"])
    for iid in plan.removed:
        state.remove(iid)
    sub["_items"] = keep


def add_new_period_lines(state: State, sub: Record, invoice: Record, plan: Plan) -> None:
    end = period_end(plan.at, plan.final[0].price["recurring"], plan.at)
    add_period_lines(state, invoice, sub["id"], plan.charges(), plan.at, end)
