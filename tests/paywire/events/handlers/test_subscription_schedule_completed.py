"""`subscription_schedule.completed`: captured when a schedule ending in `cancel` ran its last
phase (one seat of Basic after two of Pro) and ended its subscription."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_the_completed_schedule_is_mirrored_with_its_end(handling: Handling) -> None:
    fixture = handling.load("subscription_schedule.completed")

    handling.handle(fixture.event)

    row = handling.schedule(fixture.object_id)
    assert (row.status, row.end_behavior, row.current_phase) == ("completed", "cancel", None)
    assert row.stripe_object["completed_at"] == fixture.event["created"]
    assert handling.facts() == []
