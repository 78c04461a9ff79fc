"""What time does to a subscription: renewals (licensed prices billed in advance, metered
usage in arrears), trial ends, `invoice.upcoming` notices, scheduled cancellations, expiry of
an incomplete subscription and of a pending update."""

from __future__ import annotations

from stripesim.billing import invoices
from stripesim.billing import payment_methods as pms
from stripesim.billing.cancellation import cancel_now
from stripesim.billing.invoice_drafts import (
    DAY,
    cycle_invoice,
    sweep_pending_items,
)
from stripesim.billing.pending_updates import expire_pending_update
from stripesim.billing.periods import period_end
from stripesim.billing.previews import preview
from stripesim.billing.subscription_items import (
    add_period_lines,
    add_usage_lines,
    is_metered,
    item_charges,
    items_of,
    period_of,
    set_period,
    set_period_end,
)
from stripesim.engine import timer
from stripesim.state import Record, State

TRIAL_WILL_END_S = 3 * DAY
INCOMPLETE_EXPIRY_S = 23 * 3600


def renew(state: State, sub: Record, at: int) -> Record | None:
    """Start the next period and bill it (licensed in advance, metered in arrears)."""
    old_start, old_end = period_of(sub)
    price0 = state.get(items_of(state, sub)[0]["price"], "price")
    new_end = period_end(old_end, price0["recurring"], sub["billing_cycle_anchor"])
    ending_trial = sub["status"] == "trialing"
    # One `customer.subscription.updated` for the new period and its invoice, after invoice.created.
    with state.changing(sub):
        set_period(state, sub, old_end, new_end)
        if ending_trial:
            sub["status"] = "active"
        invoice = _bill_period(state, sub, at, old_start, old_end, new_end)
    if sub["status"] == "unpaid":
        invoice["auto_advance"] = False
        invoice["automatically_finalizes_at"] = None
    return invoice


def _bill_period(state: State, sub: Record, at: int, old_start: int, old_end: int, new_end: int) -> Record:
    customer = state.get(sub["customer"], "customer")
    invoice = cycle_invoice(
        state, sub, customer, billing_reason="subscription_cycle", period_start=old_start, period_end=old_end, at=at
    )
    for item in items_of(state, sub):
        price = state.get(item["price"], "price")
        if is_metered(price):  # usage is billed in arrears, for the period that just ended
            add_usage_lines(state, invoice, sub["id"], item["id"], price, customer["id"], old_start, old_end)
    for due in sub.pop("_usage_due", []):  # metered prices a schedule dropped at the period end
        price = state.get(due["price"], "price")
        add_usage_lines(state, invoice, sub["id"], due["item"], price, customer["id"], due["start"], due["end"])
    add_period_lines(state, invoice, sub["id"], item_charges(state, sub), old_end, new_end)
    sweep_pending_items(state, invoice, sub["id"])
    invoices.create(state, invoice, finalize_after=invoices.DRAFT_GRACE_S)
    sub["latest_invoice"] = invoice["id"]
    return invoice


def end_trial_now(state: State, sub: Record, at: int) -> None:
    """`trial_end=now`: the paid cycle starts now and its first invoice is charged at once."""
    sub["trial_end"] = at
    sub["billing_cycle_anchor"] = at
    set_period_end(state, sub, at)
    if end_trial_without_payment_method(state, sub, at):
        return
    invoice = renew(state, sub, at)
    if invoice is not None and invoice["status"] == "draft":
        invoices.finalize(state, invoice)
        if invoice["status"] == "open":
            invoices.attempt(state, invoice)


def end_trial_without_payment_method(state: State, sub: Record, at: int) -> bool:
    """Stripe's `trial_settings.end_behavior.missing_payment_method`. True if handled."""
    customer = state.get(sub["customer"], "customer")
    if pms.default_for(state, customer, sub) is not None:
        return False
    behavior = sub["trial_settings"]["end_behavior"]["missing_payment_method"]
    if behavior == "cancel":
        cancel_now(state, sub, at, reason="cancellation_requested")
        return True
    if behavior == "pause":
        with state.changing(sub):
            sub["status"] = "paused"
            sub["status_details"] = {
                "paused": {
                    "subscription": {"type": "trial_end_without_payment_method"},
                    "transitioned_at": at,
                    "type": "subscription",
                }
            }
        state.emit("customer.subscription.paused", sub)
        return True
    return False


