"""`customer.subscription.pending_update_applied`: captured when an upgrade from Basic to Pro that
waited for its payment (`pending_if_incomplete`) was paid with another card."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling, items_of, plan_of


def test_the_paid_upgrade_is_the_plan_the_price_says_not_the_metadata(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.pending_update_applied")
    upgraded = fixture.held(Kind.SUBSCRIPTION)
    handling.link(upgraded["customer"])

    handling.handle(fixture.event)

    assert upgraded["metadata"]["plan"] == "basic", "metadata from the first checkout, never updated"
    row = handling.subscription(fixture.object_id)
    assert plan_of(row) == ("active", "pro", "month", 1, "user_1")
    assert items_of(row) == [("pro_month", 1)]
    assert row.stripe_object["pending_update"] is None
