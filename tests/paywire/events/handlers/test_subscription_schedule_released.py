"""`subscription_schedule.released`: captured when the downgrade schedule was released: the
subscription keeps its items, the later phase is gone."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_a_released_schedule_still_points_at_its_former_subscription(handling: Handling) -> None:
    fixture = handling.load("subscription_schedule.released")
    released = fixture.held(Kind.SUBSCRIPTION_SCHEDULE)

    handling.handle(fixture.event)

    assert released["subscription"] is None
    row = handling.schedule(fixture.object_id)
    assert (row.status, row.subscription_id) == ("released", released["released_subscription"])
    assert row.current_phase is None
