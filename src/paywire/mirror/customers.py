"""Customers as the mirror sees them: whose is a Stripe object, and what time is it for them.

The link itself (one Stripe customer per user) is made by `paywire.billing.customers` when
the user first buys; the mirror only follows a linked customer's email and test clock. A
customer paywire does not know is left alone: creating links from Stripe's data would let
any customer carrying a `metadata.user_id` claim a user.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paywire.db.models import Customer
from paywire.db.repositories import customers
from paywire.mirror import test_clocks
from paywire.mirror.context import MirrorContext
from paywire.stripe import Kind, StripeNotFound
from paywire.stripe.ids import id_of


def user_for(session: Session, stripe_customer_id: str | None, stripe_object: dict[str, Any]) -> str | None:
    """The product's user behind a Stripe object: the customers table first (one customer
    per user), then the `metadata.user_id` paywire puts on everything it creates."""
    if stripe_customer_id:
        user_id = session.scalar(select(Customer.user_id).where(Customer.stripe_customer_id == stripe_customer_id))
        if user_id is not None:
            return user_id
    return named_user(stripe_object)


def users_for(session: Session, stripe_objects: Sequence[dict[str, Any]]) -> list[str | None]:
    """`user_for` of each object (by its `customer`), the links read in one query."""
    linked = customers.users_of_customers(session, {c for c in (id_of(o.get("customer")) for o in stripe_objects) if c})
    found = []
    for obj in stripe_objects:
        user_id = linked.get(id_of(obj.get("customer")) or "")
        found.append(user_id if user_id is not None else named_user(obj))
    return found


def named_user(stripe_object: dict[str, Any]) -> str | None:
    """The `metadata.user_id` of a Stripe object, if it names one."""
    metadata = stripe_object.get("metadata") or {}
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    return user_id if isinstance(user_id, str) and user_id else None


def follow(ctx: MirrorContext, stripe_customer_id: str) -> str:
    """Bring a linked customer's email and test clock up to date. A note for the log line."""
    if customers.find_by_stripe_id(ctx.session, stripe_customer_id) is None:
        return f"{stripe_customer_id} not linked to a user"
    try:
        fresh = ctx.reads.read(Kind.CUSTOMER, stripe_customer_id).obj
    except StripeNotFound:
        return f"{stripe_customer_id} no longer in Stripe"
    if fresh.get("deleted"):
        # The link stays: the user's history (subscriptions, orders) still points at it.
        return f"{stripe_customer_id} deleted in Stripe"
    customers.update_details(
        ctx.session, stripe_customer_id, email=fresh.get("email"), test_clock_id=id_of(fresh.get("test_clock"))
    )
    return f"{stripe_customer_id} details updated"


def customer_time(ctx: MirrorContext, stripe_customer_id: str | None) -> int:
    """Now, in the customer's time: their test clock's frozen time (read fresh from Stripe
    and mirrored) in test mode, real time otherwise."""
    if stripe_customer_id is None or ctx.settings.livemode:
        return int(time.time())
    row = customers.find_by_stripe_id(ctx.session, stripe_customer_id)
    try:
        if row is not None:
            clock_id = row.test_clock_id
        else:
            clock_id = id_of(ctx.reads.read(Kind.CUSTOMER, stripe_customer_id).obj.get("test_clock"))
        if not clock_id:
            return int(time.time())
        clock = ctx.reads.read(Kind.TEST_CLOCK, clock_id).obj
    except StripeNotFound:
        # A deleted clock (or customer) has no time of its own any more.
        return int(time.time())
    return test_clocks.save(ctx.session, clock).frozen_time
