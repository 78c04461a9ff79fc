"""`customer.subscription.created`: captured from a Pro checkout for 3 seats, whose event still
says `incomplete` while Stripe already holds the subscription `active`."""

from __future__ import annotations

from paywire.db.models import Subscription
from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling, items_of, plan_of


def test_the_subscription_is_mirrored_as_stripe_holds_it_now(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.created")
    handling.link(fixture.held(Kind.SUBSCRIPTION)["customer"])

    [note] = handling.handle(fixture.event)

    assert fixture.object["status"] == "incomplete", "the event's own snapshot is stale"
    row = handling.subscription(fixture.object_id)
    assert plan_of(row) == ("active", "pro", "month", 3, "user_1")
    assert items_of(row) == [("pro_month", 3)]
    assert handling.facts() == [("access_granted", f"access_granted:{fixture.object_id}", "user_1")]
    assert note == f"{fixture.object_id} active plan=pro/month"


def test_a_subscription_stripe_answers_404_for_is_done_and_mirrors_nothing(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.created")
    handling.stripe.forget(Kind.SUBSCRIPTION, fixture.object_id)

    # Returning (not raising) is what makes the worker mark the event processed, not retry it.
    [note] = handling.handle(fixture.event)

    assert note == f"{fixture.object_id} not found in Stripe: nothing to mirror"
    assert handling.mirrored(Subscription, fixture.object_id) is None, "the event's snapshot alone is never mirrored"
    assert handling.facts() == []
