"""Stripe objects as mirror rows: the columns each table keeps, from the API shape. Pure.

`paywire sync` compares with the same functions, so a difference it reports is one the
writers would repair.
"""

from __future__ import annotations

from typing import Any

from paywire.stripe.ids import id_of


def item_rows(stripe_subscription: dict[str, Any]) -> list[dict[str, Any]]:
    """The item columns (periods live on the items)."""
    rows = []
    for item in (stripe_subscription.get("items") or {}).get("data") or []:
        price = item.get("price") or {}
        rows.append(
            {
                "id": item["id"],
                "price_id": id_of(price),
                "lookup_key": price.get("lookup_key") if isinstance(price, dict) else None,
                "product_id": id_of(price.get("product")) if isinstance(price, dict) else None,
                "quantity": item.get("quantity"),
                "current_period_start": item.get("current_period_start"),
                "current_period_end": item.get("current_period_end"),
            }
        )
    return rows


def subscription_row(stripe_subscription: dict[str, Any]) -> dict[str, Any]:
    """The subscription columns. The period is the earliest item's: items can renew on their
    own anchors under flexible billing."""
    items = item_rows(stripe_subscription)
    starts = [i["current_period_start"] for i in items if i["current_period_start"] is not None]
    ends = [i["current_period_end"] for i in items if i["current_period_end"] is not None]
    quantity = sum(i["quantity"] or 0 for i in items) if items else 1
    sub = stripe_subscription
    return {
        "id": sub["id"],
        "stripe_customer_id": id_of(sub.get("customer")),
        "status": sub["status"],
        "quantity": quantity or 1,
        "current_period_start": min(starts) if starts else None,
        "current_period_end": min(ends) if ends else None,
        "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        "cancel_at": sub.get("cancel_at"),
        "canceled_at": sub.get("canceled_at"),
        "ended_at": sub.get("ended_at"),
        "trial_start": sub.get("trial_start"),
        "trial_end": sub.get("trial_end"),
        "pause_collection": sub.get("pause_collection"),
        "latest_invoice_id": id_of(sub.get("latest_invoice")),
        "schedule_id": id_of(sub.get("schedule")),
        "stripe_object": sub,
        "stripe_created": sub.get("created") or 0,
    }


def invoice_subscription(stripe_invoice: dict[str, Any]) -> str | None:
    """Today's API puts an invoice's subscription under `parent.subscription_details`."""
    details = (stripe_invoice.get("parent") or {}).get("subscription_details") or {}
    return id_of(details.get("subscription"))


def invoice_row(stripe_invoice: dict[str, Any]) -> dict[str, Any]:
    inv = stripe_invoice
    return {
        "id": inv["id"],
        "stripe_customer_id": id_of(inv.get("customer")),
        "subscription_id": invoice_subscription(inv),
        "status": inv.get("status"),
        "billing_reason": inv.get("billing_reason"),
        "amount_due": inv.get("amount_due") or 0,
        "amount_paid": inv.get("amount_paid") or 0,
        "amount_remaining": inv.get("amount_remaining") or 0,
        "currency": inv.get("currency"),
        "attempt_count": inv.get("attempt_count") or 0,
        "next_payment_attempt": inv.get("next_payment_attempt"),
        "hosted_invoice_url": inv.get("hosted_invoice_url"),
        "period_start": inv.get("period_start"),
        "period_end": inv.get("period_end"),
        "stripe_created": inv.get("created") or 0,
        "stripe_object": inv,
    }


def schedule_row(stripe_schedule: dict[str, Any]) -> dict[str, Any]:
    """A released schedule names its former subscription in `released_subscription` only;
    the row keeps pointing at it."""
    sched = stripe_schedule
    return {
        "id": sched["id"],
        "subscription_id": id_of(sched.get("subscription")) or id_of(sched.get("released_subscription")),
        "stripe_customer_id": id_of(sched.get("customer")),
        "status": sched.get("status") or "unknown",
        "end_behavior": sched.get("end_behavior"),
        "current_phase": sched.get("current_phase"),
        "phases": list(sched.get("phases") or []),
        "stripe_object": sched,
    }
