"""Queries for `test_clocks`: a test-mode customer's "now" is their clock's frozen time
(written only by `paywire.mirror`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from paywire.db.models import TestClock


def find(session: Session, clock_id: str) -> TestClock | None:
    return session.get(TestClock, clock_id)
