"""Queries for `invoices`: the mirror of Stripe's invoices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.db.models import Invoice, utcnow


def find(session: Session, invoice_id: str) -> Invoice | None:
    return session.get(Invoice, invoice_id)


def for_subscription(session: Session, subscription_id: str) -> Sequence[Invoice]:
    return session.scalars(
        select(Invoice)
        .where(Invoice.subscription_id == subscription_id)
        .order_by(Invoice.stripe_created.desc(), Invoice.id)
    ).all()


def subscription_of(stripe_invoice: dict[str, Any]) -> str | None:
    """Today's API puts an invoice's subscription under `parent.subscription_details`."""
    parent = stripe_invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    subscription = details.get("subscription")
    if isinstance(subscription, dict):
        return subscription.get("id")
    return subscription


def invoice_row(stripe_invoice: dict[str, Any]) -> dict[str, Any]:
    inv = stripe_invoice
    customer = inv.get("customer")
    return {
        "id": inv["id"],
        "stripe_customer_id": customer.get("id") if isinstance(customer, dict) else customer,
        "subscription_id": subscription_of(inv),
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


def save_from_stripe(session: Session, stripe_invoice: dict[str, Any]) -> Invoice:
    """Insert or overwrite the mirror of one invoice from a Stripe invoice (plain dict)."""
    values = invoice_row(stripe_invoice)
    values["synced_at"] = utcnow()
    row = session.get(Invoice, values["id"])
    if row is None:
        row = Invoice(**values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    session.flush()
    return row