def _next_due(state: State, sub: Record) -> int | None:
    status = sub["status"]
    if status in ("canceled", "incomplete_expired", "paused"):
        return None
    if status == "incomplete":
        return sub["created"] + INCOMPLETE_EXPIRY_S
    candidates = []
    pending = sub.get("pending_update")
    if pending:
        candidates.append(pending["expires_at"])
    if sub.get("pause_collection") and sub["pause_collection"].get("resumes_at"):
        candidates.append(sub["pause_collection"]["resumes_at"])
    warn_pending = status == "trialing" and sub.get("trial_end") and not sub.get("_trial_will_end_sent")
    if warn_pending:
        # Three days before the trial ends, or at once when less remains.
        candidates.append(max(sub["trial_end"] - TRIAL_WILL_END_S, sub["created"]))
    if sub.get("cancel_at") and sub["cancel_at"] <= sub["_period_end"]:
        candidates.append(sub["cancel_at"])
    upcoming_at = _upcoming_at(state, sub)
    if upcoming_at is not None:
        candidates.append(upcoming_at)
    candidates.append(sub["_period_end"])
    return min(candidates)


def _upcoming_at(state: State, sub: Record) -> int | None:
    """When `invoice.upcoming` is due for this period (Stripe's "upcoming renewal events")."""
    days = state.config.upcoming_invoice_days
    if days <= 0 or sub["cancel_at_period_end"] or sub.get("_upcoming_sent_for") == sub["_period_end"]:
        return None
    at = sub["_period_end"] - int(days * DAY)
    return at if at > sub["_period_start"] else None


def announce_upcoming(state: State, sub: Record) -> None:
    customer = state.get(sub["customer"], "customer")
    upcoming = preview(state, customer, sub, [], proration_behavior="create_prorations", at=state.now_for(sub))
    sub["_upcoming_sent_for"] = sub["_period_end"]
    state.emit("invoice.upcoming", upcoming)


@timer("subscription", _next_due, priority=80)
def advance_subscription(state: State, sub: Record, at: int) -> None:
    if sub["status"] == "incomplete":
        invoice = state.find(sub.get("latest_invoice"), "invoice")
        if invoice is not None and invoice["status"] == "open":
            invoices.void(state, invoice)
        with state.changing(sub):
            sub["status"] = "incomplete_expired"
            sub["ended_at"] = at
        return
    pending = sub.get("pending_update")
    if pending and pending["expires_at"] <= at:
        expire_pending_update(state, sub)
        return
    pause = sub.get("pause_collection")
    if pause and pause.get("resumes_at") and pause["resumes_at"] <= at:
        with state.changing(sub):
            sub["pause_collection"] = None
        return
    if (
        sub["status"] == "trialing"
        and not sub.get("_trial_will_end_sent")
        and sub["trial_end"] - TRIAL_WILL_END_S <= at < sub["trial_end"]
    ):
        sub["_trial_will_end_sent"] = True
        state.emit("customer.subscription.trial_will_end", sub)
        return
    if sub.get("cancel_at") and sub["cancel_at"] <= at:
        cancel_now(state, sub, sub["cancel_at"], reason="cancellation_requested")
        return
    upcoming_at = _upcoming_at(state, sub)
    if upcoming_at is not None and upcoming_at <= at < sub["_period_end"]:
        announce_upcoming(state, sub)
        return
    if at < sub["_period_end"]:
        return
    if sub["cancel_at_period_end"]:
        cancel_now(state, sub, sub["_period_end"], reason="cancellation_requested")
        return
    if sub["status"] == "trialing" and end_trial_without_payment_method(state, sub, at):
        return
    renew(state, sub, at)
