"""`test_helpers.test_clock.deleted`: captured when a clock was deleted (with its customers);
Stripe answers 404 for it."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_a_deleted_clock_is_done_and_its_last_time_kept(handling: Handling) -> None:
    fixture = handling.load("test_helpers.test_clock.deleted")
    handling.store_newer(Kind.TEST_CLOCK, fixture.object)

    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} deleted"
    assert handling.clock(fixture.object_id).frozen_time == fixture.object["frozen_time"]
    assert handling.stripe.reads == 1
