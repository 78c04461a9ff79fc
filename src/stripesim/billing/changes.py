"""Changing a subscription's items: prorations (flexible mode, to the second), immediate
invoices, pending updates that wait for payment, and previews of all of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripesim.billing import invoices
from stripesim.billing.periods import add_interval, day_label, period_end
from stripesim.billing.subscriptions import (
    Charge,
    ItemSpec,
    _new_item,
    add_period_lines,
    is_metered,
    items_of,
    period_of,
    product_name,
    validate_items,
)
from stripesim.errors import CardError, InvalidRequest
from stripesim.ids import new_id
from stripesim.resources._common import new_record
from stripesim.resources.prices import amount_for
from stripesim.state import Record, State

PENDING_UPDATE_S = 23 * 3600


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


def prorated(amount: int, start: int, end: int, at: int) -> int:
    length = max(1, end - start)
    remaining = min(max(0, end - at), length)
    return int((Decimal(amount) * remaining / length).to_integral_value(rounding=ROUND_HALF_UP))


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


def time_label(kind: str, state: State, price: Record, quantity: int | None, at: int) -> str:
    """Stripe's proration line text, e.g. "Unused time on Pro after 15 Feb 2026"."""
    count = f"{quantity} × " if quantity and quantity != 1 else ""
    return f"{kind} time on {count}{product_name(state, price)} after {day_label(at)}"


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


def pending_item(
    state: State, sub: Record, price: Record, quantity: int | None, amount: int, description: str, start: int, end: int
) -> Record:
    """A pending proration invoice item; it joins the subscription's next invoice."""
    item = new_record(
        state,
        "invoiceitem",
        "ii",
        created=state.now_for(sub),
        amount=amount,
        currency=sub["currency"],
        customer=sub["customer"],
        customer_account=None,
        date=state.now_for(sub),
        description=description,
        discountable=False,
        discounts=[],
        invoice=None,
        net_amount=amount,
        parent={
            "subscription_details": {"subscription": sub["id"], "subscription_item": None},
            "type": "subscription_details",
        },
        period={"end": end, "start": start},
        pricing={
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price.get("unit_amount_decimal"),
        },
        proration=True,
        proration_details={"discount_amounts": []},
        quantity=quantity or 1,
        quantity_decimal=str(quantity or 1),
        tax_rates=[],
        test_clock=sub.get("test_clock"),
    )
    state.insert(item)
    state.emit("invoiceitem.created", item)
    return item


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
            keep.append(_new_item(state, sub, spec, start, end)["id"])
    for iid in plan.removed:
        state.remove(iid)
    sub["_items"] = keep


def _immediate_invoice(state: State, sub: Record, plan: Plan, *, billing_reason: str = "subscription_update") -> Record:
    customer = state.get(sub["customer"], "customer")
    invoice = invoices.new_invoice(
        state,
        customer,
        billing_reason=billing_reason,
        currency=sub["currency"],
        subscription=sub,
        period_start=plan.at,
        period_end=plan.at,
        automatic_tax=sub["automatic_tax"]["enabled"],
        discount_ids=list(sub.get("discounts") or []),
        at=plan.at,
    )
    invoice["default_tax_rates"] = list(sub.get("_default_tax_rates") or [])
    return invoice


def _plan_charges(plan: Plan) -> list[Charge]:
    return [(spec.price, spec.quantity, spec.item_id) for spec in plan.final]


def _add_new_period_lines(state: State, sub: Record, invoice: Record, plan: Plan) -> None:
    end = period_end(plan.at, plan.final[0].price["recurring"], plan.at)
    add_period_lines(state, invoice, sub["id"], _plan_charges(plan), plan.at, end)


