"""Everything the entitlement rules need to know about one user, read from the mirror at once.

A snapshot holds facts, not answers: the subscriptions (their lifecycle facts, and what waits
to happen to each: a schedule's next phase, an upgrade waiting for its payment), the paid
passes, and the test clock's frozen time. `paywire.billing.entitlements` decides from it at
call time with the pure rules, so whatever changes with time alone (a period end, the grace,
a trial end, a pass expiring, a scheduled downgrade, a pending payment lapsing, the clock's
time) is decided then, without a query: a cache can keep a snapshot until the user's version
moves forward (`paywire.billing.entitlement_cache`).

`read_snapshot` reads the user's version first, then the mirror rows: rows read afterwards are
at least as new as the version (under PostgreSQL's read committed, each statement sees every
commit before it; SQLite reads one transaction snapshot), so a snapshot is never older than
the version it carries.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.lifecycle import SubscriptionFacts
from paywire.billing.pending_changes import Items, PendingPayment, pending_payment_of
from paywire.db.models import Order, Subscription
from paywire.db.repositories import (
    customers,
    entitlement_versions,
    invoices,
    orders,
    schedules,
    subscriptions,
    test_clocks,
)

# Subscriptions whose schedule no longer waits to change anything (`pending_change_of`).
ENDED_STATUSES = ("canceled", "incomplete_expired")


@dataclass(frozen=True)
class PassFacts:
    product: str
    grants_plan: str | None
    access_starts_at: int | None
    access_ends_at: int | None


@dataclass(frozen=True)
class ScheduledPhases:
    """A subscription's live schedule as `pending_changes.pending_phase` reads it."""

    schedule_id: str
    schedule: dict[str, Any]  # {"status", "phases"}, Stripe's shape
    items_now: Items
    period_end: int | None


@dataclass(frozen=True)
class Waiting:
    """What waits to happen to one subscription: a change at the period end, an upgrade
    waiting for its payment (its lapse, `expires_at`, is decided at call time)."""

    phases: ScheduledPhases | None = None
    payment: PendingPayment | None = None


@dataclass(frozen=True)
class EntitlementSnapshot:
    user_id: str
    version: int  # the user's entitlement version when read; the rows are at least as new
    subscriptions: tuple[SubscriptionFacts, ...] = ()
    passes: tuple[PassFacts, ...] = ()
    waiting: Mapping[str, Waiting] = field(default_factory=dict)  # by subscription id
    test_clock_id: str | None = None
    clock_time: int | None = None  # the mirrored clock's frozen time

    @property
    def clock_missing(self) -> bool:
        """The customer lives on a test clock the mirror does not hold yet."""
        return self.test_clock_id is not None and self.clock_time is None

    def now(self) -> int:
        """The customer's time: their test clock's frozen time, else real time (as
        `paywire.billing.clock.customer_now`, without asking Stripe)."""
        return self.clock_time if self.clock_time is not None else int(time.time())


def subscription_facts(rows: Iterable[Subscription]) -> list[SubscriptionFacts]:
    return [
        SubscriptionFacts(
            status=row.status,
            plan=row.plan,
            quantity=row.quantity,
            current_period_end=row.current_period_end,
            cancel_at_period_end=row.cancel_at_period_end,
            cancel_at=row.cancel_at,
            created=row.stripe_created,
            id=row.id,
            collection_paused=bool(row.pause_collection),
        )
        for row in rows
    ]


def pass_facts(rows: Iterable[Order]) -> list[PassFacts]:
    return [
        PassFacts(
            product=row.product,
            grants_plan=row.grants_plan,
            access_starts_at=row.access_starts_at,
            access_ends_at=row.access_ends_at,
        )
        for row in rows
    ]


def read_snapshot(session: Session, user_id: str) -> EntitlementSnapshot:
    """The user's snapshot, from the mirror as `session` sees it."""
    version = entitlement_versions.version_of(session, user_id)
    customer = customers.find_by_user(session, user_id)
    clock_id = customer.test_clock_id if customer is not None and customer.test_clock_id else None
    clock = test_clocks.find(session, clock_id) if clock_id else None
    rows = subscriptions.for_user(session, user_id)
    waiting = {row.id: found for row in rows if (found := _waiting(session, row)) is not None}
    return EntitlementSnapshot(
        user_id=user_id,
        version=version,
        subscriptions=tuple(subscription_facts(rows)),
        passes=tuple(pass_facts(orders.paid_for_user(session, user_id))),
        waiting=waiting,
        test_clock_id=clock_id,
        clock_time=clock.frozen_time if clock is not None else None,
    )


def _waiting(session: Session, row: Subscription) -> Waiting | None:
    phases = None
    if row.schedule_id and row.status not in ENDED_STATUSES:
        schedule = schedules.find(session, row.schedule_id)
        if schedule is not None:
            items_now: Items = sorted((item.price_id, int(item.quantity or 1)) for item in row.items)
            as_stripe = {"status": schedule.status, "phases": schedule.phases}
            phases = ScheduledPhases(schedule.id, as_stripe, items_now, row.current_period_end)
    payment = None
    if isinstance((row.stripe_object or {}).get("pending_update"), dict):
        invoice = invoices.find(session, row.latest_invoice_id) if row.latest_invoice_id else None
        # At the dawn of time nothing has lapsed yet: the lapse is decided at call time.
        payment = pending_payment_of(row, invoice, now=0)
    if phases is None and payment is None:
        return None
    return Waiting(phases, payment)
