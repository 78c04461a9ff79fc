"""Queries for `orders`: one-time purchases and their fulfilment."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.db.models import Order, utcnow
from paywire.db.repositories import entitlement_versions

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


def newest_for_product(session: Session, user_id: str, product: str) -> Order | None:
    """The user's latest purchase of `product` (started, paid or not)."""
    return session.scalar(
        select(Order)
        .where(Order.user_id == user_id, Order.product == product)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(1)
    )


def lock_passes_of(session: Session, user_id: str, grants_plan: str | None) -> Sequence[Order]:
    """The user's orders granting `grants_plan`, locked until the transaction ends: two
    purchases fulfilled at once take turns, so the second starts where the first ends."""
    theirs = (Order.user_id == user_id, Order.grants_plan == grants_plan)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks and reads outside a transaction until the first write: writing
        # first (nothing changes) takes its one write lock, so the other fulfilment waits here.
        session.execute(
            update(Order)
            .where(*theirs)
            .values(updated_at=Order.updated_at)
            .execution_options(synchronize_session=False)
        )
    return session.scalars(
        select(Order).where(*theirs).order_by(Order.id).with_for_update().execution_options(populate_existing=True)
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
    entitlement_versions.bump(session, user=user_id)  # every write to orders moves the version
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
    paid_at: int | None = None,
    invoice_id: str | None = None,
    receipt_url: str | None = None,
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
            paid_at=paid_at if paid_at is not None else access_starts_at,
            invoice_id=invoice_id,
            receipt_url=receipt_url,
            fulfilled_at=utcnow(),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    # A pass's access is what the user may do: their entitlement version moves at commit.
    entitlement_versions.bump(session, user=order.user_id)
    session.flush()
    session.refresh(order)
    return bool(getattr(result, "rowcount", 0))


def mark_refunded(session: Session, order: Order) -> bool:
    """A refunded order grants nothing any more. True if this call changed it."""
    entitlement_versions.bump(session, user=order.user_id)  # its access ends: the version moves
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
    entitlement_versions.bump(session, user=order.user_id)  # every write to orders moves the version
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
