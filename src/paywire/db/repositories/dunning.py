"""Queries for `dunning_cases` (written only by `paywire.mirror.dunning`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from paywire.db.membership import among
from paywire.db.models import DunningCase, Invoice, utcnow
from paywire.db.upsert import insert_ignoring_duplicates


def find(session: Session, invoice_id: str) -> DunningCase | None:
    return session.get(DunningCase, invoice_id, populate_existing=True)


def open_cases(session: Session, invoice_ids: Collection[str]) -> dict[str, DunningCase]:
    """The open case of each of these invoices that has one, in one query."""
    if not invoice_ids:
        return {}
    query = select(DunningCase).where(
        among(session, DunningCase.invoice_id, sorted(invoice_ids)), DunningCase.outcome == "open"
    )
    return {case.invoice_id: case for case in session.scalars(query.execution_options(populate_existing=True))}


def open_case(
    session: Session,
    *,
    invoice_id: str,
    user_id: str | None,
    subscription_id: str | None,
    stripe_customer_id: str,
    amount: int,
    currency: str | None,
) -> DunningCase:
    """The invoice's case, opened now unless it exists (racing writers: the first insert wins)."""
    now = utcnow()
    row = {
        "invoice_id": invoice_id,
        "user_id": user_id,
        "subscription_id": subscription_id,
        "stripe_customer_id": stripe_customer_id,
        "amount": amount,
        "currency": currency,
        "failed_attempts": 0,
        "outcome": "open",
        "first_failed_at": now,
        "last_failed_at": now,
    }
    session.flush()
    insert_ignoring_duplicates(session, DunningCase, [row])
    case = find(session, invoice_id)
    assert case is not None
    return case


def note_failure(session: Session, invoice_id: str, *, attempt: int, next_attempt_at: int | None) -> bool:
    """A failed attempt later than any seen: True if it was new."""
    result = session.execute(
        update(DunningCase)
        .where(DunningCase.invoice_id == invoice_id, DunningCase.failed_attempts < attempt)
        .values(failed_attempts=attempt, next_attempt_at=next_attempt_at, last_failed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def close(
    session: Session,
    invoice_id: str,
    *,
    outcome: str,
    recovered_after_attempt: int | None = None,
    recovered_by: str | None = None,
) -> bool:
    """End an open case (recovered or lost); False if it was not open."""
    result = session.execute(
        update(DunningCase)
        .where(DunningCase.invoice_id == invoice_id, DunningCase.outcome == "open")
        .values(
            outcome=outcome,
            recovered_after_attempt=recovered_after_attempt,
            recovered_by=recovered_by,
            ended_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def totals(session: Session) -> dict[str, int]:
    """Every case by outcome (`open`, `recovered`, `lost`)."""
    rows = session.execute(select(DunningCase.outcome, func.count()).group_by(DunningCase.outcome)).all()
    return {outcome: int(count) for outcome, count in rows}


def recovered_by(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(DunningCase.recovered_by, func.count())
        .where(DunningCase.outcome == "recovered")
        .group_by(DunningCase.recovered_by)
    ).all()
    return {str(by): int(count) for by, count in rows}


def recovered_amounts(session: Session) -> dict[str, int]:
    """Recovered amounts by currency (smallest unit)."""
    rows = session.execute(
        select(DunningCase.currency, func.sum(DunningCase.amount))
        .where(DunningCase.outcome == "recovered")
        .group_by(DunningCase.currency)
    ).all()
    return {str(currency or ""): int(total or 0) for currency, total in rows}


def created_between(session: Session, start: int, end: int) -> Sequence[DunningCase]:
    """Cases whose invoice was created in [start, end) (Stripe's time, as the insights' windows)."""
    return session.scalars(
        select(DunningCase)
        .join(Invoice, Invoice.id == DunningCase.invoice_id)
        .where(Invoice.stripe_created >= start, Invoice.stripe_created < end)
    ).all()
