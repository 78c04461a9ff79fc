"""Disputes watched: the deadline reminders, and the list the team works from.

A dispute waiting for evidence is reminded of 3 days and 1 day before its deadline
(`evidence_details.due_by`), while nothing was submitted: the fact
`dispute_reminder:<dispute>:<n>d` is recorded once the customer's time (a test clock's, in
test mode) reaches the moment, and the team's mail says how long is left. A check that finds
both moments passed (a deadline nearer than a day when first seen, a clock moved far) records
the nearer one only. Who checks: the worker, every `PAYWIRE_DISPUTE_WATCH_INTERVAL` seconds,
each dispute's own events, and a test clock's advance (its customers' disputes).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from paywire.db.models import Dispute
from paywire.db.repositories import disputes
from paywire.outbox import Fact, record

DAY = 86_400
REMINDER_DAYS = (3, 1)


def reminder_due(due_by: int | None, now: int) -> int | None:
    """The reminder due at `now` (days before the deadline), or None. Pure."""
    if not due_by or now >= due_by:
        return None
    passed = [days for days in REMINDER_DAYS if now >= due_by - days * DAY]
    return min(passed) if passed else None


def dispute_payload(dispute: Dispute) -> dict[str, Any]:
    return {
        "dispute_id": dispute.id,
        "charge_id": dispute.charge_id,
        "payment_id": dispute.payment_id,
        "user_id": dispute.user_id,
        "amount": dispute.amount,
        "currency": dispute.currency,
        "reason": dispute.reason,
        "status": dispute.status,
        "due_by": dispute.evidence_due_by,
    }


def reminder_fact(dispute: Dispute, now: int) -> Fact | None:
    """The reminder due for this dispute at `now` (its customer's time), if any."""
    if dispute.status not in disputes.AWAITING_EVIDENCE or dispute.submission_count:
        return None
    days = reminder_due(dispute.evidence_due_by, now)
    if days is None:
        return None
    payload = {**dispute_payload(dispute), "days_left": days}
    return Fact("dispute_reminder", f"dispute_reminder:{dispute.id}:{days}d", dispute.user_id, dispute.id, payload)


def reminder_facts(session: Session, *, clock_id: str | None = None, now: int | None = None) -> list[Fact]:
    """The reminders due now for every dispute waiting for evidence (`clock_id`: only those
    of that test clock's customers), each at its customer's time."""
    found = []
    real = int(time.time()) if now is None else now
    for dispute, frozen in disputes.awaiting_evidence(session, clock_id):
        fact = reminder_fact(dispute, frozen if frozen is not None else real)
        if fact is not None:
            found.append(fact)
    return found


def watch_deadlines(session: Session) -> list[str]:
    """Record the reminders due now, and commit; the keys recorded."""
    added = record(session, reminder_facts(session))
    session.commit()
    return added


def open_disputes(session: Session) -> list[dict[str, Any]]:
    """Open disputes, the soonest deadline first, as the admin API and page list them."""
    return [dispute_dict(d) for d in disputes.open_by_deadline(session)]


def dispute_dict(dispute: Dispute) -> dict[str, Any]:
    return {
        "id": dispute.id,
        "amount": dispute.amount,
        "currency": dispute.currency,
        "reason": dispute.reason,
        "network_reason_code": dispute.network_reason_code,
        "status": dispute.status,
        "due_by": dispute.evidence_due_by,
        "past_due": dispute.past_due,
        "has_evidence": dispute.has_evidence,
        "submission_count": dispute.submission_count,
        "charge": dispute.charge_id,
        "payment": dispute.payment_id,
        "user_id": dispute.user_id,
        "created": dispute.stripe_created,
        "closed_at": dispute.closed_at,
    }
