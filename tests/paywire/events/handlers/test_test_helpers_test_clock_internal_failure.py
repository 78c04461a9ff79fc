"""`test_helpers.test_clock.internal_failure`: stripesim's clocks never fail; the fixture is
derived from `test_helpers.test_clock.ready` (see its `_derived_from`)."""

from __future__ import annotations

from tests.paywire.events.handlers.harness import Handling


def test_the_failed_clock_is_mirrored_with_its_status(handling: Handling) -> None:
    fixture = handling.load("test_helpers.test_clock.internal_failure")

    [note] = handling.handle(fixture.event)

    row = handling.clock(fixture.object_id)
    assert (row.status, row.frozen_time) == ("internal_failure", 1793610000 + 86400)
    assert note.endswith("internal_failure at 1793696400")
