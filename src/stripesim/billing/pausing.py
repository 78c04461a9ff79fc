"""Pausing a subscription (no invoices while paused) and resuming it, with a new billing cycle
from the resumption or the old one."""

from __future__ import annotations

from stripesim.billing import invoices
from stripesim.billing.invoice_drafts import discounts_for, new_invoice, sweep_pending_items
from stripesim.billing.periods import add_interval
from stripesim.billing.prorations import credit_unused_time
from stripesim.billing.subscription_items import add_period_lines, item_charges, items_of, set_period
from stripesim.errors import InvalidRequest
from stripesim.state import Record, State


def pause(state: State, sub: Record, at: int, *, credit_unused: bool) -> Record:
    if sub["status"] not in ("active", "trialing", "past_due"):
        raise InvalidRequest(f"A subscription with status {sub['status']} cannot be paused.", param="subscription")
    if sub.get("schedule"):
        raise InvalidRequest(
            "Cannot pause subscriptions with attached schedules; use pause_collection instead.",
            param="subscription",
        )
    if credit_unused:
        credit_unused_time(state, sub, at)
    with state.changing(sub):
        sub["status"] = "paused"
        sub["_paused_at"] = at
        sub["status_details"] = {
            "paused": {"subscription": {"type": "pause_requested"}, "transitioned_at": at, "type": "subscription"}
        }
    state.emit("customer.subscription.paused", sub)
    return sub


def resume(
    state: State, sub: Record, at: int, *, anchor_now: bool, proration_behavior: str, on_success_only: bool
) -> Record:
    if sub["status"] != "paused":
        raise InvalidRequest("Only a paused subscription can be resumed.", param="subscription")
    if not anchor_now:
        with state.changing(sub, "customer.subscription.resumed"):
            sub["status"] = "active"
            sub.pop("status_details", None)
        return sub
    price0 = state.get(items_of(state, sub)[0]["price"], "price")
    end = add_interval(at, price0["recurring"]["interval"], price0["recurring"].get("interval_count") or 1)
    customer = state.get(sub["customer"], "customer")
    with state.changing(sub):
        sub["billing_cycle_anchor"] = at
        set_period(state, sub, at, end)
    invoice = new_invoice(
        state,
        customer,
        billing_reason="subscription_cycle",
        currency=sub["currency"],
        subscription=sub,
        period_start=at,
        period_end=at,
        automatic_tax=sub["automatic_tax"]["enabled"],
        discount_ids=discounts_for(state, sub, customer),
        at=at,
    )
    add_period_lines(state, invoice, sub["id"], item_charges(state, sub), at, end)
    sweep_pending_items(state, invoice, sub["id"])
    invoices.create(state, invoice)
    sub["latest_invoice"] = invoice["id"]
    if on_success_only:
        sub["_resume_on_payment"] = invoice["id"]
    else:
        with state.changing(sub, "customer.subscription.resumed"):
            sub["status"] = "active"
            sub.pop("status_details", None)
    invoices.finalize(state, invoice)
    if invoice["status"] == "open":
        invoices.attempt(state, invoice)
    return sub
