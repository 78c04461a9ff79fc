"""Queries for `orders`: one-time purchases and their fulfilment."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.db.models import Order

# Orders whose payment went through: they grant what their product grants.
PAID_STATES = ("paid", "fulfilled")


def find_by_checkout_session(session: Session, checkout_session_id: str) -> Order | None:
    return session.scalar(select(Order).where(Order.checkout_session_id == checkout_session_id))


def for_user(session: Session, user_id: str) -> Sequence[Order]:
    return session.scalars(
        select(Order).where(Order.user_id == user_id).order_by(Order.created_at.desc(), Order.id)
    ).all()


def paid_for_user(session: Session, user_id: str) -> Sequence[Order]:
    return session.scalars(
        select(Order).where(Order.user_id == user_id, Order.status.in_(PAID_STATES))
    ).all()


def open_pending_order(
    session: Session,
    *,
    user_id: str,
    stripe_customer_id: str,
    checkout_session_id: str,
    product: str,
    grants_plan: str | None,
) -> Order:
    """Record a started purchase once per Checkout Session (a replayed session id, from an
    idempotent retry, finds the row already there). Commits its own insert."""
    found = find_by_checkout_session(session, checkout_session_id)
    if found is not None:
        return found
    order = Order(
        user_id=user_id,
        stripe_customer_id=stripe_customer_id,
        checkout_session_id=checkout_session_id,
        product=product,
        grants_plan=grants_plan,
        status="pending",
    )
    session.add(order)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        found = find_by_checkout_session(session, checkout_session_id)
        if found is None:
            raise
        return found
    return order
