"""Queries for `subscription_schedules`: the mirror of Stripe's subscription schedules.

A downgrade waits for the period end in a schedule's next phase, so `GET /api/billing` reads
the pending change from here. Written only by `paywire.mirror`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from paywire.db.models import SubscriptionSchedule


def find(session: Session, schedule_id: str) -> SubscriptionSchedule | None:
    return session.get(SubscriptionSchedule, schedule_id)
