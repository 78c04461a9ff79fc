"""Subscription schedules in the mirror, where a change waiting for the period end (a
downgrade, also one made in the customer portal) lives, so `GET /api/billing` shows the
pending change whoever scheduled it. Same version rule as subscriptions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from paywire.db.models import SubscriptionSchedule, utcnow
from paywire.db.repositories import entitlement_versions
from paywire.mirror.context import MirrorContext
from paywire.mirror.rows import schedule_row
from paywire.mirror.write import write_versioned
from paywire.stripe import Kind, StripeNotFound


def refresh(ctx: MirrorContext, schedule_id: str) -> str:
    """Re-read a schedule (prices expanded, for the plan of each phase) and write it, unless
    a newer read is stored. A note for the log line."""
    try:
        snapshot = ctx.reads.read(Kind.SUBSCRIPTION_SCHEDULE, schedule_id)
    except StripeNotFound:
        return f"{schedule_id} not in Stripe"
    written = write(ctx.session, snapshot.obj, version=snapshot.version)
    return f"{schedule_id} {snapshot.obj.get('status')}" + ("" if written else " kept: a newer read is stored")


def write(session: Session, fresh: dict[str, Any], *, version: int) -> bool:
    """The row, under the version rule; True if written."""
    values = schedule_row(fresh)
    values.update(stripe_version=version, synced_at=utcnow())
    # A pending change of the subscription's user: their entitlement version moves at commit.
    entitlement_versions.bump(session, subscription=values["subscription_id"])
    return write_versioned(session, SubscriptionSchedule, values)
