"""Previews: the invoice a change, a cancellation or a new subscription would produce,
computed and never stored."""

from __future__ import annotations

from stripesim.billing import invoices
from stripesim.billing.change_plans import ItemChange, add_new_period_lines, plan_change
from stripesim.billing.invoice_drafts import add_item_line, add_line, new_invoice, subscription_of
from stripesim.billing.invoice_totals import compute_totals
from stripesim.billing.periods import add_interval, period_end
from stripesim.billing.pricing import amount_for, prorated
from stripesim.billing.prorations import time_label
from stripesim.billing.subscription_items import (
    ItemSpec,
    add_period_lines,
    add_usage_lines,
    is_metered,
    items_of,
    period_of,
    validate_items,
)
from stripesim.ids import new_id
from stripesim.state import Record, State


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
    invoice = new_invoice(
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
        if item.get("invoice") is None and subscription_of(item) == sub["id"]:
            add_item_line(state, invoice, item, subscription=sub["id"], proration=True, discountable=False)
    for p in plan.prorations:
        add_line(
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
    if not immediate:
        # The renewal also bills the usage of the period ending, so far (in arrears), on the
        # metered items the subscription has now, whatever the next period brings.
        for item in items_of(state, sub):
            price = state.get(item["price"], "price")
            if is_metered(price):
                add_usage_lines(state, invoice, sub["id"], item["id"], price, customer["id"], start, end)
    if plan.reset_anchor and immediate:
        add_new_period_lines(state, sub, invoice, plan)
    elif not immediate and not (cancel_at_period_end or sub.get("cancel_at_period_end")):
        recurring = plan.final[0].price["recurring"]
        next_end = period_end(end, recurring, sub["billing_cycle_anchor"])
        add_period_lines(state, invoice, sub["id"], plan.charges(), end, next_end)
    _totals_after_balance(state, invoice, customer)
    invoice["next_payment_attempt"] = None if immediate else end + invoices.DRAFT_GRACE_S
    invoice["automatically_finalizes_at"] = None
    return invoice


def preview_cancel_now(state: State, customer: Record, sub: Record, *, at: int, prorate: bool) -> Record:
    """The final invoice of cancelling now: pending items plus, with proration, a credit for unused time."""
    invoice = new_invoice(
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
                add_line(
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
    _totals_after_balance(state, invoice, customer)
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
    invoice = new_invoice(
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
    compute_totals(state, invoice)
    return invoice


def _totals_after_balance(state: State, invoice: Record, customer: Record) -> None:
    """Totals, and what would be due once the customer's balance is applied (as finalizing does)."""
    compute_totals(state, invoice)
    balance = customer.get("balance") or 0
    invoice["starting_balance"] = balance
    invoice["amount_due"] = max(0, invoice["total"] + balance)
    invoice["amount_remaining"] = invoice["amount_due"]
    invoice["ending_balance"] = min(0, invoice["total"] + balance)