def change_items(
    state: State,
    sub: Record,
    changes: list[ItemChange],
    *,
    proration_behavior: str,
    payment_behavior: str,
    at: int,
    anchor_now: bool = False,
) -> None:
    """Apply `items[]` (and a cycle reset) with Stripe's proration and payment behaviours.

    Called inside `state.changing(sub)`: the caller's updated event carries the change.
    """
    plan = plan_change(state, sub, changes, at=at, proration_behavior=proration_behavior, anchor_now=anchor_now)
    if not plan.items_changed and not plan.reset_anchor:
        return
    invoice_now = plan.reset_anchor or (proration_behavior == "always_invoice" and bool(plan.prorations))
    if not invoice_now:
        for p in plan.prorations:
            pending_item(state, sub, p["price"], p["quantity"], p["amount"], p["description"], p["start"], p["end"])
        apply_plan(state, sub, plan)
        return
    for p in plan.prorations:
        pending_item(state, sub, p["price"], p["quantity"], p["amount"], p["description"], p["start"], p["end"])
    invoice = _immediate_invoice(state, sub, plan)
    if plan.reset_anchor:
        _add_new_period_lines(state, sub, invoice, plan)
    invoices.sweep_pending_items(state, invoice, sub["id"])
    if payment_behavior == "pending_if_incomplete":
        _pending_update(state, sub, plan, invoice)
        return
    apply_plan(state, sub, plan)
    invoices.create(state, invoice)
    sub["latest_invoice"] = invoice["id"]
    invoices.finalize(state, invoice)
    if invoice["status"] == "open" and sub["collection_method"] == "charge_automatically":
        invoices.attempt(state, invoice)
        if payment_behavior == "error_if_incomplete" and invoice["status"] == "open":
            pi = state.find(invoice.get("_payment_intent") or "", "payment_intent") or {}
            err = pi.get("last_payment_error") or {}
            invoices.void(state, invoice)
            raise CardError(
                err.get("message") or "Your card was declined.",
                code=err.get("code") or "card_declined",
                decline_code=err.get("decline_code"),
            )


def _pending_update(state: State, sub: Record, plan: Plan, invoice: Record) -> None:
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
            "expires_at": plan.at + PENDING_UPDATE_S,
            "subscription_items": [
                {"id": s.item_id, "price": s.price["id"], "quantity": s.quantity, "object": "subscription_item"}
                for s in plan.final
            ],
            "trial_end": None,
            "trial_from_plan": None,
        }


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
    was_pending = sub.get("pending_update") is not None
    with state.changing(sub):
        apply_plan(state, sub, plan)
        sub["pending_update"] = None
        if sub["status"] in ("past_due", "unpaid", "incomplete"):
            sub["status"] = "active"
    if was_pending:  # paid at once, the update was never pending in Stripe's eyes
        state.emit("customer.subscription.pending_update_applied", sub)


def expire_pending_update(state: State, sub: Record) -> None:
    invoice = state.find(sub.pop("_pending_invoice", None) or "", "invoice")
    sub.pop("_pending_plan", None)
    if invoice is not None and invoice["status"] == "open":
        invoices.void(state, invoice)
    with state.changing(sub):
        sub["pending_update"] = None
    state.emit("customer.subscription.pending_update_expired", sub)


