"""`customer.subscription.deleted`: captured when the Pro subscriber (5 seats) canceled at once.
Stripe keeps a canceled subscription retrievable, so the re-read mirrors it `canceled`."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling, plan_of


def test_the_cancellation_is_mirrored_and_told_once_however_often_it_arrives(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.deleted")
    canceled = fixture.held(Kind.SUBSCRIPTION)
    handling.link(canceled["customer"], "user_leaving")

    handling.handle(fixture.event)
    handling.handle(fixture.redelivered())

    row = handling.subscription(fixture.object_id)
    assert plan_of(row) == ("canceled", "pro", "month", 5, "user_leaving")
    assert row.ended_at is not None and row.ended_at == canceled["ended_at"]
    # A subscription paywire never saw active granted nothing here: no welcome, just the end.
    assert handling.facts() == [("subscription_canceled", f"subscription_canceled:{fixture.object_id}", "user_leaving")]
