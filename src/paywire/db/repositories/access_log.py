"""Queries for `access_log`: a user's sign-ins, uses of the product and checkouts, kept as
evidence that what they paid for was used."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paywire.db.models import AccessRecord, UsageRecord


def add(
    session: Session, *, user_id: str, kind: str, ip: str | None, user_agent: str | None, detail: str | None
) -> None:
    session.add(
        AccessRecord(
            user_id=user_id,
            kind=kind,
            ip=(ip or None) and str(ip)[:64],
            user_agent=(user_agent or None) and str(user_agent)[:300],
            detail=(detail or None) and str(detail)[:255],
        )
    )


def of_user(session: Session, user_id: str, *, limit: int = 50) -> Sequence[AccessRecord]:
    """The user's latest records, newest first."""
    return session.scalars(
        select(AccessRecord)
        .where(AccessRecord.user_id == user_id)
        .order_by(AccessRecord.at.desc(), AccessRecord.id.desc())
        .limit(limit)
    ).all()


def counts(session: Session, user_id: str) -> dict[str, int]:
    """How many records of each kind the user has."""
    rows = session.execute(
        select(AccessRecord.kind, func.count()).where(AccessRecord.user_id == user_id).group_by(AccessRecord.kind)
    ).all()
    return {str(kind): int(count) for kind, count in rows}


def checkout_origin(session: Session, checkout_session_id: str) -> AccessRecord | None:
    """Where the checkout that opened this session came from."""
    return session.scalar(
        select(AccessRecord)
        .where(AccessRecord.kind == "checkout", AccessRecord.detail == checkout_session_id)
        .order_by(AccessRecord.id)
        .limit(1)
    )


def usage_of(session: Session, user_id: str) -> list[tuple[str, int, int, int, int]]:
    """The product usage recorded for the user (`usage_events`), per meter: (meter, events,
    total value, first and last timestamp), canceled events left out."""
    rows = session.execute(
        select(
            UsageRecord.meter,
            func.count(),
            func.sum(UsageRecord.value),
            func.min(UsageRecord.timestamp),
            func.max(UsageRecord.timestamp),
        )
        .where(UsageRecord.user_id == user_id, UsageRecord.canceled_at.is_(None))
        .group_by(UsageRecord.meter)
        .order_by(UsageRecord.meter)
    ).all()
    return [(str(m), int(n), int(total or 0), int(first or 0), int(last or 0)) for m, n, total, first, last in rows]
