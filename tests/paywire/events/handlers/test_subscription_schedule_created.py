"""`subscription_schedule.created`: captured when a Pro subscription (two seats) got the schedule
paywire makes for a downgrade at the period end. The pending change shown by `GET /api/billing`
is read from this row."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_schedule_is_mirrored_beside_its_subscription(handling: Handling) -> None:
    fixture = handling.load("subscription_schedule.created")
    schedule = fixture.held(Kind.SUBSCRIPTION_SCHEDULE)

    [note] = handling.handle(fixture.event)

    row = handling.schedule(fixture.object_id)
    assert (row.status, row.end_behavior) == ("active", "release")
    assert (row.subscription_id, row.stripe_customer_id) == (schedule["subscription"], schedule["customer"])
    assert row.current_phase == schedule["current_phase"]
    assert note == f"{fixture.object_id} active"