# ----- previews -----------------------------------------------------------------------------
def preview(
    state: State,
    customer: Record,
    sub: Record | None,
    changes: list[ItemChange],
    *,
    proration_behavior: str,
    at: int,
    anchor_now: bool = False,
    cancel_at_period_end: bool | None = None,
    automatic_tax: bool | None = None,
    discount_ids: list[str] | None = None,
    new_specs: list[ItemSpec] | None = None,
) -> Record:
    """The invoice a change would produce, never stored: the immediate one for
    `always_invoice` or a cycle reset, else the next renewal with pending prorations."""
    if sub is None:
        return _preview_new(state, customer, new_specs or [], at, automatic_tax, discount_ids)
    plan = plan_change(state, sub, changes, at=at, proration_behavior=proration_behavior, anchor_now=anchor_now)
    tax = sub["automatic_tax"]["enabled"] if automatic_tax is None else automatic_tax
    start, end = period_of(sub)
    immediate = (plan.reset_anchor or proration_behavior == "always_invoice") and sub["status"] != "trialing"
    invoice = invoices.new_invoice(
        state,
        customer,
        billing_reason="subscription_update" if immediate else "upcoming",
        currency=sub["currency"],
        subscription=sub,
        automatic_tax=tax,
        discount_ids=discount_ids if discount_ids is not None else list(sub.get("discounts") or []),
        at=at if immediate else end,
        period_start=at if immediate else start,
        period_end=at if immediate else end,
    )
    invoice["id"] = new_id("upcoming_in")
    invoice["default_tax_rates"] = list(sub.get("_default_tax_rates") or [])
    for item in state.all("invoiceitem"):
        parent = item.get("parent") or {}
        if item.get("invoice") is None and (parent.get("subscription_details") or {}).get("subscription") == sub["id"]:
            price = state.find(item["pricing"]["price_details"]["price"])
            invoices.add_line(
                state,
                invoice,
                amount=item["amount"],
                description=item["description"] or "",
                price=price,
                quantity=item["quantity"],
                period_start=item["period"]["start"],
                period_end=item["period"]["end"],
                subscription=sub["id"],
                invoice_item=item["id"],
                proration=True,
                discountable=False,
            )
    for p in plan.prorations:
        invoices.add_line(
            state,
            invoice,
            amount=p["amount"],
            description=p["description"],
            price=p["price"],
            quantity=p["quantity"],
            period_start=p["start"],
            period_end=p["end"],
            subscription=sub["id"],
            subscription_item=p["item"],
            proration=True,
            discountable=False,
        )
    if plan.reset_anchor and immediate:
        _add_new_period_lines(state, sub, invoice, plan)
    elif not immediate and not (cancel_at_period_end or sub.get("cancel_at_period_end")):
        recurring = plan.final[0].price["recurring"]
        next_end = period_end(end, recurring, sub["billing_cycle_anchor"])
        add_period_lines(state, invoice, sub["id"], _plan_charges(plan), end, next_end)
    invoices.compute_totals(state, invoice)
    balance = customer.get("balance") or 0
    invoice["starting_balance"] = balance
    invoice["amount_due"] = max(0, invoice["total"] + balance)
    invoice["amount_remaining"] = invoice["amount_due"]
    invoice["ending_balance"] = min(0, invoice["total"] + balance)
    invoice["next_payment_attempt"] = None if immediate else end + invoices.DRAFT_GRACE_S
    invoice["automatically_finalizes_at"] = None
    return invoice


def preview_cancel_now(state: State, customer: Record, sub: Record, *, at: int, prorate: bool) -> Record:
    """The final invoice of cancelling now: pending items plus, with proration, a credit for unused time."""
    invoice = invoices.new_invoice(
        state,
        customer,
        billing_reason="subscription_cycle",
        currency=sub["currency"],
        subscription=sub,
        automatic_tax=sub["automatic_tax"]["enabled"],
        at=at,
        period_start=at,
        period_end=at,
    )
    invoice["id"] = new_id("upcoming_in")
    start, end = period_of(sub)
    paid_time = sub["status"] not in ("trialing", "paused", "incomplete", "incomplete_expired")
    if prorate and paid_time:
        for item in items_of(state, sub):
            price = state.get(item["price"], "price")
            credit = 0 if is_metered(price) else prorated(amount_for(price, item["quantity"]), start, end, at)
            if credit:
                invoices.add_line(
                    state,
                    invoice,
                    amount=-credit,
                    description=time_label("Unused", state, price, item["quantity"], at),
                    price=price,
                    quantity=item["quantity"],
                    period_start=at,
                    period_end=end,
                    subscription=sub["id"],
                    subscription_item=item["id"],
                    proration=True,
                    discountable=False,
                )
    invoices.compute_totals(state, invoice)
    balance = customer.get("balance") or 0
    invoice["starting_balance"] = balance
    invoice["amount_due"] = max(0, invoice["total"] + balance)
    invoice["amount_remaining"] = invoice["amount_due"]
    invoice["ending_balance"] = min(0, invoice["total"] + balance)
    return invoice


def _preview_new(
    state: State,
    customer: Record,
    specs: list[ItemSpec],
    at: int,
    automatic_tax: bool | None,
    discount_ids: list[str] | None,
) -> Record:
    validate_items(state, specs, "subscription_details[items]")
    recurring = specs[0].price["recurring"]
    end = add_interval(at, recurring["interval"], recurring.get("interval_count") or 1)
    invoice = invoices.new_invoice(
        state,
        customer,
        billing_reason="subscription_create",
        currency=specs[0].price["currency"],
        automatic_tax=bool(automatic_tax),
        discount_ids=discount_ids or [],
        at=at,
        period_start=at,
        period_end=at,
    )
    invoice["id"] = new_id("upcoming_in")
    add_period_lines(state, invoice, None, [(s.price, s.quantity, None) for s in specs], at, end)
    invoices.compute_totals(state, invoice)
    return invoice
