"""Queries for `orders`: one-time purchases and their fulfilment."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.db.models import Order, utcnow

# Orders whose payment went through: they grant what their product grants.
PAID_STATES = ("paid", "fulfilled")


def find_by_checkout_session(session: Session, checkout_session_id: str) -> Order | None:
    return session.scalar(select(Order).where(Order.checkout_session_id == checkout_session_id))


def for_user(session: Session, user_id: str) -> Sequence[Order]:
    return session.scalars(
        select(Order).where(Order.user_id == user_id).order_by(Order.created_at.desc(), Order.id)
    ).all()


def paid_for_user(session: Session, user_id: str) -> Sequence[Order]:
    return session.scalars(select(Order).where(Order.user_id == user_id, Order.status.in_(PAID_STATES))).all()


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


def fulfil(
    session: Session,
    order: Order,
    *,
    payment_intent_id: str | None,
    amount_total: int | None,
    currency: str | None,
    access_starts_at: int,
    access_ends_at: int,
) -> bool:
    """Fulfil a paid order once: only a pending or paid order moves to fulfilled (a
    conditional update, so two racing workers cannot both fulfil it). True if this call did."""
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status.in_(("pending", "paid")))
        .values(
            status="fulfilled",
            payment_intent_id=payment_intent_id,
            amount_total=amount_total,
            currency=currency,
            access_starts_at=access_starts_at,
            access_ends_at=access_ends_at,
            fulfilled_at=utcnow(),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.refresh(order)
    return bool(getattr(result, "rowcount", 0))


def mark_refunded(session: Session, order: Order) -> bool:
    """A refunded order grants nothing any more. True if this call changed it."""
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status != "refunded")
        .values(status="refunded", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(order)
    return bool(getattr(result, "rowcount", 0))


def mark_failed(session: Session, order: Order) -> bool:
    """The payment of a still-pending order failed or its session expired."""
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == "pending")
        .values(status="failed", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(order)
    return bool(getattr(result, "rowcount", 0))


def find_by_payment_intent(session: Session, payment_intent_id: str) -> Order | None:
    return session.scalar(select(Order).where(Order.payment_intent_id == payment_intent_id))
