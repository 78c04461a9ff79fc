"""Canceling a subscription: at once (with a credit for unused time and a final invoice if
asked), or when a customer is deleted.

A subscription's schedule ends with it; `schedules` registers for `ON_CANCELED` to do that.
"""

from __future__ import annotations

from collections.abc import Callable

from stripesim.billing import invoices
from stripesim.billing.invoice_drafts import new_invoice, sweep_pending_items
from stripesim.billing.prorations import credit_unused_time
from stripesim.errors import InvalidRequest
from stripesim.state import Record, State

ENDED = ("canceled", "incomplete_expired")

# Reactions to a subscription ending, called after `customer.subscription.deleted` with its end time.
ON_CANCELED: list[Callable[[State, Record, int], None]] = []


def cancel_now(
    state: State,
    sub: Record,
    at: int,
    *,
    reason: str | None = "cancellation_requested",
    comment: str | None = None,
    feedback: str | None = None,
) -> Record:
    if sub["status"] in ENDED:
        return sub
    sub["status"] = "canceled"
    sub["canceled_at"] = sub.get("canceled_at") or at
    sub["ended_at"] = at
    sub["cancel_at_period_end"] = False if sub["_period_end"] > at else sub["cancel_at_period_end"]
    sub["cancellation_details"] = {
        "comment": comment,
        "feedback": feedback,
        "feedback_option": None,
        "reason": reason,
    }
    sub["pending_update"] = None
    state.emit("customer.subscription.deleted", sub)
    for hook in ON_CANCELED:
        hook(state, sub, at)
    return sub


def cancel_for_deleted_customer(state: State, customer: Record) -> None:
    now = state.now_for(customer)
    for sub in state.where("subscription", customer=customer["id"]):
        cancel_now(state, sub, now)


def cancel_subscription(
    state: State, sub: Record, *, prorate: bool, invoice_now: bool, comment: str | None, feedback: str | None
) -> Record:
    """End a subscription now, as DELETE /v1/subscriptions/{id}: `prorate` credits the unused
    time, `invoice_now` bills what is pending (that credit included) at once."""
    if sub["status"] in ENDED:
        raise InvalidRequest(
            "A canceled subscription can only update its cancellation_details and metadata.",
            param="subscription",
        )
    now = state.now_for(sub)
    if prorate:
        credit_unused_time(state, sub, now)
    cancel_now(state, sub, now, comment=comment, feedback=feedback)
    if invoice_now:
        _final_invoice(state, sub, now)
    return sub


def _final_invoice(state: State, sub: Record, at: int) -> None:
    customer = state.get(sub["customer"], "customer")
    invoice = new_invoice(
        state, customer, billing_reason="subscription_cycle", currency=sub["currency"], subscription=sub, at=at
    )
    sweep_pending_items(state, invoice, sub["id"])
    if not invoice["_lines"]:
        return
    invoices.create(state, invoice)
    invoices.finalize(state, invoice)
    if invoice["status"] == "open":
        invoices.attempt(state, invoice)
