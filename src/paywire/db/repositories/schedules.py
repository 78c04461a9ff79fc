"""Queries for `subscription_schedules`: the mirror of Stripe's subscription schedules.

A downgrade waits for the period end in a schedule's next phase, so `GET /api/billing` reads
the pending change from here. Writes follow the subscriptions' version rule: a snapshot is
stored only if its read started no earlier than the stored one's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from paywire.db.models import SubscriptionSchedule, utcnow
from paywire.db.upsert import insert_ignoring_duplicates


def find(session: Session, schedule_id: str) -> SubscriptionSchedule | None:
    return session.get(SubscriptionSchedule, schedule_id)


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def schedule_row(stripe_schedule: dict[str, Any]) -> dict[str, Any]:
    """The columns, from the API shape. A released schedule names its former subscription
    in `released_subscription` only; the row keeps pointing at it."""
    sched = stripe_schedule
    return {
        "id": sched["id"],
        "subscription_id": _id(sched.get("subscription")) or _id(sched.get("released_subscription")),
        "stripe_customer_id": _id(sched.get("customer")),
        "status": sched.get("status") or "unknown",
        "end_behavior": sched.get("end_behavior"),
        "current_phase": sched.get("current_phase"),
        "phases": list(sched.get("phases") or []),
        "stripe_object": sched,
    }


def save_from_stripe(
    session: Session, stripe_schedule: dict[str, Any], *, stripe_version: int | None = None
) -> SubscriptionSchedule | None:
    """Insert or overwrite the mirror of one schedule; None when a newer read is stored."""
    values = schedule_row(stripe_schedule)
    values.update(stripe_version=stripe_version, synced_at=utcnow())
    # The API operation that made a schedule and the worker handling its webhook race to
    # create the row: the first insert wins, the other finds it below.
    insert_ignoring_duplicates(session, SubscriptionSchedule, [values])
    # A no-op UPDATE write-locks an existing row on both backends (see subscriptions.lock_for_update).
    session.execute(
        update(SubscriptionSchedule)
        .where(SubscriptionSchedule.id == values["id"])
        .values(stripe_version=SubscriptionSchedule.stripe_version)
        .execution_options(synchronize_session=False)
    )
    stored = session.execute(
        select(SubscriptionSchedule.stripe_version).where(SubscriptionSchedule.id == values["id"])
    ).first()
    if stored is not None and stored[0] is not None and stripe_version is not None and stored[0] > stripe_version:
        return None
    row = session.get(SubscriptionSchedule, values["id"])
    if row is None:
        row = SubscriptionSchedule(**values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    session.flush()
    return row
