"""Writing Stripe's current state into the mirror, shared by the handlers.

Version rule (`subscriptions.stripe_version`): the time, in microseconds since the epoch,
at which the re-read from Stripe *started*. A snapshot is written only if its version is
at least the stored one, under a write lock on the row. Why this converges: every change
in Stripe emits an event after it happens, and the event's re-read starts after it, so the
read that starts last sees the last change and carries the largest version. A slow read
that started earlier but commits later (another worker, a retry) is dropped instead of
overwriting newer state. Event `created` cannot serve: it has one-second ties, and under a
test clock it is the clock's time, not an order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.repositories import customers, subscriptions, test_clocks
from paywire.stripe import StripeGateway, StripeNotFound

SUBSCRIPTION_EXPAND = ("items.data.price",)


@dataclass
class HandlerContext:
    """What a handler may use: the transaction it writes in (committed by the worker with
    the event's state), the gateway to re-read from Stripe, the catalog, the settings."""

    session: Session
    gateway: StripeGateway
    catalog: Catalog
    settings: Settings


def read_version() -> int:
    """The version of a snapshot whose read starts now (see the module docstring)."""
    return time.time_ns() // 1000


def stripe_id(value: Any) -> str | None:
    """An expandable field: a bare id or the expanded object."""
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def user_for(session: Session, stripe_customer_id: str | None, stripe_object: dict[str, Any]) -> str | None:
    """The product's user behind a Stripe object: the customers table first (one customer
    per user), then the `metadata.user_id` paywire puts on everything it creates."""
    if stripe_customer_id:
        row = customers.find_by_stripe_id(session, stripe_customer_id)
        if row is not None:
            return row.user_id
    metadata = stripe_object.get("metadata") or {}
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    return user_id if isinstance(user_id, str) and user_id else None


def plan_of(catalog: Catalog, stripe_subscription: dict[str, Any]) -> tuple[str | None, str | None]:
    """(plan, interval) of a subscription from its price, through the catalog: by lookup
    key first; a price that lost its lookup key to a newer price (a changed amount keeps
    old subscribers on the old price) is still known by its product and interval."""
    for item in (stripe_subscription.get("items") or {}).get("data") or []:
        price = item.get("price") or {}
        found = catalog.plan_for_lookup_key(price.get("lookup_key"))
        if found is not None:
            return found
        interval = (price.get("recurring") or {}).get("interval")
        metadata = price.get("metadata") or {}
        plan = metadata.get("paywire_plan") or catalog.plan_for_product_id(stripe_id(price.get("product")))
        if plan and catalog.plan(plan) is not None:
            return plan, interval
    return None, None


def refresh_subscription(ctx: HandlerContext, subscription_id: str) -> str:
    """Re-read a subscription from Stripe and write it, unless a newer read is already
    stored. Returns a short note for the event's log line."""
    version = read_version()
    try:
        fresh = ctx.gateway.retrieve_subscription(subscription_id, expand=SUBSCRIPTION_EXPAND)
    except StripeNotFound:
        # Canceled subscriptions stay retrievable; a 404 means another mode or account, and
        # asking again will not change that.
        return f"{subscription_id} not found in Stripe: nothing to mirror"
    return save_subscription(ctx, fresh, version)


def save_subscription(ctx: HandlerContext, fresh: dict[str, Any], version: int) -> str:
    session = ctx.session
    exists, stored_version = subscriptions.lock_for_update(session, fresh["id"])
    if exists and stored_version is not None and stored_version > version:
        return f"{fresh['id']} kept: a newer read is stored"
    customer_id = stripe_id(fresh.get("customer"))
    user_id = user_for(session, customer_id, fresh)
    plan, interval = plan_of(ctx.catalog, fresh)
    subscriptions.save_from_stripe(
        session, fresh, user_id=user_id, plan=plan, interval=interval, stripe_version=version
    )
    if user_id and fresh.get("trial_start"):
        customers.mark_trial_used(session, user_id)
    return f"{fresh['id']} {fresh.get('status')} plan={plan}/{interval}"


def customer_time(ctx: HandlerContext, stripe_customer_id: str | None) -> int:
    """Now, in the customer's time: their test clock's frozen time (read fresh from Stripe
    and mirrored) in test mode, real time otherwise."""
    if stripe_customer_id is None or ctx.gateway.livemode:
        return int(time.time())
    row = customers.find_by_stripe_id(ctx.session, stripe_customer_id)
    try:
        if row is not None:
            clock_id = row.test_clock_id
        else:
            clock_id = stripe_id(ctx.gateway.retrieve_customer(stripe_customer_id).get("test_clock"))
        if not clock_id:
            return int(time.time())
        clock = ctx.gateway.retrieve_test_clock(clock_id)
    except StripeNotFound:
        # A deleted clock (or customer) has no time of its own any more.
        return int(time.time())
    test_clocks.save_clock(ctx.session, clock["id"], frozen_time=int(clock["frozen_time"]), status=clock["status"])
    return int(clock["frozen_time"])
