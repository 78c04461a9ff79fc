"""When a dispute's deadline reminders are due: 3 days and 1 day before `due_by`, the nearer one
only when both have passed, none once the deadline passed, when no response is possible or when
the evidence was submitted; the worker's watch records each once."""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paywire.billing.disputes import DAY, reminder_due, watch_deadlines
from paywire.db.models import OutboxFact
from paywire.mirror.disputes import Owner, write_dispute

DUE = 1_800_000_000


def test_reminders_come_3_days_and_1_day_before_the_deadline() -> None:
    assert reminder_due(DUE, DUE - 3 * DAY - 1) is None
    assert reminder_due(DUE, DUE - 3 * DAY) == 3
    assert reminder_due(DUE, DUE - DAY - 1) == 3
    assert reminder_due(DUE, DUE - DAY) == 1
    assert reminder_due(DUE, DUE - 1) == 1


def test_no_reminder_after_the_deadline_or_without_one() -> None:
    assert reminder_due(DUE, DUE) is None
    assert reminder_due(0, DUE) is None
    assert reminder_due(None, DUE) is None


def test_the_workers_watch_records_each_due_reminder_once(session: Session) -> None:
    now = int(time.time())
    for dispute_id, due_by, status in (
        ("dp_in_2_days", now + 2 * DAY, "needs_response"),
        ("dp_in_5_days", now + 5 * DAY, "needs_response"),
        ("dp_in_12_hours", now + DAY // 2, "warning_needs_response"),
        ("dp_submitted", now + DAY // 2, "under_review"),
        ("dp_no_response_possible", 0, "needs_response"),
    ):
        dispute = {
            "id": dispute_id,
            "charge": f"ch_{dispute_id}",
            "amount": 500,
            "currency": "usd",
            "reason": "fraudulent",
            "status": status,
            "created": now - DAY,
            "evidence_details": {"due_by": due_by, "submission_count": 1 if status == "under_review" else 0},
        }
        write_dispute(session, dispute, Owner("user_1", "cus_1", "in_1"), version=1)
    session.commit()

    first = watch_deadlines(session)
    again = watch_deadlines(session)

    assert sorted(first) == ["dispute_reminder:dp_in_12_hours:1d", "dispute_reminder:dp_in_2_days:3d"]
    assert again == []
    assert session.scalar(select(func.count()).select_from(OutboxFact)) == 2
