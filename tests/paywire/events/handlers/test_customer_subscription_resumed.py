"""`customer.subscription.resumed`: captured when the paused Advanced trial was resumed with a
card: a new paid cycle starts at the resumption."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling, plan_of


def test_the_resumed_subscription_grants_access_again_from_a_new_cycle(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.resumed")
    handling.link(fixture.held(Kind.SUBSCRIPTION)["customer"], "user_back")

    handling.handle(fixture.event)

    row = handling.subscription(fixture.object_id)
    assert plan_of(row) == ("active", "advanced", "month", 1, "user_back")
    assert row.trial_end is not None and row.current_period_start is not None
    assert row.current_period_start > row.trial_end, "the cycle restarted when it resumed"
    assert handling.fact_keys() == [f"access_granted:{fixture.object_id}"]
