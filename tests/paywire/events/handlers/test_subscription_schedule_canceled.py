"""`subscription_schedule.canceled`: captured when a downgrade schedule was canceled, and its
subscription with it."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_the_canceled_schedule_waits_for_no_change_any_more(handling: Handling) -> None:
    fixture = handling.load("subscription_schedule.canceled")

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} canceled"
    row = handling.schedule(fixture.object_id)
    assert (row.status, row.current_phase) == ("canceled", None)
    assert row.stripe_object["canceled_at"] is not None
