"""Queries for `disputes` (written only by `paywire.mirror.disputes`) and `dispute_evidence`
(the evidence paywire drafted for each, owned by `paywire.billing.evidence`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paywire.db.models import Customer, Dispute, DisputeEvidence, TestClock

OPEN_STATUSES = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
AWAITING_EVIDENCE = ("warning_needs_response", "needs_response")


def find(session: Session, dispute_id: str) -> Dispute | None:
    return session.get(Dispute, dispute_id)


def open_by_deadline(session: Session) -> Sequence[Dispute]:
    """Open disputes, the soonest deadline first (those with none last)."""
    no_deadline = func.coalesce(func.nullif(Dispute.evidence_due_by, 0), 2**62)
    return session.scalars(
        select(Dispute).where(Dispute.status.in_(OPEN_STATUSES)).order_by(no_deadline, Dispute.id)
    ).all()


def of_payments(session: Session, payment_ids: list[str]) -> Sequence[Dispute]:
    if not payment_ids:
        return []
    return session.scalars(select(Dispute).where(Dispute.payment_id.in_(sorted(set(payment_ids))))).all()


def of_user(session: Session, user_id: str) -> Sequence[Dispute]:
    return session.scalars(select(Dispute).where(Dispute.user_id == user_id).order_by(Dispute.stripe_created)).all()


def awaiting_evidence(session: Session, clock_id: str | None = None) -> list[tuple[Dispute, int | None]]:
    """Open disputes nothing was submitted for yet, with a deadline, each with its customer's
    test clock time (None: real time); `clock_id`: only those of that clock's customers."""
    query = (
        select(Dispute, TestClock.frozen_time)
        .outerjoin(Customer, Customer.stripe_customer_id == Dispute.stripe_customer_id)
        .outerjoin(TestClock, TestClock.id == Customer.test_clock_id)
        .where(
            Dispute.status.in_(AWAITING_EVIDENCE),
            Dispute.submission_count == 0,
            Dispute.evidence_due_by > 0,
        )
    )
    if clock_id is not None:
        query = query.where(Customer.test_clock_id == clock_id)
    return [(dispute, frozen) for dispute, frozen in session.execute(query).all()]


def closed_between(session: Session, start: int, end: int) -> Sequence[Dispute]:
    return session.scalars(
        select(Dispute).where(Dispute.closed_at >= start, Dispute.closed_at < end).order_by(Dispute.closed_at)
    ).all()


def opened_between(session: Session, start: int, end: int) -> Sequence[Dispute]:
    return session.scalars(select(Dispute).where(Dispute.stripe_created >= start, Dispute.stripe_created < end)).all()


def evidence_of(session: Session, dispute_id: str) -> DisputeEvidence | None:
    return session.get(DisputeEvidence, dispute_id)


def closed_totals(session: Session) -> dict[str, int]:
    """Decided disputes by outcome (`won`, `lost`, `warning_closed`, …)."""
    rows = session.execute(
        select(Dispute.status, func.count()).where(Dispute.status.not_in(OPEN_STATUSES)).group_by(Dispute.status)
    ).all()
    return {str(status): int(count) for status, count in rows}


def lost_amounts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Dispute.currency, func.sum(Dispute.amount)).where(Dispute.status == "lost").group_by(Dispute.currency)
    ).all()
    return {str(currency): int(amount or 0) for currency, amount in rows}
