"""`test_helpers.test_clock.ready`: captured when a clock finished moving a day forward. Clocks
only move forward in the mirror, so a late event cannot turn one back."""

from __future__ import annotations

from paywire.mirror.disputes import Owner, write_dispute
from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_the_clock_reaches_its_new_time(handling: Handling) -> None:
    fixture = handling.load("test_helpers.test_clock.ready")

    handling.handle(fixture.event)

    assert handling.clock(fixture.object_id).frozen_time == 1793610000 + 86400


def test_a_late_event_does_not_turn_the_clock_back(handling: Handling) -> None:
    fixture = handling.load("test_helpers.test_clock.ready")
    later = {**fixture.held(Kind.TEST_CLOCK), "frozen_time": 1793610000 + 30 * 86400}
    handling.store_newer(Kind.TEST_CLOCK, later)  # advanced again since, and already mirrored

    handling.handle(fixture.event)

    assert handling.clock(fixture.object_id).frozen_time == later["frozen_time"]


def test_a_dispute_of_the_clocks_customer_is_reminded_when_its_deadline_nears(handling: Handling) -> None:
    fixture = handling.load("test_helpers.test_clock.ready")
    moved_to = fixture.held(Kind.TEST_CLOCK)["frozen_time"]
    handling.link("cus_on_the_clock", "user_disputed", test_clock_id=fixture.object_id)
    for dispute_id, due_by in (("dp_in_2_days", moved_to + 2 * 86400), ("dp_in_5_days", moved_to + 5 * 86400)):
        dispute = {
            "id": dispute_id,
            "charge": "ch_disputed",
            "amount": 1000,
            "currency": "usd",
            "reason": "fraudulent",
            "status": "needs_response",
            "created": moved_to - 86400,
            "evidence_details": {"due_by": due_by, "has_evidence": False, "submission_count": 0},
        }
        write_dispute(handling.session, dispute, Owner("user_disputed", "cus_on_the_clock", "in_x"), version=1)
    handling.session.commit()

    [note] = handling.handle(fixture.event)

    assert handling.facts() == [("dispute_reminder", "dispute_reminder:dp_in_2_days:3d", "user_disputed")]
    assert note.endswith("; 1 dispute reminder(s)")
