"""Queries for `invoices`: the mirror of Stripe's invoices (written only by `paywire.mirror`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.db.models import Invoice


def find(session: Session, invoice_id: str) -> Invoice | None:
    return session.get(Invoice, invoice_id)


def for_subscription(session: Session, subscription_id: str) -> Sequence[Invoice]:
    return session.scalars(
        select(Invoice)
        .where(Invoice.subscription_id == subscription_id)
        .order_by(Invoice.stripe_created.desc(), Invoice.id)
    ).all()


def for_customer(session: Session, stripe_customer_id: str) -> Sequence[Invoice]:
    """Every mirrored invoice of a Stripe customer (subscriptions' and one-off), newest first."""
    return session.scalars(
        select(Invoice)
        .where(Invoice.stripe_customer_id == stripe_customer_id)
        .order_by(Invoice.stripe_created.desc(), Invoice.id)
    ).all()
