"""Test clocks in the mirror: a test-mode customer's "now" is their clock's frozen time.

Clocks only move forward, so an older frozen time is ignored (events about a clock can
arrive out of order, and a late one must not turn it back). Written in two statements that
racing writers (an API request and the worker) can both run: the first insert wins, and the
update only ever moves the clock forward.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from paywire.db.models import TestClock, utcnow
from paywire.db.repositories import entitlement_versions
from paywire.db.upsert import insert_ignoring_duplicates


def save(session: Session, clock: dict[str, Any]) -> TestClock:
    """Insert or move forward the clock `clock` (a Stripe test clock); the row as stored."""
    clock_id, frozen_time, status = str(clock["id"]), int(clock["frozen_time"]), str(clock["status"])
    session.flush()
    insert_ignoring_duplicates(session, TestClock, [{"id": clock_id, "frozen_time": frozen_time, "status": status}])
    session.execute(
        update(TestClock)
        .where(TestClock.id == clock_id, TestClock.frozen_time <= frozen_time)
        .values(frozen_time=frozen_time, status=status, synced_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    # The clock's time is its customers' now: their entitlement versions move at commit.
    entitlement_versions.bump(session, clock=clock_id)
    row = session.get(TestClock, clock_id, populate_existing=True)
    assert row is not None
    return row
