"""Queries for `customers`: the one row tying a user to their one Stripe customer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from paywire.db.models import Customer, utcnow


def find_by_user(session: Session, user_id: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.user_id == user_id))


def find_by_stripe_id(session: Session, stripe_customer_id: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.stripe_customer_id == stripe_customer_id))


def add_customer(
    session: Session,
    *,
    user_id: str,
    stripe_customer_id: str,
    email: str | None,
    test_clock_id: str | None = None,
) -> Customer:
    """Insert and flush; a racer that got there first makes this raise `IntegrityError`."""
    customer = Customer(
        user_id=user_id,
        stripe_customer_id=stripe_customer_id,
        email=email,
        test_clock_id=test_clock_id,
        trial_used=False,
    )
    session.add(customer)
    session.flush()
    return customer


def mark_trial_used(session: Session, user_id: str, at: datetime | None = None) -> None:
    """Remember that this user had their trial; only the first mark counts."""
    session.execute(
        update(Customer)
        .where(Customer.user_id == user_id, Customer.trial_used.is_(False))
        .values(trial_used=True, trial_used_at=at or utcnow(), updated_at=utcnow())
    )


def update_details(session: Session, stripe_customer_id: str, *, email: str | None, test_clock_id: str | None) -> bool:
    """Follow Stripe's copy of a customer's email and test clock (the events pipeline calls
    this on `customer.updated`). True if a row was there to update."""
    result = session.execute(
        update(Customer)
        .where(Customer.stripe_customer_id == stripe_customer_id)
        .values(email=email, test_clock_id=test_clock_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
