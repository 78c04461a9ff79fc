"""`test_helpers.test_clock.advancing`: captured when a clock was advanced a day; handled late,
as a worker would, it finds the clock ready at its new time."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_mirror_moves_to_the_time_stripe_holds_not_the_event(handling: Handling) -> None:
    fixture = handling.load("test_helpers.test_clock.advancing")
    handling.store_newer(Kind.TEST_CLOCK, fixture.object)  # known before the advance

    handling.handle(fixture.event)

    assert fixture.object["status"] == "advancing"
    row = handling.clock(fixture.object_id)
    assert (row.status, row.frozen_time) == ("ready", fixture.object["frozen_time"] + 86400)
