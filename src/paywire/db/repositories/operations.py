"""Queries for `subscription_operations`: the ledger of paywire's writes to a subscription."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paywire.db.models import SubscriptionOperation


def last_seq(session: Session, subscription_id: str) -> int:
    """The sequence number of the subscription's latest recorded operation (0: none yet)."""
    found = session.scalar(
        select(func.max(SubscriptionOperation.seq)).where(SubscriptionOperation.subscription_id == subscription_id)
    )
    return int(found or 0)


def add(session: Session, *, subscription_id: str, seq: int, operation: str, user_id: str | None) -> None:
    """Insert and flush; a racer that recorded the same `seq` first makes this raise `IntegrityError`."""
    session.add(SubscriptionOperation(subscription_id=subscription_id, seq=seq, operation=operation, user_id=user_id))
    session.flush()
