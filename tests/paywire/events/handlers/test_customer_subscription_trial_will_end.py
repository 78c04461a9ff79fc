"""`customer.subscription.trial_will_end`: captured three days before a 14-day Advanced trial
ends. The reminder is a fact only while Stripe still says `trialing`."""

from __future__ import annotations

from paywire.stripe import Kind
from tests.paywire.events.handlers.harness import Handling


def test_a_trial_ending_soon_is_a_reminder_keyed_by_its_end(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.trial_will_end")
    trialing = fixture.held(Kind.SUBSCRIPTION)
    handling.link(trialing["customer"], "user_trying")
    # The same subscription changed too: one group, one read, and the reminder's rule still runs.
    updated = {**fixture.redelivered(), "id": "evt_updated_meanwhile", "type": "customer.subscription.updated"}

    handling.handle(fixture.event, updated)

    assert handling.facts() == [
        ("access_granted", f"access_granted:{fixture.object_id}", "user_trying"),
        ("trial_will_end", f"trial_will_end:{fixture.object_id}:{trialing['trial_end']}", "user_trying"),
    ]
    assert handling.stripe.calls[("subscription", fixture.object_id)] == 1, "one read of the subscription"


def test_no_reminder_once_stripe_says_the_trial_is_over(handling: Handling) -> None:
    fixture = handling.load("customer.subscription.trial_will_end")
    handling.stripe.change(Kind.SUBSCRIPTION, fixture.object_id, status="active")  # a card was added, trial ended

    handling.handle(fixture.event)

    assert handling.fact_keys() == [f"access_granted:{fixture.object_id}"]
