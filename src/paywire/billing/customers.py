"""One Stripe customer per user, created exactly once, also when requests race.

Two guards make racers converge: the Stripe call carries an idempotency key derived from
the user id, so concurrent creates return the same Stripe customer, and the `customers`
row is unique per user, so only one insert wins and the others read the winner's row.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.billing.errors import BillingUnavailable
from paywire.db.models import Customer
from paywire.db.repositories import customers
from paywire.stripe import StripeGateway, StripeIdempotencyConflict, StripeUnavailable
from paywire.stripe import idempotency as keys

log = logging.getLogger("paywire.billing")


def get_or_create_customer(
    session: Session,
    gateway: StripeGateway,
    *,
    user_id: str,
    email: str | None,
    test_clock: str | None = None,
    own_clock: bool = False,
) -> Customer:
    """The user's customer row, creating the Stripe customer on first use. `test_clock`
    (test mode only) attaches a new customer to a Stripe test clock; `own_clock`
    (`PAYWIRE_TEST_CLOCKS`) to a new clock of its own, frozen at now, for time travel."""
    if (test_clock or own_clock) and gateway.livemode:
        raise ValueError("test clocks exist in test mode only")
    found = customers.find_by_user(session, user_id)
    if found is not None:
        return found
    if own_clock and not test_clock:
        clock = gateway.create_test_clock(
            frozen_time=int(time.time()), name=f"paywire user {user_id}", idempotency_key=keys.test_clock(user_id)
        )
        test_clock = str(clock["id"])
    stripe_customer = _create_in_stripe(gateway, user_id, email, test_clock)
    try:
        row = customers.add_customer(
            session,
            user_id=user_id,
            stripe_customer_id=stripe_customer["id"],
            email=email,
            test_clock_id=test_clock,
        )
        session.commit()
        return row
    except IntegrityError:
        session.rollback()
    winner = customers.find_by_user(session, user_id)
    if winner is None:  # the conflict was on the Stripe id, held by another user
        raise RuntimeError(f"Stripe customer {stripe_customer['id']} is already linked to another user")
    if winner.stripe_customer_id != stripe_customer["id"]:
        log.warning(
            "user %s: orphan Stripe customer %s (kept %s)",
            user_id,
            stripe_customer["id"],
            winner.stripe_customer_id,
        )
    return winner


def _create_in_stripe(
    gateway: StripeGateway, user_id: str, email: str | None, test_clock: str | None
) -> dict[str, Any]:
    try:
        return gateway.create_customer(
            user_id=user_id,
            email=email,
            test_clock=test_clock,
            idempotency_key=keys.customer_create(user_id),
        )
    except StripeIdempotencyConflict:
        # The key was first used with other details (a changed email within 24 h):
        # the customer exists, so adopt it rather than create a second one.
        existing = gateway.find_customers_of_user(user_id)
        if existing:
            return min(existing, key=lambda c: c.get("created") or 0)
        raise
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
