"""Queries for `invoices`: the mirror of Stripe's invoices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from paywire.db.models import Invoice, utcnow
from paywire.db.upsert import upsert_statement


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


def stored_version(session: Session, invoice_id: str) -> int | None:
    """The mirrored row's `stripe_version`, without locking (None if absent or unversioned)."""
    return session.scalar(select(Invoice.stripe_version).where(Invoice.id == invoice_id))


def lock_for_update(session: Session, invoice_id: str) -> tuple[bool, int | None]:
    """Write-lock the row (if any) for the rest of the transaction and return (exists,
    stored `stripe_version`); as `subscriptions.lock_for_update`."""
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(
            select(Invoice.stripe_version).where(Invoice.id == invoice_id).with_for_update()
        ).first()
    else:
        # SQLite has no row locks: a no-op UPDATE takes the database's write lock.
        session.execute(
            update(Invoice)
            .where(Invoice.id == invoice_id)
            .values(stripe_version=Invoice.stripe_version)
            .execution_options(synchronize_session=False)
        )
        found = session.execute(select(Invoice.stripe_version).where(Invoice.id == invoice_id)).first()
    if found is None:
        return False, None
    return True, found[0]


def save_from_stripe(session: Session, stripe_invoice: dict[str, Any], *, stripe_version: int | None = None) -> Invoice:
    """Insert or overwrite the mirror of one invoice from a Stripe invoice (plain dict)."""
    values = invoice_row(stripe_invoice)
    values["synced_at"] = utcnow()
    if stripe_version is not None:
        values["stripe_version"] = stripe_version
    row = session.get(Invoice, values["id"])
    if row is None:
        row = Invoice(**values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    session.flush()
    return row


def save_versioned(session: Session, stripe_invoice: dict[str, Any], *, stripe_version: int) -> bool:
    """Write an invoice read at `stripe_version` under the version rule, in one statement
    (as `subscriptions.save_versioned`). True if written, False if a newer read is stored."""
    session.flush()  # pending ORM changes first, so they cannot overwrite this write later
    values = invoice_row(stripe_invoice)
    values.update(synced_at=utcnow(), stripe_version=stripe_version)
    table = cast(Table, Invoice.__table__)
    if session.execute(upsert_statement(session, table, tuple(values), versioned=True), values).first() is None:
        return False
    loaded = session.identity_map.get(identity_key(Invoice, values["id"]))
    if loaded is not None:
        session.expire(loaded)  # out of date after this Core write
    return True
