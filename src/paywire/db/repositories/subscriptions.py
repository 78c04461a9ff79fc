"""Queries for `subscriptions` and `subscription_items`: the mirror of Stripe's subscriptions
(written only by `paywire.mirror`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from paywire.db.models import Subscription

# Statuses under which a subscription still exists for the customer: a new checkout
# would create a second one, so the user is sent to plan change or the portal instead.
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "paused")


def find(session: Session, subscription_id: str) -> Subscription | None:
    return session.get(Subscription, subscription_id)


def for_user(session: Session, user_id: str) -> Sequence[Subscription]:
    """All of a user's mirrored subscriptions, newest first."""
    return session.scalars(
        select(Subscription)
        .where(Subscription.user_id == user_id)
        .options(selectinload(Subscription.items))
        .order_by(Subscription.stripe_created.desc(), Subscription.id)
    ).all()


def live_for_user(session: Session, user_id: str) -> Sequence[Subscription]:
    return session.scalars(
        select(Subscription).where(Subscription.user_id == user_id, Subscription.status.in_(LIVE_STATUSES))
    ).all()


def had_trial(session: Session, user_id: str) -> bool:
    """Whether any mirrored subscription of the user ever had a trial."""
    found = session.scalar(
        select(Subscription.id).where(Subscription.user_id == user_id, Subscription.trial_start.is_not(None)).limit(1)
    )
    return found is not None
