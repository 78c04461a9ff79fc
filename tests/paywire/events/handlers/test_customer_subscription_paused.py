"""`customer.subscription.paused`: captured when a 14-day Advanced trial ended without a card
(Stripe's `missing_payment_method: pause`)."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling, plan_of


def test_a_trial_paused_for_want_of_a_card_grants_nothing_and_counts_as_had(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.paused")
    paused = fixture.held(Kind.SUBSCRIPTION)
    handling.link(paused["customer"])

    handling.handle(fixture.event)

    row = handling.subscription(fixture.object_id)
    assert plan_of(row) == ("paused", "advanced", "month", 1, "user_1")
    assert (row.trial_start, row.trial_end) == (paused["trial_start"], paused["trial_end"])
    end = f"trial_ended:{fixture.object_id}:{paused['trial_end']}"
    assert handling.facts() == [("trial_ended", end, "user_1")], "no access; the trial's end is told"
    assert handling.customer(paused["customer"]).trial_used, "one trial per user, ever"
