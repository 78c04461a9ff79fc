"""Changing a subscription's items with Stripe's proration and payment behaviours: pending
prorations for the next invoice, or an invoice now (always_invoice, a new billing cycle)."""

from __future__ import annotations

from stripesim.billing import invoices
from stripesim.billing.change_plans import ItemChange, Plan, add_new_period_lines, apply_plan, plan_change
from stripesim.billing.invoice_drafts import new_invoice, sweep_pending_items
from stripesim.billing.payments import card_error
from stripesim.billing.pending_updates import hold_until_paid
from stripesim.billing.prorations import pending_item
from stripesim.errors import CardError
from stripesim.state import Record, State


def _immediate_invoice(state: State, sub: Record, plan: Plan) -> Record:
    customer = state.get(sub["customer"], "customer")
    invoice = new_invoice(
        state,
        customer,
        billing_reason="subscription_update",
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
        add_new_period_lines(state, sub, invoice, plan)
    sweep_pending_items(state, invoice, sub["id"])
    if payment_behavior == "pending_if_incomplete":
        hold_until_paid(state, sub, plan, invoice)
        return
    apply_plan(state, sub, plan)
    invoices.create(state, invoice)
    sub["latest_invoice"] = invoice["id"]
    invoices.finalize(state, invoice)
    if invoice["status"] == "open" and sub["collection_method"] == "charge_automatically":
        invoices.attempt(state, invoice)
        if payment_behavior == "error_if_incomplete" and invoice["status"] == "open":
            pi = state.find(invoice.get("_payment_intent"), "payment_intent")
            invoices.void(state, invoice)
            if pi is not None:
                raise card_error(state, pi, with_intent=False)
            raise CardError("Your card was declined.", code="card_declined")
