"""`subscription_schedule.expiring`: stripesim never sends it; the fixture is derived from
`subscription_schedule.updated` (see its `_derived_from`)."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_a_read_older_than_the_stored_one_leaves_the_schedule_as_stored(handling: Handling) -> None:
    fixture = handling.load("subscription_schedule.expiring")
    made_first = handling.read_ahead((Kind.SUBSCRIPTION_SCHEDULE, fixture.object_id))
    released = {**fixture.held(Kind.SUBSCRIPTION_SCHEDULE), "status": "released", "current_phase": None}
    handling.store_newer(Kind.SUBSCRIPTION_SCHEDULE, released)  # the user undid the downgrade meanwhile

    [note] = handling.handle(fixture.event, reads=made_first)

    assert note == f"{fixture.object_id} active kept: a newer read is stored"
    assert handling.schedule(fixture.object_id).status == "released"
