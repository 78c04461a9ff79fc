"""Queries for `customers`: the one row tying a user to their one Stripe customer."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from paywire.db.membership import among
from paywire.db.models import Customer, utcnow
from paywire.db.repositories import entitlement_versions
from paywire.db.upsert import dialect_insert

CUSTOMERS = cast(Table, Customer.__table__)


def find_by_user(session: Session, user_id: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.user_id == user_id))


def find_by_stripe_id(session: Session, stripe_customer_id: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.stripe_customer_id == stripe_customer_id))


def linked_customers(session: Session, user_ids: Collection[str]) -> dict[str, str]:
    """The Stripe customer of each of these users that has one (user → customer), in one query."""
    if not user_ids:
        return {}
    query = select(Customer.user_id, Customer.stripe_customer_id).where(
        among(session, Customer.user_id, sorted(user_ids))
    )
    return {user_id: customer_id for user_id, customer_id in session.execute(query)}


def users_of_customers(session: Session, stripe_customer_ids: Collection[str]) -> dict[str, str]:
    """The user linked to each of these Stripe customers that is linked (customer → user), in one query."""
    if not stripe_customer_ids:
        return {}
    query = select(Customer.stripe_customer_id, Customer.user_id).where(
        among(session, Customer.stripe_customer_id, sorted(stripe_customer_ids))
    )
    return {customer_id: user_id for customer_id, user_id in session.execute(query)}


def add_customers(session: Session, links: Sequence[dict[str, Any]]) -> set[str]:
    """Insert many links (`user_id`, `stripe_customer_id`, `email`, `test_clock_id`) in one
    statement; the Stripe customers linked. A link whose user or customer is linked already (a
    racer got there first) is left out, as `add_customer` would raise for it."""
    if not links:
        return set()
    now = utcnow()
    rows = [
        {
            "user_id": link["user_id"],
            "stripe_customer_id": link["stripe_customer_id"],
            "email": link.get("email"),
            "test_clock_id": link.get("test_clock_id"),
            "trial_used": False,
            "created_at": now,
            "updated_at": now,
        }
        for link in links
    ]
    statement = dialect_insert(session, CUSTOMERS).on_conflict_do_nothing().returning(CUSTOMERS.c.stripe_customer_id)
    session.flush()
    added = set(session.scalars(statement, rows))
    for row in rows:
        if row["stripe_customer_id"] in added:
            # The link (and its test clock) is what the user's entitlement is read through.
            entitlement_versions.bump(session, user=row["user_id"])
    return added


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
    # The link (and its test clock) is what the user's entitlement is read through.
    entitlement_versions.bump(session, user=user_id)
    session.flush()
    return customer


def mark_trial_used(session: Session, user_id: str, at: datetime | None = None) -> None:
    """Remember that this user had their trial; only the first mark counts."""
    mark_trials_used(session, [user_id], at)


def mark_trials_used(session: Session, user_ids: Collection[str], at: datetime | None = None) -> None:
    """Remember that these users had their trial, in one statement; only the first mark counts."""
    if not user_ids:
        return
    for user_id in user_ids:
        entitlement_versions.bump(session, user=user_id)  # every write to customers moves the version
    session.execute(
        update(Customer)
        .where(among(session, Customer.user_id, sorted(user_ids)), Customer.trial_used.is_(False))
        .values(trial_used=True, trial_used_at=at or utcnow(), updated_at=utcnow())
    )


def update_details(session: Session, stripe_customer_id: str, *, email: str | None, test_clock_id: str | None) -> bool:
    """Follow Stripe's copy of a customer's email and test clock (the events pipeline calls
    this on `customer.updated`). True if a row was there to update."""
    # A new test clock is a new "now" for the user: their entitlement version moves at commit.
    entitlement_versions.bump(session, customer=stripe_customer_id)
    result = session.execute(
        update(Customer)
        .where(Customer.stripe_customer_id == stripe_customer_id)
        .values(email=email, test_clock_id=test_clock_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def update_many_details(session: Session, details: Sequence[tuple[str, str | None, str | None]]) -> None:
    """`update_details` of many customers (`(stripe_customer_id, email, test_clock_id)`), in one
    executemany."""
    if not details:
        return
    now = utcnow()
    for stripe_customer_id, _, _ in details:
        entitlement_versions.bump(session, customer=stripe_customer_id)
    statement = (
        update(CUSTOMERS)
        .where(CUSTOMERS.c.stripe_customer_id == bindparam("key"))
        .values(email=bindparam("new_email"), test_clock_id=bindparam("new_clock"), updated_at=now)
    )
    session.execute(statement, [{"key": key, "new_email": email, "new_clock": clock} for key, email, clock in details])
