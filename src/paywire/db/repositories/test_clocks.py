"""Queries for `test_clocks`: a test-mode customer's "now" is their clock's frozen time."""

from __future__ import annotations

from sqlalchemy.orm import Session

from paywire.db.models import TestClock, utcnow


def find(session: Session, clock_id: str) -> TestClock | None:
    return session.get(TestClock, clock_id)


def save_clock(session: Session, clock_id: str, *, frozen_time: int, status: str) -> TestClock:
    """Insert or update. Clocks only move forward, so an older frozen time is ignored
    (events about a clock can arrive out of order)."""
    clock = session.get(TestClock, clock_id)
    if clock is None:
        clock = TestClock(id=clock_id, frozen_time=frozen_time, status=status)
        session.add(clock)
    elif frozen_time >= clock.frozen_time:
        clock.frozen_time = frozen_time
        clock.status = status
        clock.synced_at = utcnow()
    session.flush()
    return clock
