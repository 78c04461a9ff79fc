from __future__ import annotations

from sqlalchemy.orm import Session

from paywire.db.repositories import test_clocks
from paywire.mirror import test_clocks as mirrored_clocks


def test_test_clock_only_moves_forward(session: Session) -> None:
    mirrored_clocks.save(session, {"id": "clock_1", "frozen_time": 2000, "status": "ready"})
    mirrored_clocks.save(session, {"id": "clock_1", "frozen_time": 1000, "status": "advancing"})
    session.commit()
    clock = test_clocks.find(session, "clock_1")
    assert clock is not None and clock.frozen_time == 2000 and clock.status == "ready"
