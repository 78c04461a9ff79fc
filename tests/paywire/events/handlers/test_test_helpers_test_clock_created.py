"""`test_helpers.test_clock.created`: captured when a test clock was made at 2026-11-02 09:00 UTC."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_the_clock_is_mirrored_at_its_frozen_time(handling: Handling) -> None:
    fixture = handling.load("test_helpers.test_clock.created")

    [note] = handling.handle(fixture.event)

    row = handling.clock(fixture.object_id)
    assert (row.status, row.frozen_time) == ("ready", 1793610000)
    assert note == f"{fixture.object_id} ready at 1793610000"
