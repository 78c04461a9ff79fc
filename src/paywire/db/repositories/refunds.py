"""Queries for `refunds` (written only by `paywire.mirror.refunds`) and `refund_requests` (the
refunds paywire was asked for, each done once)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.db.models import Refund, RefundRequest, utcnow

# Refunds that took (or are taking) money back to the customer: a failed or canceled one did not.
COUNTED = ("pending", "requires_action", "succeeded")


def find(session: Session, refund_id: str) -> Refund | None:
    return session.get(Refund, refund_id)


def of_charges(session: Session, charge_ids: Iterable[str]) -> Sequence[Refund]:
    wanted = sorted(set(charge_ids))
    if not wanted:
        return []
    return session.scalars(
        select(Refund).where(Refund.charge_id.in_(wanted)).order_by(Refund.stripe_created, Refund.id)
    ).all()


def of_payments(session: Session, payment_ids: Iterable[str]) -> Sequence[Refund]:
    wanted = sorted(set(payment_ids))
    if not wanted:
        return []
    return session.scalars(
        select(Refund).where(Refund.payment_id.in_(wanted)).order_by(Refund.stripe_created, Refund.id)
    ).all()


def refunded(rows: Iterable[Refund]) -> int:
    """How much of a payment these refunds took back (failed and canceled ones did not)."""
    return sum(row.amount for row in rows if row.status in COUNTED)


def recent(session: Session, limit: int = 20) -> Sequence[Refund]:
    return session.scalars(select(Refund).order_by(Refund.stripe_created.desc(), Refund.id).limit(limit)).all()


def self_refunds_of(session: Session, user_id: str) -> Sequence[Refund]:
    """The refunds a customer asked for themselves (`self`), failed ones included."""
    return session.scalars(select(Refund).where(Refund.user_id == user_id, Refund.requested_by == "self")).all()


def open_request(
    session: Session, *, key: str, payment_id: str, requested_by: str, expires_at: datetime
) -> RefundRequest | None:
    """Take the request `key` for this caller: None if it is new (its row is written now and
    committed), else the row of the same request made before (an expired one is made anew)."""
    found = session.get(RefundRequest, key)
    if found is not None and found.expires_at > utcnow():
        return found
    if found is not None:
        session.execute(delete(RefundRequest).where(RefundRequest.key == key))
    session.add(RefundRequest(key=key, payment_id=payment_id, requested_by=requested_by, expires_at=expires_at))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # the same request, at the same moment: it is that one
        raced = session.get(RefundRequest, key)
        if raced is None:
            raise
        return raced
    return None


def finish_request(session: Session, key: str, answer: dict[str, Any]) -> None:
    session.execute(update(RefundRequest).where(RefundRequest.key == key).values(answer=answer))
    session.commit()


def drop_request(session: Session, key: str) -> None:
    """A request refused before anything was refunded: the same request may be made again."""
    session.rollback()
    session.execute(delete(RefundRequest).where(RefundRequest.key == key))
    session.commit()


def totals(session: Session) -> dict[str, int]:
    rows = session.execute(select(Refund.status, func.count()).group_by(Refund.status)).all()
    return {str(status): int(count) for status, count in rows}
